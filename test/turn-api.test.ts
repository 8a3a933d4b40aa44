/** Turns opened, stepped and closed by separate processes (`snapline turn`), and `snapline hook` on the agents' event shapes. */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI } from './helpers/repo.js';
import { gitNumstat, oneLineError, sessionFixture } from './session-helpers.js';

type Fixture = ReturnType<typeof sessionFixture>;

interface PartRow {
  type: string;
  snapshot: string | null;
  tool: string | null;
}

function parts(f: Fixture, messageId: string): PartRow[] {
  return f.db<PartRow>(`SELECT json_extract(data, '$.type') AS type, json_extract(data, '$.snapshot') AS snapshot, json_extract(data, '$.tool') AS tool FROM part WHERE message_id = '${messageId}' ORDER BY id`);
}


function json<T>(text: string): T {
  return JSON.parse(text) as T;
}

/** Feeds one event to `snapline hook AGENT` the way an agent does. */
function hook(f: Fixture, agent: string, event: unknown, env: NodeJS.ProcessEnv = f.env) {
  const r = spawnSync(process.execPath, [CLI, 'hook', agent], { cwd: f.dir, env, input: typeof event === 'string' ? event : JSON.stringify(event), encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('turn begin, step and end from separate processes record one turn whose counts equal git numstat between its first and last snapshot', () => {
  const f = sessionFixture();
  try {
    writeFileSync(join(f.dir, 'a.txt'), 'one\ntwo\nthree\n');
    const begin = json<{ sessionID: string; messageID: string; assistantID: string; snapshot: string; created: boolean }>(f.ok('turn', 'begin', 'make', 'it', 'so', '--dir', f.dir, '--format', 'json'));
    assert.equal(begin.created, true);
    writeFileSync(join(f.dir, 'a.txt'), 'one\n2\nthree\nfour\n');
    const step1 = json<{ changed: boolean; snapshot: string }>(f.ok('turn', 'step', '--dir', f.dir, '--tool', 'Bash', '--input', JSON.stringify({ command: 'edit a.txt', description: 'x'.repeat(500) }), '--format', 'json'));
    assert.equal(step1.changed, true);
    const step2 = json<{ changed: boolean; snapshot: string }>(f.ok('turn', 'step', '--dir', f.dir, '--tool', 'Read', '--format', 'json'));
    assert.equal(step2.changed, false, 'nothing changed: no new step');
    assert.equal(step2.snapshot, step1.snapshot);
    writeFileSync(join(f.dir, 'b.txt'), 'new\n');
    const end = json<{ messageID: string; snapshot: string; summary: { diffs: { file: string; additions: number; deletions: number }[] } }>(f.ok('turn', 'end', '--dir', f.dir, '--format', 'json'));
    assert.equal(end.messageID, begin.messageID);

    assert.deepEqual(parts(f, begin.assistantID).map((p) => p.type), ['step-start', 'tool', 'step-finish', 'step-start', 'tool', 'step-finish', 'patch']);
    const snaps = parts(f, begin.assistantID).filter((p) => p.snapshot).map((p) => p.snapshot);
    assert.deepEqual(snaps, [begin.snapshot, step1.snapshot, step1.snapshot, end.snapshot]);
    const stored = f.db<{ summary: string }>(`SELECT json_extract(data, '$.summary') AS summary FROM message WHERE id = '${begin.messageID}'`)[0]!;
    const diffs = json<{ diffs: { file: string; additions: number; deletions: number }[] }>(stored.summary).diffs.map((d) => ({ file: d.file, additions: d.additions, deletions: d.deletions }));
    assert.deepEqual(diffs, gitNumstat(f, begin.snapshot, end.snapshot));
    assert.deepEqual(diffs.map((d) => d.file), ['a.txt', 'b.txt']);
    // The tool's input is a bounded preview.
    const input = json<Record<string, string>>(f.db<{ i: string }>(`SELECT json_extract(data, '$.state.input') AS i FROM part WHERE message_id = '${begin.assistantID}' AND json_extract(data, '$.tool') = 'Bash'`)[0]!.i);
    assert.equal(input.command, 'edit a.txt');
    assert.equal(input.description!.length, 200);
    // The text output names the turn and prints its stat.
    assert.match(f.ok('session', 'show', begin.sessionID), /tool Bash: edit a\.txt/);
  } finally {
    f.cleanup();
  }
});

test('one snapline session per agent session: begins with the same --agent-session continue it, another key starts its own', () => {
  const f = sessionFixture();
  try {
    const a1 = json<{ sessionID: string; created: boolean }>(f.ok('turn', 'begin', 'first', '--dir', f.dir, '--agent', 'claude', '--agent-session', 'abc', '--format', 'json'));
    f.ok('turn', 'end', '--agent', 'claude', '--agent-session', 'abc');
    const other = json<{ sessionID: string; created: boolean }>(f.ok('turn', 'begin', 'elsewhere', '--dir', f.dir, '--agent', 'claude', '--agent-session', 'xyz', '--format', 'json'));
    f.ok('turn', 'end', '--agent', 'claude', '--agent-session', 'xyz');
    const a2 = json<{ sessionID: string; created: boolean }>(f.ok('turn', 'begin', 'second', '--dir', f.dir, '--agent', 'claude', '--agent-session', 'abc', '--format', 'json'));
    f.ok('turn', 'end', '--agent', 'claude', '--agent-session', 'abc');
    const sameKeyOtherAgent = json<{ sessionID: string }>(f.ok('turn', 'begin', 'x', '--dir', f.dir, '--agent', 'codex', '--agent-session', 'abc', '--format', 'json'));
    assert.equal(a1.created, true);
    assert.equal(a2.created, false);
    assert.equal(a2.sessionID, a1.sessionID);
    assert.notEqual(other.sessionID, a1.sessionID);
    assert.notEqual(sameKeyOtherAgent.sessionID, a1.sessionID);
    const rows = f.db<{ id: string; agent: string; agent_session: string; n: number }>(`SELECT id, agent, agent_session, (SELECT COUNT(*) FROM message m WHERE m.session_id = s.id AND json_extract(m.data, '$.role') = 'user') AS n FROM session s ORDER BY agent, agent_session`);
    assert.deepEqual(rows.map((r) => [r.agent, r.agent_session, r.n]), [['claude', 'abc', 2], ['claude', 'xyz', 1], ['codex', 'abc', 1]]);
    assert.match(f.ok('session', 'list'), /\[claude\]/);
  } finally {
    f.cleanup();
  }
});

test('a turn left open (its agent crashed) is closed as interrupted by the next begin, with an end snapshot and its summary', () => {
  const f = sessionFixture();
  try {
    writeFileSync(join(f.dir, 'a.txt'), 'a\n');
    const crashed = json<{ sessionID: string; messageID: string; assistantID: string; snapshot: string }>(f.ok('turn', 'begin', 'doomed', '--dir', f.dir, '--agent-session', 'k', '--format', 'json'));
    appendFileSync(join(f.dir, 'a.txt'), 'b\nc\n');
    // No 'turn end': the agent died. The next prompt of the same agent session:
    const next = json<{ sessionID: string; interrupted: string[] }>(f.ok('turn', 'begin', 'again', '--dir', f.dir, '--agent-session', 'k', '--format', 'json'));
    assert.equal(next.sessionID, crashed.sessionID);
    assert.deepEqual(next.interrupted, [crashed.messageID]);
    const a = json<{ finish: string; error: { name: string }; time: { completed?: number } }>(f.db<{ data: string }>(`SELECT data FROM message WHERE id = '${crashed.assistantID}'`)[0]!.data);
    assert.equal(a.finish, 'error');
    assert.equal(a.error.name, 'interrupted');
    assert.ok(a.time.completed);
    const closing = parts(f, crashed.assistantID);
    assert.deepEqual(closing.map((p) => p.type), ['step-start', 'step-finish', 'patch']);
    assert.deepEqual(gitNumstat(f, crashed.snapshot, closing[1]!.snapshot!), [{ file: 'a.txt', additions: 2, deletions: 0 }]);
    const summary = json<{ total: { additions: number } }>(f.db<{ s: string }>(`SELECT json_extract(data, '$.summary') AS s FROM message WHERE id = '${crashed.messageID}'`)[0]!.s);
    assert.equal(summary.total.additions, 2);
  } finally {
    f.cleanup();
  }
});

test('an open turn holds its session across processes; another machine cannot begin, step, end, hook or revert it until it ends or sits idle an hour', () => {
  const f = sessionFixture();
  try {
    type Mark = { busy_pid: number | null; busy_host: string | null; busy_turn: string | null };
    const mark = (sid: string) => f.db<Mark>(`SELECT busy_pid, busy_host, busy_turn FROM session WHERE id = '${sid}'`)[0]!;
    const userTurns = () => f.db<{ n: number }>("SELECT COUNT(*) AS n FROM message WHERE json_extract(data, '$.role') = 'user'")[0]!.n;
    writeFileSync(join(f.dir, 'a.txt'), 'a\n');
    const begin = json<{ sessionID: string; assistantID: string }>(f.ok('turn', 'begin', 'first', '--dir', f.dir, '--agent', 'claude', '--agent-session', 'k', '--format', 'json'));
    const sid = begin.sessionID;
    // The mark is the open turn's, not the exited begin process's: a writer opening the database
    // (which marks dead processes' turns interrupted) leaves it, and the step goes on.
    f.ok('session', 'list');
    assert.deepEqual({ ...mark(sid), busy_pid: 0 }, { busy_pid: 0, busy_host: hostname(), busy_turn: begin.assistantID });
    assert.match(f.ok('session', 'list'), /\[running\]/);
    appendFileSync(join(f.dir, 'a.txt'), 'b\n');
    f.ok('turn', 'step', '--agent', 'claude', '--agent-session', 'k', '--tool', 'Bash');
    assert.equal(mark(sid).busy_turn, begin.assistantID);
    f.ok('turn', 'end', '--agent', 'claude', '--agent-session', 'k');
    assert.deepEqual(mark(sid), { busy_pid: null, busy_host: null, busy_turn: null });

    // The next turn is opened on another machine sharing the database (its host name written in).
    const there = json<{ assistantID: string }>(f.ok('turn', 'begin', 'second', '--agent', 'claude', '--agent-session', 'k', '--format', 'json'));
    f.ok('db', '--write', `UPDATE session SET busy_host = 'build-box-2' WHERE id = '${sid}'`);
    const before = userTurns();
    const busy = new RegExp(`session ${sid} is running a turn on build-box-2 \\(pid \\d+\\)`);
    for (const args of [['turn', 'begin', 'third', '--agent', 'claude', '--agent-session', 'k'], ['turn', 'step', '--session', sid], ['turn', 'end', '--session', sid], ['session', 'revert', sid, '--message', '1']]) {
      assert.match(oneLineError(f.cli(...args)), busy, args.join(' '));
    }
    const hooked = hook(f, 'claude', { session_id: 'k', cwd: f.dir, hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'true' } });
    assert.equal(hooked.status, 0);
    assert.match(hooked.stderr, busy);
    assert.equal(hooked.stderr.trim().split('\n').length, 1);
    assert.equal(userTurns(), before, 'nothing recorded while the other machine holds the session');
    assert.deepEqual({ ...mark(sid), busy_pid: 0 }, { busy_pid: 0, busy_host: 'build-box-2', busy_turn: there.assistantID });

    // An hour without a call there: the next begin here takes the session over, that turn interrupted.
    f.ok('db', '--write', `UPDATE session SET time_updated = time_updated - 3600001 WHERE id = '${sid}'`);
    assert.doesNotMatch(f.ok('session', 'list'), /\[running\]/);
    const taken = json<{ assistantID: string }>(f.ok('turn', 'begin', 'third', '--agent', 'claude', '--agent-session', 'k', '--format', 'json'));
    const left = json<{ finish: string; error: { name: string; message: string } }>(f.db<{ data: string }>(`SELECT data FROM message WHERE id = '${there.assistantID}'`)[0]!.data);
    assert.equal(left.finish, 'error');
    assert.equal(left.error.name, 'interrupted');
    assert.match(left.error.message, /left open on build-box-2/);
    assert.deepEqual({ ...mark(sid), busy_pid: 0 }, { busy_pid: 0, busy_host: hostname(), busy_turn: taken.assistantID });
    f.ok('turn', 'end', '--session', sid);
  } finally {
    f.cleanup();
  }
});

test('turn step/end with no open turn, bad --input, and two targets are refused with one line', () => {
  const f = sessionFixture();
  try {
    assert.match(oneLineError(f.cli('turn', 'step', '--dir', f.dir)), /no open turn/);
    f.ok('turn', 'begin', 'x', '--dir', f.dir);
    f.ok('turn', 'end', '--dir', f.dir);
    assert.match(oneLineError(f.cli('turn', 'end', '--dir', f.dir)), /no open turn/);
    assert.match(oneLineError(f.cli('turn', 'step', '--dir', f.dir, '--tool', 'Bash', '--input', '{nope')), /--input must be JSON/);
    assert.match(oneLineError(f.cli('turn', 'begin', 'x', '--session', 'ses_x', '--agent-session', 'k')), /only one of --session, --agent-session/);
    assert.match(oneLineError(f.cli('turn', 'end', 'extra words')), /takes no message/);
    assert.match(oneLineError(f.cli('turn', 'frob')), /unknown turn subcommand/);
  } finally {
    f.cleanup();
  }
});

test("run --agent (the old name of --agent-cmd) still works and says it is deprecated", () => {
  const f = sessionFixture();
  try {
    const r = f.cli('run', 'hi', '--dir', f.dir, '--agent', 'echo');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /'run --agent CMD' is now 'run --agent-cmd CMD'/);
    const ok = f.cli('run', 'hi', '--dir', f.dir, '--agent-cmd', 'echo');
    assert.equal(ok.status, 0);
    assert.equal(ok.stderr, '');
  } finally {
    f.cleanup();
  }
});

test('hook claude maps the events (Claude Code payload shapes): prompt → begin, PostToolUse → step, Stop → end; Stop with stop_hook_active is ignored; SessionEnd closes what is open', () => {
  const f = sessionFixture();
  try {
    const base = { session_id: 'c1', transcript_path: '/tmp/t.jsonl', cwd: f.dir, permission_mode: 'default' };
    const quiet = (r: { status: number | null; stdout: string; stderr: string }) => {
      assert.equal(r.status, 0);
      assert.equal(r.stdout, '', 'a hook prints nothing on stdout (agents read it)');
      assert.equal(r.stderr, '');
    };
    quiet(hook(f, 'claude', { ...base, hook_event_name: 'UserPromptSubmit', prompt: 'write x' }));
    writeFileSync(join(f.dir, 'x.txt'), 'x\n');
    quiet(hook(f, 'claude', { ...base, hook_event_name: 'PostToolUse', tool_name: 'Write', tool_input: { file_path: join(f.dir, 'x.txt'), content: 'x\n' }, tool_response: { success: true } }));
    quiet(hook(f, 'claude', { ...base, hook_event_name: 'Stop', stop_hook_active: true }));
    const open = f.db<{ n: number }>("SELECT COUNT(*) AS n FROM message WHERE json_extract(data, '$.role') = 'assistant' AND json_extract(data, '$.time.completed') IS NULL")[0]!.n;
    assert.equal(open, 1, 'a Stop with stop_hook_active leaves the turn open');
    quiet(hook(f, 'claude', { ...base, hook_event_name: 'Stop', stop_hook_active: false }));
    quiet(hook(f, 'claude', { ...base, hook_event_name: 'SessionEnd', reason: 'exit' }));
    // A second prompt, then the session ends without a Stop: SessionEnd closes the turn.
    quiet(hook(f, 'claude', { ...base, hook_event_name: 'UserPromptSubmit', prompt: 'more' }));
    appendFileSync(join(f.dir, 'x.txt'), 'y\n');
    quiet(hook(f, 'claude', { ...base, hook_event_name: 'SessionEnd', reason: 'other' }));
    const turns = f.db<{ prompt: string; files: number; finish: string }>(
      `SELECT (SELECT json_extract(p.data, '$.text') FROM part p WHERE p.message_id = u.id) AS prompt, CAST(json_extract(u.data, '$.summary.total.files') AS INTEGER) AS files,
              (SELECT json_extract(a.data, '$.finish') FROM message a WHERE json_extract(a.data, '$.parentID') = u.id) AS finish
       FROM message u WHERE json_extract(u.data, '$.role') = 'user' ORDER BY u.id`,
    );
    assert.deepEqual(turns, [{ prompt: 'write x', files: 1, finish: 'stop' }, { prompt: 'more', files: 1, finish: 'stop' }]);
    const sessions = f.db<{ agent: string; agent_session: string }>('SELECT agent, agent_session FROM session');
    assert.deepEqual(sessions, [{ agent: 'claude', agent_session: 'c1' }]);
  } finally {
    f.cleanup();
  }
});

test('hook codex and hook gemini map their own event names', () => {
  const f = sessionFixture();
  try {
    const codex = { session_id: 'x1', turn_id: 't1', cwd: f.dir, model: 'm' };
    hook(f, 'codex', { ...codex, hook_event_name: 'UserPromptSubmit', prompt: 'codex turn' });
    writeFileSync(join(f.dir, 'c.txt'), 'c\n');
    hook(f, 'codex', { ...codex, hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'echo c > c.txt' } });
    hook(f, 'codex', { ...codex, hook_event_name: 'Stop', stop_hook_active: false, last_assistant_message: 'done' });
    const gemini = { session_id: 'g1', transcript_path: '/tmp/g', cwd: f.dir, timestamp: '2026-01-01T00:00:00Z' };
    hook(f, 'gemini', { ...gemini, hook_event_name: 'BeforeAgent', prompt: 'gemini turn' });
    writeFileSync(join(f.dir, 'g.txt'), 'g\n');
    hook(f, 'gemini', { ...gemini, hook_event_name: 'AfterTool', tool_name: 'write_file', tool_input: { file_path: 'g.txt', content: 'g\n' } });
    hook(f, 'gemini', { ...gemini, hook_event_name: 'AfterAgent', prompt: 'gemini turn', prompt_response: 'ok', stop_hook_active: false });
    const rows = f.db<{ agent: string; files: string }>(
      `SELECT s.agent AS agent, json_extract(u.data, '$.summary.diffs') AS files FROM session s JOIN message u ON u.session_id = s.id AND json_extract(u.data, '$.role') = 'user' ORDER BY s.agent`,
    );
    assert.deepEqual(rows.map((r) => [r.agent, json<{ file: string }[]>(r.files).map((d) => d.file)]), [['codex', ['c.txt']], ['gemini', ['g.txt']]]);
  } finally {
    f.cleanup();
  }
});

test('a hook never breaks its agent: bad input, unknown agents and problems exit 0 with one stderr line and a line in hooks.log', () => {
  const f = sessionFixture();
  try {
    const cases: [string, string, RegExp][] = [
      ['claude', '{not json', /not JSON/],
      ['claude', '[1,2]', /not a JSON object/],
      ['nosuch', '{}', /unknown agent 'nosuch'/],
      ['claude', JSON.stringify({ hook_event_name: 'UserPromptSubmit', session_id: 's', cwd: join(f.dir, 'missing'), prompt: 'x' }), /no such directory|does not exist|not found/i],
    ];
    for (const [agent, input, re] of cases) {
      const r = hook(f, agent, input);
      assert.equal(r.status, 0, `${agent} ${input}`);
      assert.equal(r.stdout, '');
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, re);
    }
    const log = readFileSync(join(f.home, 'hooks.log'), 'utf8');
    assert.match(log, /claude \?: the event on stdin is not JSON/);
    // A step for an agent session snapline never saw (hooks installed mid-session) is logged, not an error.
    const r = hook(f, 'claude', { hook_event_name: 'PostToolUse', session_id: 'unseen', cwd: f.dir, tool_name: 'Bash', tool_input: {} });
    assert.deepEqual([r.status, r.stderr], [0, '']);
    assert.match(readFileSync(join(f.home, 'hooks.log'), 'utf8'), /nothing to record: no open turn/);
  } finally {
    f.cleanup();
  }
});

test('an event larger than 1 MiB (a Write of a big file) is read in bounded memory and still mapped', () => {
  const f = sessionFixture();
  try {
    hook(f, 'claude', { hook_event_name: 'UserPromptSubmit', session_id: 'big', cwd: f.dir, prompt: 'write big' });
    writeFileSync(join(f.dir, 'big.txt'), 'z\n'.repeat(1 << 20));
    const r = hook(f, 'claude', { session_id: 'big', cwd: f.dir, hook_event_name: 'PostToolUse', tool_name: 'Write', tool_input: { file_path: 'big.txt', content: 'z\n'.repeat(1 << 20) } });
    assert.deepEqual([r.status, r.stderr], [0, '']);
    const tool = f.db<{ tool: string }>("SELECT json_extract(data, '$.tool') AS tool FROM part WHERE json_extract(data, '$.type') = 'tool'");
    assert.deepEqual(tool, [{ tool: 'Write' }]);
  } finally {
    f.cleanup();
  }
});

test('a hook waits for a busy workspace at most hooks.waitMs, then gives up with one line and exit 0', async () => {
  const f = sessionFixture();
  try {
    hook(f, 'claude', { hook_event_name: 'UserPromptSubmit', session_id: 'w', cwd: f.dir, prompt: 'p' });
    // Another turn holds the workspace for a while.
    const busy = spawn(process.execPath, [CLI, 'run', 'long', '--dir', f.dir, '--exec', 'sleep 6'], { cwd: f.dir, env: f.env, stdio: 'ignore' });
    try {
      const lock = (): boolean => existsSync(join(f.home, 'locks')) && execFileSync('find', [join(f.home, 'locks'), '-name', 'snapline.lock'], { encoding: 'utf8' }).trim() !== '';
      for (let i = 0; i < 100 && !lock(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(lock(), 'the run holds the turn lock');
      const started = Date.now();
      const r = hook(f, 'claude', { hook_event_name: 'PostToolUse', session_id: 'w', cwd: f.dir, tool_name: 'Bash', tool_input: {} }, { ...f.env, SNAPLINE_CONFIG_CONTENT: JSON.stringify({ hooks: { waitMs: 300 } }) });
      const took = Date.now() - started;
      assert.equal(r.status, 0);
      assert.match(oneLineError({ ...r, status: 1 }), /busy/);
      assert.ok(took < 4000, `gave up after ${took} ms`);
    } finally {
      await new Promise((r) => busy.on('close', r));
    }
  } finally {
    f.cleanup();
  }
});

test("session totals stay git's net numstat from the session's first snapshot through no-op turns and a revert (remembered per pair of trees)", () => {
  const f = sessionFixture();
  try {
    const runTurn = (message: string, exec: string) => f.ok('run', message, '--dir', f.dir, '--continue', '--exec', exec);
    const userMessages = () => f.db<{ id: string }>("SELECT id FROM message WHERE json_extract(data, '$.role') = 'user' ORDER BY id").map((r) => r.id);
    f.ok('run', 'start', '--dir', f.dir, '--exec', 'true');
    const snapshots = () => f.db<{ snapshot: string }>("SELECT json_extract(data, '$.snapshot') AS snapshot FROM part WHERE json_extract(data, '$.type') IN ('step-start', 'step-finish') ORDER BY id").map((r) => r.snapshot);
    const totals = () => f.db<{ additions: number; deletions: number; files: number }>('SELECT summary_additions AS additions, summary_deletions AS deletions, summary_files AS files FROM session')[0]!;
    const expected = () => {
      const s = snapshots();
      const stats = gitNumstat(f, s[0]!, s[s.length - 1]!);
      return { additions: stats.reduce((n, x) => n + x.additions, 0), deletions: stats.reduce((n, x) => n + x.deletions, 0), files: stats.length };
    };
    runTurn('add a', "printf '1\\n2\\n3\\n' > a.txt");
    assert.deepEqual(totals(), expected());
    runTurn('add b, change a', "printf 'b\\n' > b.txt; printf '1\\n3\\n' > a.txt");
    assert.deepEqual(totals(), { additions: 3, deletions: 0, files: 2 });
    runTurn('nothing', 'true');
    assert.deepEqual(totals(), expected(), 'a no-op turn keeps the totals');
    // Back to the state after the first turn; the next turn drops the reverted ones.
    f.ok('session', 'revert', '--message', userMessages()[2]!);
    runTurn('nothing again', 'true');
    assert.deepEqual(totals(), { additions: 3, deletions: 0, files: 1 });
    assert.deepEqual(totals(), expected());
  } finally {
    f.cleanup();
  }
});
