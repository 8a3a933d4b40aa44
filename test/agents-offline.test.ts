/**
 * The real agent programs (OpenCode, Claude Code, Codex, Gemini CLI — pinned in
 * test/helpers/agents.ts) driven offline by the scripted model server: each runs a scripted shell
 * command in a scratch project, a second turn continues the same agent session, and the agents'
 * own hooks fire with the payloads snapline's `hook` adapters read. These tests document the real
 * behaviour the integrations are written against; see docs/agents-testing.md.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runAgent, writeJson, type AgentRun } from './helpers/agent-drivers.js';
import type { AgentName } from './helpers/agents.js';
import { startModelServer, type ModelServer } from './helpers/model-server.js';

const TURN_TIMEOUT_MS = 150_000;
const FIRST = "printf 'hi\\n' > out.txt";
const SECOND = "printf 'again\\n' >> out.txt";

/** A hook command that saves each event's stdin JSON as its own file in `dir`, in arrival order. */
function recordingHook(dir: string): string {
  return `cat > '${dir}'/$(date +%s%N)-$$.json`;
}

type HookEvent = Record<string, unknown>;

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
async function twoTurns(agent: AgentName, s: Scratch, server: ModelServer): Promise<[AgentRun, AgentRun]> {
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
  rmSync(first.profile, { recursive: true, force: true });
  return [first, second];
}

describe('real agents against the scripted model server', { concurrency: true }, () => {
  test('OpenCode: a scripted bash call writes a file; a second turn (--session) appends', async () => {
    const s = scratch('opencode');
    const server = await startModelServer();
    try {
      const [first] = await twoTurns('opencode', s, server);
      // OpenCode's json events name the tool and the command it ran.
      assert.match(first.stdout, /"tool":"bash"/);
      assert.match(first.stdout, /printf 'hi\\\\n' > out\.txt/);
      // Side requests (the session title) do not eat the script.
      assert.ok(server.requests.some((r) => r.protocol === 'openai-chat' && !r.agentic), 'a title request without tools');
    } finally {
      await server.close();
      s.cleanup();
    }
  });

  test('Claude Code: a scripted Bash call writes a file; --resume appends; hooks fire with their payloads', async () => {
    const s = scratch('claude');
    const server = await startModelServer();
    const hook = [{ type: 'command', command: recordingHook(s.hooks) }];
    writeJson(join(s.dir, '.claude', 'settings.json'), {
      hooks: {
        UserPromptSubmit: [{ hooks: hook }],
        PreToolUse: [{ matcher: 'Bash', hooks: hook }],
        PostToolUse: [{ matcher: 'Bash', hooks: hook }],
        Stop: [{ hooks: hook }],
      },
    });
    try {
      const [first, second] = await twoTurns('claude', s, server);
      const events = recordedEvents(s.hooks);
      const names = events.map((e) => e.hook_event_name);
      const turn = ['UserPromptSubmit', 'PreToolUse', 'PostToolUse', 'Stop'];
      assert.deepEqual(names, [...turn, ...turn], JSON.stringify(events, null, 1));
      for (const e of events) {
        assert.equal(e.session_id, first.sessionId);
        assert.equal(e.cwd, s.dir);
        assert.equal(typeof e.transcript_path, 'string');
      }
      assert.equal(second.sessionId, first.sessionId);
      const [prompt, pre, post, stop] = events;
      assert.equal(prompt.prompt, 'Create out.txt saying hi.');
      assert.equal(pre.tool_name, 'Bash');
      assert.deepEqual((pre.tool_input as HookEvent).command, FIRST);
      assert.equal(post.tool_name, 'Bash');
      assert.deepEqual((post.tool_input as HookEvent).command, FIRST);
      assert.ok(post.tool_response && typeof post.tool_response === 'object', 'PostToolUse carries tool_response');
      assert.equal(stop.stop_hook_active, false);
      assert.equal(events[4].prompt, 'Append again.');
    } finally {
      await server.close();
      s.cleanup();
    }
  });

  test('Codex: a scripted exec_command writes a file; exec resume appends; hooks fire with turn_id', async () => {
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
      const [first] = await twoTurns('codex', s, server);
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

  test('Gemini CLI: a scripted run_shell_command writes a file; --resume appends; hooks fire with their payloads', async () => {
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
      const [first] = await twoTurns('gemini', s, server);
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
