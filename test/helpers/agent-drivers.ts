/**
 * Drivers that run the real agent programs (see agents.ts) non-interactively against the scripted
 * model server (model-server.ts), each in an isolated profile: a directory that stands in for
 * HOME, the XDG dirs and CODEX_HOME, so an agent's sessions, settings and caches stay out of the
 * user's and another test's way. Running again with the same profile and the returned sessionId
 * continues the agent's session.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentBin, type AgentName } from './agents.js';

export interface RunAgentOptions {
  /** The project directory the agent works in. */
  dir: string;
  /** The user's message for this turn. */
  message: string;
  /** The scripted model server's base URL (`http://127.0.0.1:PORT`). */
  serverUrl: string;
  /** Profile directory (HOME etc.) to reuse; a new one is made when absent. */
  profile?: string;
  /** Continue this agent session (from an earlier result in the same profile). */
  sessionId?: string;
  /** Extra environment for the agent (wins over the driver's). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface AgentRun {
  /** Exit code, or null when killed (`signal` says by what). */
  exit: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** The agent's own session id, read from its output. */
  sessionId?: string;
  profile: string;
  /** Peak resident memory of the agent's process tree, sampled from /proc. */
  peakRssKiB?: number;
  durationMs: number;
}

/** A fresh profile directory with the per-user dirs every agent expects. */
export function makeProfile(): string {
  const profile = mkdtempSync(join(tmpdir(), 'snapline-agent-'));
  for (const d of ['home', 'data', 'config', 'cache', 'state', 'codex']) mkdirSync(join(profile, d), { recursive: true });
  return profile;
}

/** Environment shared by all agents: isolated per-user dirs, no telemetry, no self-update. */
function baseEnv(profile: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    NO_COLOR: '1',
    HOME: join(profile, 'home'),
    XDG_DATA_HOME: join(profile, 'data'),
    XDG_CONFIG_HOME: join(profile, 'config'),
    XDG_CACHE_HOME: join(profile, 'cache'),
    XDG_STATE_HOME: join(profile, 'state'),
    TMPDIR: process.env.TMPDIR ?? tmpdir(),
  };
}

interface Invocation {
  args: string[];
  env: Record<string, string>;
  /** Finds the agent's session id in its stdout. */
  sessionIdFrom: (stdout: string) => string | undefined;
}

/** The JSON objects an agent printed: one per line, or one pretty-printed document. */
function jsonLines(stdout: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  try {
    const whole: unknown = JSON.parse(stdout);
    if (typeof whole === 'object' && whole !== null && !Array.isArray(whole)) return [whole as Record<string, unknown>];
  } catch {
    // Not one document: JSON lines.
  }
  for (const line of stdout.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const v: unknown = JSON.parse(t);
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) out.push(v as Record<string, unknown>);
    } catch {
      // A log line that happens to start with a brace.
    }
  }
  return out;
}

function firstString(objects: Record<string, unknown>[], key: string): string | undefined {
  for (const o of objects) if (typeof o[key] === 'string') return o[key] as string;
  return undefined;
}

function opencode(o: RunAgentOptions, profile: string): Invocation {
  const config = {
    provider: { mock: { npm: '@ai-sdk/openai-compatible', name: 'Scripted', options: { baseURL: `${o.serverUrl}/v1`, apiKey: 'x' }, models: { m: { name: 'm', tool_call: true } } } },
    model: 'mock/m',
    small_model: 'mock/m',
    share: 'disabled',
    autoupdate: false,
  };
  return {
    args: ['run', '--dir', o.dir, '--format', 'json', ...(o.sessionId ? ['--session', o.sessionId] : []), o.message],
    env: {
      ...baseEnv(profile),
      OPENCODE_CONFIG_CONTENT: JSON.stringify(config),
      OPENCODE_PERMISSION: JSON.stringify({ bash: 'allow', edit: 'allow', read: 'allow', external_directory: 'allow' }),
      // Offline: no models.dev catalogue, no update check, no npm-installed default plugins.
      OPENCODE_DISABLE_MODELS_FETCH: '1',
      OPENCODE_DISABLE_AUTOUPDATE: '1',
      OPENCODE_DISABLE_DEFAULT_PLUGINS: '1',
      OPENCODE_DISABLE_SHARE: '1',
      OPENCODE_DISABLE_LSP_DOWNLOAD: '1',
    },
    sessionIdFrom: (stdout) => firstString(jsonLines(stdout), 'sessionID'),
  };
}

function claude(o: RunAgentOptions, profile: string): Invocation {
  return {
    // The message goes first: `--allowedTools` takes a list and would swallow it.
    args: ['-p', o.message, '--output-format', 'json', ...(o.sessionId ? ['--resume', o.sessionId] : []), '--allowedTools', 'Bash'],
    env: {
      ...baseEnv(profile),
      ANTHROPIC_BASE_URL: o.serverUrl,
      ANTHROPIC_API_KEY: 'x',
      CLAUDE_CONFIG_DIR: join(profile, 'home', '.claude'),
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
    },
    sessionIdFrom: (stdout) => firstString(jsonLines(stdout), 'session_id'),
  };
}

/** A TOML string literal (JSON's escaping is valid TOML for basic strings). */
const toml = (s: string): string => JSON.stringify(s);

function codex(o: RunAgentOptions, profile: string): Invocation {
  // Everything through -c overrides, so a profile needs no config file and the server may move.
  const config = [
    `model=${toml('m')}`,
    `model_provider=${toml('mock')}`,
    `model_providers.mock={ name = ${toml('Scripted')}, base_url = ${toml(`${o.serverUrl}/v1`)}, wire_api = ${toml('responses')}, env_key = ${toml('SCRIPTED_API_KEY')} }`,
    'check_for_update_on_startup=false',
    'features.hooks=true',
    // Project-local config (.codex/hooks.json) loads only in a trusted project.
    `projects={ ${toml(o.dir)} = { trust_level = "trusted" } }`,
  ].flatMap((c) => ['-c', c]);
  const common = ['--json', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox', '--dangerously-bypass-hook-trust', ...config];
  return {
    args: o.sessionId ? ['exec', 'resume', ...common, o.sessionId, o.message] : ['exec', ...common, '-C', o.dir, o.message],
    env: { ...baseEnv(profile), CODEX_HOME: join(profile, 'codex'), SCRIPTED_API_KEY: 'x' },
    sessionIdFrom: (stdout) => firstString(jsonLines(stdout), 'thread_id'),
  };
}

function gemini(o: RunAgentOptions, profile: string): Invocation {
  // Headless mode does not pick an auth method from the environment: the user settings name it.
  writeJson(join(profile, 'home', '.gemini', 'settings.json'), {
    security: { auth: { selectedType: 'gemini-api-key' } },
    privacy: { usageStatisticsEnabled: false },
    general: { disableAutoUpdate: true, disableUpdateNag: true },
  });
  return {
    args: ['-p', o.message, '--output-format', 'json', '--yolo', '-m', 'gemini-2.5-flash', ...(o.sessionId ? ['--resume', o.sessionId] : [])],
    env: {
      ...baseEnv(profile),
      GOOGLE_GEMINI_BASE_URL: o.serverUrl,
      GEMINI_API_KEY: 'x',
      // Trusted from the start, so the project's .gemini/settings.json (and its hooks) load.
      GEMINI_CLI_TRUST_WORKSPACE: 'true',
      GEMINI_CLI_NO_RELAUNCH: 'true',
    },
    sessionIdFrom: (stdout) => firstString(jsonLines(stdout), 'session_id'),
  };
}

const DRIVERS: Record<AgentName, (o: RunAgentOptions, profile: string) => Invocation> = {
  opencode,
  claude,
  codex,
  gemini,
};

/** Resident memory (KiB) of a process and all its descendants, from /proc; 0 once gone. */
function treeRssKiB(root: number): number {
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const e of entries) {
    const pid = Number(e);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, ...; rss (pages) is field 24.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(fields[1]);
      rss.set(pid, Number(fields[21]) * 4);
      const list = children.get(ppid) ?? [];
      list.push(pid);
      children.set(ppid, list);
    } catch {
      // The process ended while we looked.
    }
  }
  let total = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    total += rss.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** Runs one turn of a real agent against the scripted model server. */
export async function runAgent(name: AgentName, o: RunAgentOptions): Promise<AgentRun> {
  const profile = o.profile ?? makeProfile();
  const inv = DRIVERS[name](o, profile);
  const started = Date.now();
  const child = spawn(agentBin(name), inv.args, {
    cwd: o.dir,
    env: { ...inv.env, ...o.env },
    // stdin closed: `opencode run` and others read a piped stdin as part of the message.
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let peak = 0;
  const sampler = setInterval(() => {
    if (child.pid) peak = Math.max(peak, treeRssKiB(child.pid));
  }, 250);
  let timedOut = false;
  const killer = setTimeout(() => {
    timedOut = true;
    // The agent runs in its own process group: end it and whatever it started.
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  }, o.timeoutMs ?? 120_000);
  const [exit, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, sig) => resolve([code, sig]));
  });
  clearInterval(sampler);
  clearTimeout(killer);
  return { exit, signal, timedOut, stdout, stderr, sessionId: inv.sessionIdFrom(stdout) ?? o.sessionId, profile, peakRssKiB: peak || undefined, durationMs: Date.now() - started };
}

/** Writes a JSON file, making its directory. */
export function writeJson(path: string, value: unknown): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}
