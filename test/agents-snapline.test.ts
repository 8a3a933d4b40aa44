/**
 * snapline installed into the real agent programs (pinned in test/helpers/agents.ts), driven
 * offline by the scripted model server: `snapline hooks install AGENT`, then two turns of the
 * report's workload (each turn the model runs one shell command rewriting the three generated
 * files and appending to src/main.txt). Checked: one snapline session for the agent's session,
 * two turns, each turn's summary equal to `git diff --no-renames --numstat` between that turn's
 * snapshots, and `session revert` of turn 2 puts all four files back as turn 1 left them —
 * including the big ones OpenCode's own snapshots leave out (over 2 MiB).
 *
 * Sizes: SNAPLINE_AGENT_REPORT_SCALE is the fraction of the report's sizes (128 MiB, 96 MiB,
 * 512 KiB); default 3/128 (3 MiB, 2.25 MiB, 12 KiB). `npm run bench -- agents` runs it full size.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { REPORT_FILES } from '../src/session/report.js';
import { runAgent, type AgentRun } from './helpers/agent-drivers.js';
import { agentBin, type AgentName } from './helpers/agents.js';
import { startModelServer, type ModelServer } from './helpers/model-server.js';
import { CLI } from './helpers/repo.js';
import { quietBackground } from './helpers/summarizers.js';

const TURN_SCRIPT = join(import.meta.dirname, '..', 'src', 'cli', 'demo-turn.js');
const SCALE = Number(process.env.SNAPLINE_AGENT_REPORT_SCALE ?? 3 / 128);
const SIZES = [Math.round(128 * 2 ** 20 * SCALE), Math.round(96 * 2 ** 20 * SCALE), Math.round(512 * 1024 * SCALE)];
const TURN_TIMEOUT_MS = 240_000;

interface Project {
  dir: string;
  home: string;
  env: NodeJS.ProcessEnv;
  snapline(...args: string[]): string;
  git(...args: string[]): string;
  cleanup(): void;
}

function project(agent: AgentName): Project {
  const root = mkdtempSync(join(tmpdir(), `snapline-e2e-${agent}-`));
  const dir = join(root, 'project');
  const home = join(root, 'snapline-home');
  mkdirSync(join(dir, 'src'), { recursive: true });
  const env = { ...process.env, SNAPLINE_HOME: home, SNAPLINE_CONFIG_CONTENT: '' };
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8', env: { ...env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' } });
  git('init', '-q');
  writeFileSync(join(dir, REPORT_FILES.main), 'hello\n');
  git('add', '.');
  git('commit', '-qm', 'init');
  const snapline = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, env, encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`snapline ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  const cleanup = () => {
    quietBackground(home);
    rmSync(root, { recursive: true, force: true });
  };
  return { dir, home, env, snapline, git, cleanup };
}

function fileHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of Object.values(REPORT_FILES)) out[f] = createHash('sha1').update(readFileSync(join(dir, f))).digest('hex');
  return out;
}

function explain(run: AgentRun, server: ModelServer, p: Project): string {
  let log = '';
  try {
    log = readFileSync(join(p.home, 'hooks.log'), 'utf8');
  } catch {
    log = '(no hooks.log)';
  }
  return `exit ${run.exit}${run.timedOut ? ' (timed out)' : ''} after ${run.durationMs} ms; requests ${server.requests.length}\nstdout: ${run.stdout.slice(-1500)}\nstderr: ${run.stderr.slice(-1500)}\nhooks.log:\n${log}`;
}

/** `git diff --no-renames --numstat` between two snapshot trees, from the shadow store (which sets a low bigFileThreshold for streaming: git's default is put back, so big text files are compared as text). */
function gitNumstat(p: Project, from: string, to: string): { file: string; additions: number; deletions: number }[] {
  const store = JSON.parse(p.snapline('snapshot', 'du', '--dir', p.dir, '--format', 'json')) as { store: string }[];
  const out = execFileSync('git', ['-c', 'core.bigFileThreshold=512m', '--git-dir', store[0]!.store, 'diff', '--no-renames', '--numstat', from, to], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [a, d, file] = l.split('\t');
      return { file: file!, additions: Number(a), deletions: Number(d) };
    })
    .sort((x, y) => x.file.localeCompare(y.file));
}

async function reportThroughAgent(agent: AgentName): Promise<AgentRun[]> {
  const p = project(agent);
  const server = await startModelServer();
  try {
    const installed = p.snapline('hooks', 'install', agent, '--dir', p.dir);
    assert.match(installed, /installed/);
    const command = (t: number) => `'${process.execPath}' '${TURN_SCRIPT}' ${t} ${SIZES.join(' ')}`;

    server.enqueue({ tool: 'bash', command: command(1) }, { text: 'Regenerated.' });
    const first = await runAgent(agent, { dir: p.dir, message: 'Regenerate the build files (turn 1).', serverUrl: server.url, env: { SNAPLINE_HOME: p.home }, timeoutMs: TURN_TIMEOUT_MS });
    assert.equal(first.exit, 0, explain(first, server, p));
    assert.ok(first.sessionId, explain(first, server, p));
    const afterTurn1 = fileHashes(p.dir);

    server.enqueue({ tool: 'bash', command: command(2) }, { text: 'Regenerated again.' });
    const second = await runAgent(agent, { dir: p.dir, message: 'Regenerate the build files (turn 2).', serverUrl: server.url, profile: first.profile, sessionId: first.sessionId, env: { SNAPLINE_HOME: p.home }, timeoutMs: TURN_TIMEOUT_MS });
    assert.equal(second.exit, 0, explain(second, server, p));
    assert.notDeepEqual(fileHashes(p.dir), afterTurn1, 'turn 2 rewrote the files');
    rmSync(first.profile, { recursive: true, force: true });

    // One snapline session for the agent's session, naming the agent.
    const sessions = JSON.parse(p.snapline('session', 'list', '--format', 'json')) as { id: string; agent?: { name: string; session?: string } }[];
    assert.equal(sessions.length, 1, explain(second, server, p));
    assert.deepEqual(sessions[0]!.agent, { name: agent, session: first.sessionId });
    const sid = sessions[0]!.id;

    const view = JSON.parse(p.snapline('session', 'show', sid, '--format', 'json')) as {
      messages: { id: string; data: { role: string; time: { completed?: number }; finish?: string; summary?: { diffs: { file: string; additions: number; deletions: number }[] } }; parts: { data: { type: string; snapshot?: string; text?: string } }[] }[];
    };
    const users = view.messages.filter((m) => m.data.role === 'user');
    assert.equal(users.length, 2, explain(second, server, p));
    // The user's words as the agent passed them on (`opencode run` quotes a message with spaces).
    for (const [i, u] of users.entries()) assert.match(u.parts.find((x) => x.data.type === 'text')?.data.text ?? '', new RegExp(`^"?Regenerate the build files \\(turn ${i + 1}\\)\\."?$`));
    const assistants = view.messages.filter((m) => m.data.role === 'assistant');
    for (const a of assistants) {
      assert.equal(a.data.finish, 'stop', 'each turn was ended by the agent, not closed as interrupted');
      assert.ok(a.data.time.completed);
    }
    for (const [i, u] of users.entries()) {
      const parts = assistants[i]!.parts.map((x) => x.data);
      const start = parts.find((x) => x.type === 'step-start')!.snapshot!;
      const end = parts.filter((x) => x.type === 'step-finish').at(-1)!.snapshot!;
      const listed = u.data.summary!.diffs.map((d) => ({ file: d.file, additions: d.additions, deletions: d.deletions })).sort((x, y) => x.file.localeCompare(y.file));
      assert.deepEqual(listed, gitNumstat(p, start, end), `turn ${i + 1}`);
      for (const f of Object.values(REPORT_FILES)) assert.ok(listed.some((d) => d.file === f && d.additions > 0), `turn ${i + 1} lists ${f}`);
    }

    // Undo turn 2: all four files as turn 1 left them, the big ones included.
    p.snapline('session', 'revert', sid, '--message', users[1]!.id);
    assert.deepEqual(fileHashes(p.dir), afterTurn1);
    // The begins were recorded in the background (the barrier before the tool waiting for them)
    // and the steps by the session's standby (started at the session's start, or by the begin's
    // recorder, which stays on as one: OpenCode's plugin has no session start); no end went to
    // a Node of its own.
    const log = readFileSync(join(p.home, 'hooks.log'), 'utf8');
    assert.match(log, new RegExp(`^\\S+ ${agent} [\\w.]+ \\(deferred by the step hook script, pid \\d+\\): begin ses_`, 'm'), log);
    assert.match(log, new RegExp(`^\\S+ ${agent} [\\w.]+ \\(standby pid \\d+\\): step ses_`, 'm'), log);
    assert.doesNotMatch(log, new RegExp(`^\\S+ ${agent} (Stop|AfterAgent|session\\.idle): end ses_`, 'm'), log);
    return [first, second];
  } finally {
    await server.close();
    p.cleanup();
  }
}

/** Why an agent cannot run here (its pinned package needs the npm registry once), if it cannot. */
function unavailable(agent: AgentName): string | undefined {
  if (process.env.SNAPLINE_SKIP_AGENT_TESTS === '1') return 'SNAPLINE_SKIP_AGENT_TESTS=1';
  try {
    agentBin(agent);
    return undefined;
  } catch (e) {
    return `${agent} is not installed and could not be installed: ${(e as Error).message.split('\n')[0]}`;
  }
}

const TITLES: Record<AgentName, string> = { claude: 'Claude Code', opencode: 'OpenCode (plugin)', codex: 'Codex CLI', gemini: 'Gemini CLI' };

describe('snapline installed into the real agents', { concurrency: true }, () => {
  for (const agent of ['claude', 'opencode', 'codex', 'gemini'] as const) {
    test(`${TITLES[agent]}: hooks install ${agent}; two turns of the report workload are one session, exact, and revert restores turn 1`, async (t) => {
      const skip = unavailable(agent);
      if (skip) return t.skip(skip);
      const runs = await reportThroughAgent(agent);
      runs.forEach((r, i) => t.diagnostic(`${agent} turn ${i + 1} with snapline: ${r.durationMs} ms`));
    });
  }
});
