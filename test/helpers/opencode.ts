/** The real `opencode` program with its state kept in a temporary directory. */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { agentBin } from './agents.js';

export interface OpenCodeHome {
  /** Environment for an `opencode` process: HOME and the XDG directories under `root`. */
  env: NodeJS.ProcessEnv;
  /** OpenCode's database in that environment. */
  database: string;
  /** Runs `opencode ARGS…` in `cwd`; throws with its output when it exits non-zero. */
  run(cwd: string, ...args: string[]): string;
}

export function openCodeHome(root: string): OpenCodeHome {
  const dirs = { HOME: 'home', XDG_DATA_HOME: 'data', XDG_CONFIG_HOME: 'config', XDG_CACHE_HOME: 'cache', XDG_STATE_HOME: 'state' };
  const env: NodeJS.ProcessEnv = { ...process.env, OPENCODE_DISABLE_AUTOUPDATE: '1', OPENCODE_DISABLE_MODELS_FETCH: '1' };
  for (const [k, d] of Object.entries(dirs)) {
    env[k] = join(root, d);
    mkdirSync(env[k]!, { recursive: true });
  }
  const bin = agentBin('opencode');
  return {
    env,
    database: join(root, 'data', 'opencode', 'opencode.db'),
    run(cwd, ...args) {
      const r = spawnSync(bin, args, { cwd, env, encoding: 'utf8', timeout: 180_000, maxBuffer: 1 << 26 });
      if (r.status !== 0) throw new Error(`opencode ${args.join(' ')} exited ${r.status}${r.signal ? ` (${r.signal})` : ''}:\n${r.stderr}\n${r.stdout}`);
      return r.stdout;
    },
  };
}
