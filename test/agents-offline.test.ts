/**
 * The real agent programs (OpenCode, Claude Code, Codex, Gemini CLI — pinned in
 * test/helpers/agents.ts) driven offline by the scripted model server: each runs a scripted shell
 * command in a scratch project, a second turn continues the same agent session, and the agents'
 * own hooks fire with the payloads snapline's `hook` adapters read. These tests document the real
 * behaviour the integrations are written against; see docs/agents-testing.md.
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { opencodeDatabase, runAgent, writeJson, type AgentRun } from './helpers/agent-drivers.js';
import { agentBin, type AgentName } from './helpers/agents.js';
import { startModelServer, type ModelServer } from './helpers/model-server.js';

const TURN_TIMEOUT_MS = 150_000;
const FIRST = "printf 'hi\\n' > out.txt";
const SECOND = "printf 'again\\n' >> out.txt";

/** A hook command that saves each event's stdin JSON as its own file in `dir`, in arrival order. */
function recordingHook(dir: string): string {
  return `cat > '${dir}'/$(date +%s%N)-$$.json`;
}

type HookEvent = Record<string, unknown>;

/**
 * An OpenCode plugin (plain JS: OpenCode loads `.opencode/plugin/*.js` without installing
 * anything) that appends what its hooks see to `log`, one JSON object a line.
 */
function recordingPlugin(log: string): string {
  return `import { appendFileSync } from 'node:fs';
const log = (kind, data) => appendFileSync(${JSON.stringify(log)}, JSON.stringify({ kind, ...data }) + '\\n');
export const RecordForTest = async () => ({
  event: async ({ event }) => log('event', { type: event.type, properties: event.properties }),
  'chat.message': async (input) => log('chat.message', { input }),
  'tool.execute.before': async (input, output) => log('tool.execute.before', { input, output }),
  'tool.execute.after': async (input, output) => log('tool.execute.after', { input, output }),
});
`;
}

function recordedEvents(dir: string): HookEvent[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort((a, b) => (BigInt(a.split('-')[0]) < BigInt(b.split('-')[0]) ? -1 : 1))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as HookEvent);
}

function explain(run: AgentRun, server: ModelServer): string {
  const requests = server.requests.map((r) => `${r.method} ${r.path} ${r.bodyBytes}B${r.agentic ? ' agentic' : ''}${r.reply ? ` -> ${JSON.stringify(r.reply)}` : ''}`);
  return `exit ${run.exit} signal ${run.signal}${run.timedOut ? ' (timed out)' : ''} after ${run.durationMs} ms\nrequests:\n  ${requests.join('\n  ')}\nstdout: ${run.stdout.slice(-2000)}\nstderr: ${run.stderr.slice(-2000)}`;
}

/**
 * Why an agent cannot run here, if it cannot: its pinned package is installed from the npm
 * registry on first use, which needs the network once. SNAPLINE_SKIP_AGENT_TESTS=1 skips them all.
 */
function unavailable(agent: AgentName): string | undefined {
  if (process.env.SNAPLINE_SKIP_AGENT_TESTS === '1') return 'SNAPLINE_SKIP_AGENT_TESTS=1';
  try {
    agentBin(agent);
    return undefined;
  } catch (e) {
    return `${agent} is not installed and could not be installed from the npm registry: ${(e as Error).message.split('\n')[0]}`;
  }
}

/** Reports a run's time and peak memory in the test output (the numbers the docs quote). */
function report(t: TestContext, agent: AgentName, runs: AgentRun[]): void {
  runs.forEach((r, i) => t.diagnostic(`${agent} turn ${i + 1}: ${r.durationMs} ms, peak RSS ${r.peakRssKiB === undefined ? '?' : Math.round(r.peakRssKiB / 1024)} MiB`));
}

interface Scratch {
  dir: string;
  hooks: string;
  cleanup(): void;
}

function scratch(agent: AgentName): Scratch {
  const root = mkdtempSync(join(tmpdir(), `snapline-${agent}-`));
  const dir = join(root, 'project');
  const hooks = join(root, 'hook-events');
  mkdirSync(dir);
  mkdirSync(hooks);
  return { dir, hooks, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/**
 * Two turns of one agent session: turn 1 writes out.txt with the shell tool, turn 2 (same
 * session) appends to it. Returns both runs for agent-specific checks.
 */
async function twoTurns(agent: AgentName, s: Scratch, server: ModelServer, opts: { keepProfile?: boolean } = {}): Promise<[AgentRun, AgentRun]> {
  server.enqueue({ tool: 'bash', command: FIRST }, { text: 'Wrote out.txt.' });
  const first = await runAgent(agent, { dir: s.dir, message: 'Create out.txt saying hi.', serverUrl: server.url, timeoutMs: TURN_TIMEOUT_MS });
  assert.equal(first.exit, 0, explain(first, server));
  assert.equal(readFileSync(join(s.dir, 'out.txt'), 'utf8'), 'hi\n', explain(first, server));
  assert.equal(server.remaining(), 0, 'the agent used the whole script');
  assert.ok(first.sessionId, `no session id in the agent's output\n${explain(first, server)}`);

  server.enqueue({ tool: 'bash', command: SECOND }, { text: 'Appended.' });
  const before = server.requests.length;
  const second = await runAgent(agent, { dir: s.dir, message: 'Append again.', serverUrl: server.url, profile: first.profile, sessionId: first.sessionId, timeoutMs: TURN_TIMEOUT_MS });
  assert.equal(second.exit, 0, explain(second, server));
  assert.equal(readFileSync(join(s.dir, 'out.txt'), 'utf8'), 'hi\nagain\n', explain(second, server));
  assert.equal(second.sessionId, first.sessionId, 'the second turn continued the same session');
  // The continued session sends the first turn's conversation back to the model.
  const continued = server.requests.slice(before).find((r) => r.agentic && r.body !== undefined);
  assert.ok(continued, 'the second turn asked the model with its tools');
  assert.match(JSON.stringify(continued.body), /Create out\.txt saying hi\./, 'the second turn carries the first turn');
  if (!opts.keepProfile) rmSync(first.profile, { recursive: true, force: true });
  return [first, second];
}

describe('real agents against the scripted model server', { concurrency: true }, () => {
  test('OpenCode: a scripted bash call writes a file; a second turn (--session) appends; a project plugin sees the events', async (t) => {
    const skip = unavailable('opencode');
    if (skip) return t.skip(skip);
    const s = scratch('opencode');
    const server = await startModelServer();
    const log = join(s.hooks, 'plugin.jsonl');
    mkdirSync(join(s.dir, '.opencode', 'plugin'), { recursive: true });
    writeFileSync(join(s.dir, '.opencode', 'plugin', 'record.js'), recordingPlugin(log));
    try {
      const [first, second] = await twoTurns('opencode', s, server, { keepProfile: true });
      report(t, 'opencode', [first, second]);
      // OpenCode's json events name the tool and the command it ran.
      assert.match(first.stdout, /"tool":"bash"/);
      // Side requests (the session title) do not eat the script.
      assert.ok(server.requests.some((r) => r.protocol === 'openai-chat' && !r.agentic), 'a title request without tools');

      const records = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as HookEvent);
      const sid = first.sessionId;
      const before = records.filter((r) => r.kind === 'tool.execute.before');
      const after = records.filter((r) => r.kind === 'tool.execute.after');
      assert.equal(before.length, 2);
      assert.equal(after.length, 2);
      assert.deepEqual(before[0].input, { tool: 'bash', sessionID: sid, callID: (before[0].input as HookEvent).callID });
      assert.deepEqual((before[0].output as HookEvent).args, { command: FIRST });
      assert.deepEqual((after[1].input as HookEvent).args, { command: SECOND });
      assert.equal(((after[0].output as HookEvent).metadata as HookEvent).exit, 0);
      const chat = records.filter((r) => r.kind === 'chat.message');
      assert.deepEqual(chat.map((r) => (r.input as HookEvent).sessionID), [sid, sid]);
      // A turn ends with session.idle (status busy -> idle) for the session.
      const idle = records.filter((r) => r.kind === 'event' && r.type === 'session.idle');
      assert.deepEqual(idle.map((r) => (r.properties as HookEvent).sessionID), [sid, sid]);
      assert.ok(records.some((r) => r.type === 'session.status' && ((r.properties as HookEvent).status as HookEvent).type === 'busy'));

      // The real OpenCode recorded the session in its own SQLite database.
      const db = new Database(opencodeDatabase(first.profile), { readonly: true });
      try {
        const session = db.prepare('SELECT id, directory FROM session').all() as { id: string; directory: string }[];
        assert.deepEqual(session, [{ id: sid, directory: s.dir }]);
        const messages = db.prepare('SELECT count(*) AS n FROM message WHERE session_id = ?').get(sid) as { n: number };
        assert.ok(messages.n >= 4, `two user messages and their answers, got ${messages.n}`);
      } finally {
        db.close();
      }
      rmSync(first.profile, { recursive: true, force: true });
    } finally {
      await server.close();
      s.cleanup();
    }
  });

  test('Claude Code: a scripted Bash call writes a file; --resume appends; hooks fire with their payloads', async (t) => {
    const skip = unavailable('claude');
    if (skip) return t.skip(skip);
    const s = scratch('claude');
    const server = await startModelServer();
    const hook = [{ type: 'command', command: recordingHook(s.hooks) }];
    writeJson(join(s.dir, '.claude', 'settings.json'), {
      hooks: {
        SessionStart: [{ hooks: hook }],
        UserPromptSubmit: [{ hooks: hook }],
        PreToolUse: [{ matcher: 'Bash', hooks: hook }],
        PostToolUse: [{ matcher: 'Bash', hooks: hook }],
        Stop: [{ hooks: hook }],
        SessionEnd: [{ hooks: hook }],
      },
    });
    try {
      const [first, second] = await twoTurns('claude', s, server);
      report(t, 'claude', [first, second]);
      const events = recordedEvents(s.hooks);
      const run = ['SessionStart', 'UserPromptSubmit', 'PreToolUse', 'PostToolUse', 'Stop', 'SessionEnd'];
      assert.deepEqual(
        events.map((e) => e.hook_event_name),
        [...run, ...run],
        JSON.stringify(events, null, 1),
      );
      for (const e of events) {
        assert.equal(e.session_id, first.sessionId);
        assert.equal(e.cwd, s.dir);
        assert.equal(typeof e.transcript_path, 'string');
      }
      assert.equal(second.sessionId, first.sessionId);
      const [start, prompt, pre, post, stop, end] = events;
      assert.deepEqual([start.source, events[6].source], ['startup', 'resume']);
      assert.equal(prompt.prompt, 'Create out.txt saying hi.');
      assert.equal(pre.tool_name, 'Bash');
      assert.deepEqual((pre.tool_input as HookEvent).command, FIRST);
      assert.equal(post.tool_name, 'Bash');
      assert.deepEqual((post.tool_input as HookEvent).command, FIRST);
      assert.equal(post.tool_use_id, pre.tool_use_id);
      assert.ok(post.tool_response && typeof post.tool_response === 'object', 'PostToolUse carries tool_response');
      assert.equal(stop.stop_hook_active, false);
      assert.equal(stop.last_assistant_message, 'Wrote out.txt.');
      assert.equal(typeof end.reason, 'string');
      assert.equal(events[7].prompt, 'Append again.');
      // prompt_id names the turn: the same on every event of one turn, new for the next.
      const promptIds = [prompt, pre, post, stop].map((e) => e.prompt_id);
      assert.equal(typeof promptIds[0], 'string');
      assert.equal(new Set(promptIds).size, 1);
      assert.notEqual(events[7].prompt_id, promptIds[0]);
    } finally {
      await server.close();
      s.cleanup();
    }
  });

  test('Codex: a scripted exec_command writes a file; exec resume appends; hooks fire with turn_id', async (t) => {
    const skip = unavailable('codex');
    if (skip) return t.skip(skip);
    const s = scratch('codex');
    const server = await startModelServer();
    const hook = [{ type: 'command', command: recordingHook(s.hooks) }];
    // Project hooks load in a trusted project (the driver trusts the dir) with the hooks feature on.
    writeJson(join(s.dir, '.codex', 'hooks.json'), {
      hooks: {
        SessionStart: [{ hooks: hook }],
        UserPromptSubmit: [{ hooks: hook }],
        PreToolUse: [{ matcher: 'Bash', hooks: hook }],
        PostToolUse: [{ matcher: 'Bash', hooks: hook }],
        Stop: [{ hooks: hook }],
      },
    });
    try {
      const [first, second] = await twoTurns('codex', s, server);
      report(t, 'codex', [first, second]);
      // The model is offered Codex's unified shell tool and answered with its `cmd` input.
      const offered = server.requests.filter((r) => r.agentic).map((r) => r.protocol);
      assert.ok(offered.length >= 4 && offered.every((p) => p === 'openai-responses'));
      const events = recordedEvents(s.hooks);
      const turn = ['UserPromptSubmit', 'PreToolUse', 'PostToolUse', 'Stop'];
      assert.deepEqual(
        events.map((e) => e.hook_event_name),
        ['SessionStart', ...turn, 'SessionStart', ...turn],
        JSON.stringify(events, null, 1),
      );
      for (const e of events) {
        assert.equal(e.session_id, first.sessionId);
        assert.equal(e.cwd, s.dir);
        assert.equal(typeof e.transcript_path, 'string');
      }
      assert.deepEqual(
        events.filter((e) => e.hook_event_name === 'SessionStart').map((e) => e.source),
        ['startup', 'resume'],
      );
      const [, prompt, pre, post, stop] = events;
      assert.equal(prompt.prompt, 'Create out.txt saying hi.');
      assert.equal(pre.tool_name, 'Bash');
      assert.deepEqual(pre.tool_input, { command: FIRST });
      assert.deepEqual(post.tool_input, { command: FIRST });
      assert.ok('tool_response' in post, 'PostToolUse carries tool_response');
      assert.equal(stop.stop_hook_active, false);
      assert.equal(stop.last_assistant_message, 'Wrote out.txt.');
      // One turn_id for every event of a turn; the second turn has its own.
      const turnIds = events.filter((e) => e.hook_event_name !== 'SessionStart').map((e) => e.turn_id);
      assert.equal(typeof turnIds[0], 'string');
      assert.equal(new Set(turnIds.slice(0, 4)).size, 1);
      assert.equal(new Set(turnIds.slice(4)).size, 1);
      assert.notEqual(turnIds[0], turnIds[4]);
    } finally {
      await server.close();
      s.cleanup();
    }
  });

  test('Gemini CLI: a scripted run_shell_command writes a file; --resume appends; hooks fire with their payloads', async (t) => {
    const skip = unavailable('gemini');
    if (skip) return t.skip(skip);
    const s = scratch('gemini');
    const server = await startModelServer();
    const hook = [{ type: 'command', command: recordingHook(s.hooks) }];
    writeJson(join(s.dir, '.gemini', 'settings.json'), {
      hooks: {
        SessionStart: [{ hooks: hook }],
        BeforeAgent: [{ hooks: hook }],
        BeforeTool: [{ matcher: 'run_shell_command', hooks: hook }],
        AfterTool: [{ matcher: 'run_shell_command', hooks: hook }],
        AfterAgent: [{ hooks: hook }],
        SessionEnd: [{ hooks: hook }],
      },
    });
    try {
      const [first, second] = await twoTurns('gemini', s, server);
      report(t, 'gemini', [first, second]);
      const events = recordedEvents(s.hooks);
      const run = ['SessionStart', 'BeforeAgent', 'BeforeTool', 'AfterTool', 'AfterAgent', 'SessionEnd'];
      assert.deepEqual(
        events.map((e) => e.hook_event_name),
        [...run, ...run],
        JSON.stringify(events, null, 1),
      );
      for (const e of events) {
        assert.equal(e.session_id, first.sessionId);
        assert.equal(e.cwd, s.dir);
        assert.equal(typeof e.transcript_path, 'string');
        assert.equal(typeof e.timestamp, 'string');
      }
      const [start, prompt, before, after, done] = events;
      assert.equal(start.source, 'startup');
      assert.equal(events[6].source, 'resume');
      assert.equal(prompt.prompt, 'Create out.txt saying hi.');
      assert.equal(before.tool_name, 'run_shell_command');
      assert.deepEqual(before.tool_input, { command: FIRST });
      assert.deepEqual(after.tool_input, { command: FIRST });
      assert.ok(after.tool_response && typeof after.tool_response === 'object', 'AfterTool carries tool_response');
      assert.equal(done.prompt, 'Create out.txt saying hi.');
      assert.equal(done.prompt_response, 'Wrote out.txt.');
      assert.equal(done.stop_hook_active, false);
    } finally {
      await server.close();
      s.cleanup();
    }
  });
});
