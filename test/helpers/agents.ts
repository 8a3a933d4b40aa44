/**
 * The real agent programs, pinned, installed from the npm registry into `.cache/agents/` (ignored)
 * the first time a test needs them. Concurrent test files wait for one another's install.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Pinned versions: the ones the agent tests were written against. */
export const AGENTS = {
  opencode: { pkg: 'opencode-ai', version: '1.18.33', bin: 'opencode' },
  claude: { pkg: '@anthropic-ai/claude-code', version: '2.1.197', bin: 'claude' },
  codex: { pkg: '@openai/codex', version: '0.169.0', bin: 'codex' },
  gemini: { pkg: '@google/gemini-cli', version: '0.61.0', bin: 'gemini' },
} as const;

export type AgentName = keyof typeof AGENTS;

const ROOT = join(import.meta.dirname, '..', '..', '..', '.cache', 'agents');

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Path of the agent's executable, installing the pinned package first if needed. */
export function agentBin(name: AgentName): string {
  const a = AGENTS[name];
  const prefix = join(ROOT, `${name}-${a.version}`);
  const bin = join(prefix, 'node_modules', '.bin', a.bin);
  const done = join(prefix, '.installed');
  if (existsSync(done)) return bin;
  mkdirSync(ROOT, { recursive: true });
  const lock = `${prefix}.lock`;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (existsSync(done)) return bin;
      // A lock older than 15 minutes belongs to an install that died.
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > 15 * 60_000) rmSync(lock, { recursive: true, force: true });
      else sleep(500);
    }
  }
  try {
    if (existsSync(done)) return bin;
    mkdirSync(prefix, { recursive: true });
    execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--no-package-lock', '--prefix', prefix, `${a.pkg}@${a.version}`], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 15 * 60_000 });
    if (!existsSync(bin)) throw new Error(`${a.pkg}@${a.version} installed without ${a.bin}`);
    writeFileSync(done, `${a.pkg}@${a.version}\n`);
    return bin;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
