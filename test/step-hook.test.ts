/**
 * The step hook script (src/agents/step-hook.sh): a no-change step answered without Node must
 * record what a Node step records, and every change — or anything the script cannot be sure
 * of — must go to Node and be snapshotted.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hookCommand } from '../src/agents/install.js';
import { TIMESTAMP_SLACK_MS } from '../src/snapshot/pending.js';
import { alive } from './helpers/processes.js';
import { CLI } from './helpers/repo.js';
import { waitForSummarizers } from './helpers/summarizers.js';
import { gitNumstat, sessionFixture } from './session-helpers.js';

type Fixture = ReturnType<typeof sessionFixture>;

/** The command `hooks install claude` writes for PostToolUse, run as Claude Code runs it (sh -c). */
const STEP_COMMAND = hookCommand('claude', process.execPath, CLI, true);

function run(f: Fixture, command: string, event: object, env: NodeJS.ProcessEnv = f.env) {
  const r = spawnSync('/bin/sh', ['-c', command], { cwd: f.dir, env, input: JSON.stringify(event), encoding: 'utf8' });
  assert.deepEqual([r.status, r.stdout, r.stderr], [0, '', ''], 'a hook exits 0 and prints nothing');
}

const base = (f: Fixture, session = 's1') => ({ session_id: session, transcript_path: '/tmp/t.jsonl', cwd: f.dir, permission_mode: 'default' });
const begin = (f: Fixture, env?: NodeJS.ProcessEnv) => run(f, hookCommand('claude', process.execPath, CLI), { ...base(f), hook_event_name: 'UserPromptSubmit', prompt: 'go' }, env);
const step = (f: Fixture, command: string, env?: NodeJS.ProcessEnv) => run(f, STEP_COMMAND, { ...base(f), hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command }, tool_response: { stdout: 'ok', stderr: '' } }, env);
const end = (f: Fixture, env?: NodeJS.ProcessEnv) => run(f, hookCommand('claude', process.execPath, CLI), { ...base(f), hook_event_name: 'Stop', stop_hook_active: false }, env);

/**
 * Gives a file an mtime an hour back. A file written in the same second as the snapshot that
 * recorded it is "racily clean" to git: its index entry is smudged and every scan lists it until
 * a later snapshot rewrites the index, so those steps go to Node — correct, but not what a test
 * of the script's answer wants.
 */
function aged(path: string): void {
  const old = new Date(Date.now() - 3600_000);
  utimesSync(path, old, old);
}

/** Steps the script answered and left for Node. */
function pending(f: Fixture, session = 's1'): string[] {
  const dir = join(f.home, 'fast-steps', 'claude', session, 'pending');
  return existsSync(dir) ? readdirSync(dir) : [];
}

interface Part {
  id: string;
  type: string;
  snapshot: string | null;
  tool: string | null;
  input: string | null;
  start: number | null;
}

function parts(f: Fixture): Part[] {
  return f.db<Part>(
    `SELECT id, json_extract(data, '$.type') AS type, json_extract(data, '$.snapshot') AS snapshot, json_extract(data, '$.tool') AS tool, json_extract(data, '$.state.input') AS input, json_extract(data, '$.state.time.start') AS start
     FROM part WHERE message_id IN (SELECT id FROM message WHERE json_extract(data, '$.role') = 'assistant') ORDER BY id`,
  );
}

/** Parts with snapshots named by order of appearance (two fixtures' trees differ only in name). */
function shape(ps: Part[]): string[] {
  const names = new Map<string, string>();
  return ps.map((p) => [p.type, p.snapshot ? names.get(p.snapshot) ?? (names.set(p.snapshot, `T${names.size}`), names.get(p.snapshot)) : '', p.tool ?? '', p.input ?? ''].join(' '));
}

test('no-change steps answered by the step hook script record the same parts as steps through Node, in order, at the time they happened', () => {
  const fast = sessionFixture();
  const slow = sessionFixture();
  try {
    const noFast = { ...slow.env, SNAPLINE_FAST_STEP: '0' };
    const script = (f: Fixture, env: NodeJS.ProcessEnv, isFast: boolean) => {
      writeFileSync(join(f.dir, 'a.txt'), 'a\n');
      aged(join(f.dir, 'a.txt'));
      begin(f, env);
      step(f, 'cat a.txt', env);
      step(f, 'ls', env);
      if (isFast) assert.equal(pending(f).length, 2, 'two no-change steps left for Node');
      writeFileSync(join(f.dir, 'a.txt'), 'a\nb\n');
      aged(join(f.dir, 'a.txt'));
      step(f, 'echo b >> a.txt', env);
      step(f, 'true', env);
      end(f, env);
    };
    script(fast, fast.env, true);
    script(slow, noFast, false);
    assert.deepEqual(pending(fast), [], 'every answered step was recorded');
    const fastParts = parts(fast);
    assert.deepEqual(shape(fastParts), shape(parts(slow)));
    assert.deepEqual(shape(fastParts), [
      'step-start T0  ',
      'tool  Bash {"command":"cat a.txt"}',
      'tool  Bash {"command":"ls"}',
      'tool  Bash {"command":"echo b >> a.txt"}',
      'step-finish T1  ',
      'step-start T1  ',
      'tool  Bash {"command":"true"}',
      'step-finish T1  ',
      'patch   ',
    ]);
    // Recorded later, but at the time of the step: between the parts around it.
    const times = fastParts.filter((p) => p.start !== null).map((p) => p.start!);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    const bash = fastParts.filter((p) => p.tool === 'Bash');
    assert.ok(bash[0]!.start! <= bash[1]!.start! && bash[1]!.start! <= bash[2]!.start!);
    assert.match(fast.ok('session', 'show', fast.db<{ id: string }>('SELECT id FROM session')[0]!.id), /tool Bash: ls/);
  } finally {
    fast.cleanup();
    slow.cleanup();
  }
});

test('every change goes to Node and is snapshotted: same size and mtime, a new untracked file, a mode change, a deletion', () => {
  const f = sessionFixture();
  try {
    const git = (...args: string[]) => spawnSync('git', ['--git-dir', f.storeGitDir(), ...args], { encoding: 'utf8' }).stdout;
    // Not racily clean: for same.txt only the ctime tells the edit.
    for (const [name, text] of [['same.txt', 'aaaa\n'], ['run.sh', 'echo hi\n'], ['gone.txt', 'bye\n']]) {
      writeFileSync(join(f.dir, name!), text!);
      aged(join(f.dir, name!));
    }
    begin(f);
    step(f, 'true');
    assert.equal(pending(f).length, 1, 'the script answers a step that changed nothing');
    const snapshots = () => parts(f).filter((p) => p.type === 'step-start').map((p) => p.snapshot!);
    const changes: [string, () => void, (tree: string) => void][] = [
      [
        'an edit keeping size and mtime',
        () => {
          const before = statSync(join(f.dir, 'same.txt'));
          // Only the ctime tells this edit, and this git compares it in whole seconds: an edit in
          // the second the snapshot recorded is not seen, by git status either (docs/snapshot.md,
          // "Its limit"). The hooks can be that fast: edit in a later second — by the kernel's
          // coarse clock too, which stamps files up to a tick behind Date.now().
          while (Math.floor((Date.now() - TIMESTAMP_SLACK_MS) / 1000) <= Math.floor(before.ctimeMs / 1000)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
          writeFileSync(join(f.dir, 'same.txt'), 'bbbb\n');
          utimesSync(join(f.dir, 'same.txt'), before.atime, before.mtime);
          assert.equal(statSync(join(f.dir, 'same.txt')).mtimeMs, before.mtimeMs);
        },
        (tree) => assert.equal(git('show', `${tree}:same.txt`), 'bbbb\n'),
      ],
      [
        'a new untracked file',
        () => {
          writeFileSync(join(f.dir, 'new.txt'), 'new\n');
          aged(join(f.dir, 'new.txt'));
        },
        (tree) => assert.equal(git('show', `${tree}:new.txt`), 'new\n'),
      ],
      ['a mode change', () => chmodSync(join(f.dir, 'run.sh'), 0o755), (tree) => assert.match(git('ls-tree', tree, 'run.sh'), /^100755 /)],
      ['a deletion', () => rmSync(join(f.dir, 'gone.txt')), (tree) => assert.equal(git('ls-tree', tree, 'gone.txt'), '')],
    ];
    for (const [what, change, check] of changes) {
      const before = snapshots();
      change();
      step(f, what);
      assert.equal(pending(f).length, 0, `${what}: recorded by Node, not left pending`);
      const after = snapshots();
      assert.equal(after.length, before.length + 1, `${what}: a new step`);
      assert.notEqual(after.at(-1), before.at(-1));
      check(after.at(-1)!);
      step(f, `${what}, again`);
      assert.equal(pending(f).length, 1, `${what}: the next step, with nothing changed, is answered by the script`);
    }
    end(f);
  } finally {
    f.cleanup();
  }
});

test("the Node a step starts does not read NODE_EXTRA_CA_CERTS (it makes no TLS connection)", () => {
  const f = sessionFixture();
  try {
    // Node warns on stderr when the bundle cannot be read: a step through Node must not.
    const env = { ...f.env, NODE_EXTRA_CA_CERTS: join(f.home, 'no-such-bundle.pem') };
    const git = (...args: string[]) => spawnSync('git', ['--git-dir', f.storeGitDir(), ...args], { encoding: 'utf8' }).stdout;
    begin(f);
    writeFileSync(join(f.dir, 'changed.txt'), 'new\n');
    step(f, 'echo new > changed.txt', env);
    assert.equal(pending(f).length, 0, 'the change went to Node');
    const latest = parts(f).filter((p) => p.type === 'step-start').at(-1)!.snapshot!;
    assert.equal(git('show', `${latest}:changed.txt`), 'new\n', 'and was snapshotted');
  } finally {
    f.cleanup();
  }
});

test('the script sends to Node whatever it cannot be sure of: changed ignore rules or configuration, a busy workspace, a turn that ended, an odd session id', () => {
  const f = sessionFixture();
  try {
    for (const [name, text] of [['a.txt', 'a\n'], ['debug.log', 'ignored\n'], ['.gitignore', '*.log\n']]) {
      writeFileSync(join(f.dir, name!), text!);
      aged(join(f.dir, name!));
    }
    begin(f);
    const toolParts = () => parts(f).filter((p) => p.type === 'tool').length;
    const expectNode = (what: string, env?: NodeJS.ProcessEnv) => {
      const before = toolParts() + pending(f).length; // Node records the pending ones first
      step(f, what, env);
      assert.equal(pending(f).length, 0, `${what}: not answered by the script`);
      assert.equal(toolParts(), before + 1, `${what}: recorded by Node`);
    };
    step(f, 'baseline');
    assert.equal(pending(f).length, 1);
    // A config file appears (snapshot.ignore): Node reads it.
    writeFileSync(join(f.dir, 'snapline.json'), JSON.stringify({ snapshot: { ignore: ['a.txt'] } }));
    aged(join(f.dir, 'snapline.json'));
    expectNode('config appeared');
    step(f, 'config unchanged');
    assert.equal(pending(f).length, 1, 'the new ticket holds the new configuration');
    // The user's exclude file changes.
    mkdirSync(join(f.dir, '.git', 'info'), { recursive: true });
    writeFileSync(join(f.dir, '.git', 'info', 'exclude'), 'other\n');
    expectNode('exclude changed');
    // The store's own ignore rules rewritten by a track under another configuration (that one
    // ignores x.txt): the script's scan would read them, so it goes to Node, which snapshots
    // x.txt under the agent's configuration.
    step(f, 'ticket again');
    assert.equal(pending(f).length, 1);
    const other = spawnSync(process.execPath, [CLI, 'snapshot', 'track', '--dir', f.dir], { env: { ...f.env, SNAPLINE_CONFIG_CONTENT: JSON.stringify({ snapshot: { ignore: ['x.txt'] } }) }, encoding: 'utf8' });
    assert.equal(other.status, 0, other.stderr);
    writeFileSync(join(f.dir, 'x.txt'), 'x\n');
    aged(join(f.dir, 'x.txt'));
    expectNode('store rules rewritten');
    const lastStart = parts(f).filter((p) => p.type === 'step-start').pop()!.snapshot!;
    assert.equal(spawnSync('git', ['--git-dir', f.storeGitDir(), 'show', `${lastStart}:x.txt`], { encoding: 'utf8' }).stdout, 'x\n');
    // SNAPLINE_CONFIG_CONTENT set where it was not.
    expectNode('config variable', { ...f.env, SNAPLINE_CONFIG_CONTENT: JSON.stringify({ hooks: { waitMs: 4000 } }) });
    // Someone holds the workspace's turn lock (a revert, another turn): Node waits for it.
    const locks = join(f.home, 'locks');
    const lockDir = join(locks, readdirSync(locks)[0]!);
    writeFileSync(join(lockDir, 'snapline.lock'), JSON.stringify({ pid: 999999, hostname: 'elsewhere', started: Date.now() }));
    const r = spawnSync('/bin/sh', ['-c', STEP_COMMAND], { cwd: f.dir, env: { ...f.env, SNAPLINE_CONFIG_CONTENT: JSON.stringify({ hooks: { waitMs: 200 } }) }, input: JSON.stringify({ ...base(f), hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'busy' } }), encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.match(r.stderr, /busy/, 'Node waited at most hooks.waitMs and said so');
    assert.equal(pending(f).length, 0);
    rmSync(join(lockDir, 'snapline.lock'));
    // An event over 64 KiB (a Write of a big file) reaches Node whole.
    const before = toolParts() + pending(f).length;
    run(f, STEP_COMMAND, { ...base(f), hook_event_name: 'PostToolUse', tool_name: 'Write', tool_input: { file_path: 'big.txt', content: 'z\n'.repeat(1 << 20) } });
    assert.equal(pending(f).length, 0);
    assert.equal(toolParts(), before + 1, 'the big event was recorded by Node');
    // An id the script will not build a path from.
    run(f, STEP_COMMAND, { ...base(f, 'a b'), hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: {} });
    assert.equal(pending(f, 'a b').length, 0);
    // After the end, no ticket: a late step goes to Node (which finds no open turn).
    end(f);
    assert.ok(!existsSync(join(f.home, 'fast-steps', 'claude', 's1', 'ticket')));
    step(f, 'after the end');
    assert.equal(pending(f).length, 0);
  } finally {
    f.cleanup();
  }
});

test('a hook leaves its commits in the WAL for the next process (no checkpoint on the agent\'s path); a command closing normally checkpoints them', () => {
  const f = sessionFixture();
  try {
    const wal = join(f.home, 'snapline.db-wal');
    begin(f);
    writeFileSync(join(f.dir, 'new.txt'), 'new\n');
    step(f, 'echo new > new.txt');
    assert.ok(existsSync(wal) && statSync(wal).size > 0, 'the hooks exited without checkpointing: their commits are in the WAL');
    // Read by another process (which reads the WAL), then checkpointed by it when it closes.
    const tools = f.db<{ tool: string }>(`SELECT json_extract(data, '$.tool') AS tool FROM part WHERE json_extract(data, '$.type') = 'tool'`);
    assert.deepEqual(tools.map((t) => t.tool), ['Bash']);
    assert.ok(!existsSync(wal) || statSync(wal).size === 0, 'a normal close checkpointed the WAL');
  } finally {
    f.cleanup();
  }
});

test('a session end with no turn open is answered by the script without Node; with a turn open it goes to Node, which closes the turn', () => {
  const f = sessionFixture();
  try {
    const sessionEnd = { ...base(f), hook_event_name: 'SessionEnd', reason: 'other' };
    // The command as installed, but with a Node that cannot start: only an answer without Node exits 0.
    const withoutNode = (env: NodeJS.ProcessEnv = f.env) =>
      spawnSync('/bin/sh', ['-c', hookCommand('claude', join(f.home, 'no-such-node'), CLI, true)], { cwd: f.dir, env, input: JSON.stringify(sessionEnd), encoding: 'utf8' });
    const open = () => f.db<{ n: number }>(`SELECT COUNT(*) AS n FROM message WHERE json_extract(data, '$.role') = 'assistant' AND json_extract(data, '$.time.completed') IS NULL`)[0]!.n;
    begin(f);
    assert.notEqual(withoutNode().status, 0, 'a turn is open: the script runs Node');
    run(f, hookCommand('claude', process.execPath, CLI, true), sessionEnd);
    assert.equal(open(), 0, 'Node closed the open turn');
    const answered = withoutNode();
    assert.deepEqual([answered.status, answered.stdout, answered.stderr], [0, '', ''], 'no turn open: answered without Node');
    // A begin removes the mark before it opens its turn; an end puts it back.
    begin(f);
    assert.notEqual(withoutNode().status, 0, 'the begin removed the mark');
    end(f);
    assert.equal(withoutNode().status, 0, 'the end left the mark');
    // SNAPLINE_FAST_STEP=0 sends everything to Node.
    assert.notEqual(withoutNode({ ...f.env, SNAPLINE_FAST_STEP: '0' }).status, 0);
    // A turn begun by session id (not by the agent's session) removes the mark too.
    const sid = f.db<{ id: string }>('SELECT id FROM session')[0]!.id;
    f.ok('turn', 'begin', 'by id', '--session', sid);
    assert.notEqual(withoutNode().status, 0, 'a turn is open again: the script runs Node');
  } finally {
    f.cleanup();
  }
});

test('the begin and end hooks start Node without NODE_EXTRA_CA_CERTS (a hook makes no TLS connection)', () => {
  const f = sessionFixture();
  try {
    // Node warns on stderr when the bundle cannot be read; `run` requires an empty stderr.
    const env = { ...f.env, NODE_EXTRA_CA_CERTS: join(f.home, 'no-such-bundle.pem') };
    begin(f, env);
    writeFileSync(join(f.dir, 'b.txt'), 'b\n');
    end(f, env);
    const ends = f.db<{ n: number }>(`SELECT COUNT(*) AS n FROM part WHERE json_extract(data, '$.type') = 'step-finish'`);
    assert.equal(ends[0]!.n, 1, 'the turn was recorded');
  } finally {
    f.cleanup();
  }
});

/** The command `hooks install claude` writes for Stop (through the script), with this NODE. */
const endCommand = (node = process.execPath) => hookCommand('claude', node, CLI, true);
const stopEvent = (f: Fixture, extra: object = {}) => ({ ...base(f), hook_event_name: 'Stop', stop_hook_active: false, ...extra });

/** Ends the script answered and left for a recorder or reader (fast-steps/ends). */
function answeredEnds(f: Fixture): string[] {
  const dir = join(f.home, 'fast-steps', 'ends');
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** Runs the end hook as installed with a NODE that cannot start: exits 0 only when the script answered by itself. */
function endWithoutNode(f: Fixture, extra: object = {}, env: NodeJS.ProcessEnv = f.env) {
  return spawnSync('/bin/sh', ['-c', endCommand(join(f.home, 'no-such-node'))], { cwd: f.dir, env, input: JSON.stringify(stopEvent(f, extra)), encoding: 'utf8' });
}

interface TurnRow {
  id: string;
  parent: string;
  finish: string | null;
  error: string | null;
  completed: number | null;
}

function assistants(f: Fixture): TurnRow[] {
  return f.db<TurnRow>(
    `SELECT id, json_extract(data, '$.parentID') AS parent, json_extract(data, '$.finish') AS finish, json_extract(data, '$.error.name') AS error, json_extract(data, '$.time.completed') AS completed
     FROM message WHERE json_extract(data, '$.role') = 'assistant' ORDER BY id`,
  );
}

function summaryDiffs(f: Fixture, userId: string): { file: string; additions: number; deletions: number }[] {
  const [row] = f.db<{ s: string | null }>(`SELECT json_extract(data, '$.summary.diffs') AS s FROM message WHERE id = '${userId}'`);
  return (JSON.parse(row!.s ?? 'null') as { file: string; additions: number; deletions: number }[]).map((d) => ({ file: d.file, additions: d.additions, deletions: d.deletions }));
}

/** A turn whose step recorded a change: begin, a new file, the step (through Node: it changed something). */
function turnWithChange(f: Fixture): void {
  writeFileSync(join(f.dir, 'a.txt'), 'a\n');
  aged(join(f.dir, 'a.txt'));
  begin(f);
  writeFileSync(join(f.dir, 'b.txt'), 'one\ntwo\n');
  writeFileSync(join(f.dir, 'a.txt'), 'a\nmore\n');
  aged(join(f.dir, 'b.txt'));
  aged(join(f.dir, 'a.txt'));
  step(f, 'write b.txt, append to a.txt');
  assert.equal(pending(f).length, 0, 'the step that changed files went to Node');
}

test('an end right after the step, nothing changed since: answered without Node; the next reader records it as the end would, with the step\'s snapshot as the end\'s, at the time of the check', () => {
  const f = sessionFixture();
  try {
    turnWithChange(f);
    const answered = endWithoutNode(f);
    assert.deepEqual([answered.status, answered.stdout, answered.stderr], [0, '', ''], 'answered without Node');
    const [name] = answeredEnds(f);
    assert.ok(name, 'a pending end was left');
    const checkedAt = Math.floor(statSync(join(f.home, 'fast-steps', 'ends', name)).mtimeMs);
    assert.ok(!existsSync(join(f.home, 'fast-steps', 'claude', 's1', 'ticket')), 'the ticket is withdrawn: what comes next goes to Node');
    // The agent's session ends right after: answered without Node too (the end closes the turn).
    const sessionEnd = spawnSync('/bin/sh', ['-c', endCommand(join(f.home, 'no-such-node'))], { cwd: f.dir, env: f.env, input: JSON.stringify({ ...base(f), hook_event_name: 'SessionEnd', reason: 'other' }), encoding: 'utf8' });
    assert.deepEqual([sessionEnd.status, sessionEnd.stdout, sessionEnd.stderr], [0, '', '']);
    // The user edits a file by hand before anyone recorded the end: not the agent's turn.
    writeFileSync(join(f.dir, 'by-hand.txt'), 'mine\n');
    writeFileSync(join(f.dir, 'a.txt'), 'a\nmore\nby hand\n');
    // The recorder could not start (no Node): the next reader records the end.
    const [turn] = assistants(f);
    assert.deepEqual(answeredEnds(f), [], 'the reader recorded the end');
    assert.equal(turn!.finish, 'stop');
    assert.equal(turn!.error, null);
    assert.equal(turn!.completed, checkedAt, 'completed at the time of the check');
    const ps = parts(f);
    const starts = ps.filter((p) => p.type === 'step-start').map((p) => p.snapshot!);
    const finish = ps.filter((p) => p.type === 'step-finish').at(-1)!;
    assert.equal(finish.snapshot, starts.at(-1), "the end snapshot is the last step's");
    assert.equal(Number(BigInt('0x' + finish.id.slice(4, 18)) >> 12n), checkedAt, 'the step-finish is dated at the check');
    const diffs = summaryDiffs(f, turn!.parent);
    assert.deepEqual(diffs, gitNumstat(f, starts[0]!, starts.at(-1)!));
    assert.deepEqual(diffs.map((d) => d.file), ['a.txt', 'b.txt'], 'the hand edits are not in the turn');
    assert.ok(existsSync(join(f.home, 'fast-steps', 'claude', 's1', 'idle')), 'the agent session is idle');
    // The next turn starts from the workspace with the hand edits (in neither turn).
    begin(f);
    end(f);
    assert.deepEqual(summaryDiffs(f, assistants(f)[1]!.parent), []);
    const next = parts(f).filter((p) => p.type === 'step-start').at(-1)!.snapshot!;
    assert.equal(spawnSync('git', ['--git-dir', f.storeGitDir(), 'show', `${next}:by-hand.txt`], { encoding: 'utf8' }).stdout, 'mine\n');
  } finally {
    f.cleanup();
  }
});

test('with Node, the detached recorder the script starts records the answered end and its summary; the agent does not wait for it', () => {
  const f = sessionFixture();
  try {
    turnWithChange(f);
    const before = Date.now();
    const r = spawnSync('/bin/sh', ['-c', endCommand()], { cwd: f.dir, env: f.env, input: JSON.stringify(stopEvent(f)), encoding: 'utf8' });
    const after = Date.now();
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, '', '']);
    // Recorded without any reader: wait for the recorder, then read. (It is detached: right
    // after the hook returns it may not have started yet, so first wait for the end to go.)
    for (const until = Date.now() + 60_000; answeredEnds(f).length > 0 && Date.now() < until; ) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    waitForSummarizers(f.home);
    assert.deepEqual(answeredEnds(f), []);
    assert.match(readFileSync(join(f.home, 'hooks.log'), 'utf8'), /claude end ses_\S+: answered by the step hook script, recorded by pid \d+/);
    assert.match(readFileSync(join(f.home, 'hooks.log'), 'utf8'), /summary ses_\S+ msg_\S+: 2 files, \+3 -0/, 'the recorder computed the summary');
    const [turn] = assistants(f);
    assert.equal(turn!.finish, 'stop');
    assert.ok(turn!.completed! >= before - 1 && turn!.completed! <= after, 'completed at the time of the check');
    const starts = parts(f).filter((p) => p.type === 'step-start').map((p) => p.snapshot!);
    assert.deepEqual(summaryDiffs(f, turn!.parent), gitNumstat(f, starts[0]!, starts.at(-1)!));
    assert.deepEqual(shape(parts(f)), ['step-start T0  ', 'tool  Bash {"command":"write b.txt, append to a.txt"}', 'step-finish T1  ', 'step-start T1  ', 'step-finish T1  ', 'patch   ']);
  } finally {
    f.cleanup();
  }
});

test('a begin before the answered end is recorded closes that turn as ended (stop), not interrupted, with the snapshot the end was checked against', () => {
  const f = sessionFixture();
  try {
    turnWithChange(f);
    assert.equal(endWithoutNode(f).status, 0);
    writeFileSync(join(f.dir, 'by-hand.txt'), 'mine\n');
    begin(f);
    assert.deepEqual(answeredEnds(f), [], 'the begin recorded the end');
    const [first, second] = assistants(f);
    assert.deepEqual([first!.finish, first!.error], ['stop', null]);
    assert.equal(second!.completed, null, 'the new turn is open');
    const starts = parts(f).filter((p) => p.type === 'step-start').map((p) => p.snapshot!);
    assert.deepEqual(summaryDiffs(f, first!.parent).map((d) => d.file), ['a.txt', 'b.txt']);
    assert.deepEqual(summaryDiffs(f, first!.parent), gitNumstat(f, starts[0]!, starts[1]!));
    const next = parts(f).filter((p) => p.type === 'step-start').at(-1)!.snapshot!;
    assert.equal(spawnSync('git', ['--git-dir', f.storeGitDir(), 'show', `${next}:by-hand.txt`], { encoding: 'utf8' }).stdout, 'mine\n', "the hand edit is in the next turn's start");
  } finally {
    f.cleanup();
  }
});

test('an end the script cannot be sure of goes to Node: a change since the step, stop_hook_active, SNAPLINE_FAST_STEP=0; a revert records an answered end first', () => {
  const f = sessionFixture();
  try {
    turnWithChange(f);
    assert.notEqual(endWithoutNode(f, { stop_hook_active: true }).status, 0, 'stop_hook_active: Node (which ignores it)');
    assert.notEqual(endWithoutNode(f, {}, { ...f.env, SNAPLINE_FAST_STEP: '0' }).status, 0, 'SNAPLINE_FAST_STEP=0: Node');
    writeFileSync(join(f.dir, 'late.txt'), 'late\n');
    aged(join(f.dir, 'late.txt'));
    assert.notEqual(endWithoutNode(f).status, 0, 'a change since the step: Node');
    assert.deepEqual(answeredEnds(f), []);
    run(f, endCommand(), stopEvent(f));
    const [turn] = assistants(f);
    assert.equal(turn!.finish, 'stop');
    assert.deepEqual(summaryDiffs(f, turn!.parent).map((d) => d.file), ['a.txt', 'b.txt', 'late.txt'], "Node's end snapshot has the change");
    // A second turn answered by the script, then reverted before anyone recorded its end.
    const sid = f.db<{ id: string }>('SELECT id FROM session')[0]!.id;
    begin(f);
    const message = /begin ses_\S+ (msg_\S+)\n$/.exec(readFileSync(join(f.home, 'hooks.log'), 'utf8'))![1]!;
    writeFileSync(join(f.dir, 'c.txt'), 'c\n');
    aged(join(f.dir, 'c.txt'));
    step(f, 'write c.txt');
    assert.equal(endWithoutNode(f).status, 0);
    assert.equal(answeredEnds(f).length, 1);
    f.ok('session', 'revert', sid, '--message', message);
    assert.deepEqual(answeredEnds(f), [], 'the revert recorded the end first');
    assert.ok(!existsSync(join(f.dir, 'c.txt')), 'the turn was reverted');
    assert.deepEqual([assistants(f)[1]!.parent, assistants(f)[1]!.finish], [message, 'stop']);
  } finally {
    f.cleanup();
  }
});

/** Claude Code's hook commands as `hooks install claude` writes them: the prompt and the barrier before each tool go through the script. */
const PROMPT_COMMAND = hookCommand('claude', process.execPath, CLI, true);

/** Runs a hook command as the agent does, without waiting: resolves with its exit status, stdout and stderr. */
function started(f: Fixture, command: string, event: object, env: NodeJS.ProcessEnv): { exited: () => boolean; done: Promise<[number | null, string, string]> } {
  const child = spawn('/bin/sh', ['-c', command], { cwd: f.dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let exited = false;
  child.stdout.on('data', (b: Buffer) => (out += b));
  child.stderr.on('data', (b: Buffer) => (err += b));
  child.stdin.end(JSON.stringify(event));
  const done = new Promise<[number | null, string, string]>((resolve) => child.on('close', (code) => ((exited = true), resolve([code, out, err]))));
  return { exited: () => exited, done };
}

/** Holds the workspace's turn lock as a live process (this one) does, until the returned function is called. */
function holdTurnLock(f: Fixture): () => void {
  const dir = join(f.home, 'locks', createHash('sha1').update(f.dir).digest('hex'));
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'snapline.lock');
  writeFileSync(file, JSON.stringify({ pid: process.pid, hostname: hostname(), started: Date.now(), what: 'the test' }));
  return () => rmSync(file, { force: true });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("Claude Code's prompt is answered at once and its begin recorded by a detached Node; the barrier before a tool waits for that begin, so the tool's change is in the turn", { timeout: 120_000 }, async () => {
  const f = sessionFixture();
  try {
    // Long enough for the begin to wait out the lock this test holds.
    const env = { ...f.env, SNAPLINE_CONFIG_CONTENT: JSON.stringify({ hooks: { waitMs: 60_000 } }) };
    // A data directory that a hook has used before (the very first hook of a data dir is Node's).
    mkdirSync(join(f.home, 'fast-steps', 'tmp'), { recursive: true });
    writeFileSync(join(f.dir, 'a.txt'), 'before\n');
    const release = holdTurnLock(f);
    const prompt = started(f, PROMPT_COMMAND, { ...base(f), hook_event_name: 'UserPromptSubmit', prompt: 'change a.txt' }, env);
    assert.deepEqual(await prompt.done, [0, '', ''], 'the prompt hook exits 0 at once, printing nothing');
    const mark = join(f.home, 'fast-steps', 'claude', 's1', 'beginning');
    assert.match(readFileSync(mark, 'utf8'), /^\d+\n$/, 'the mark holds the pid of the process recording the begin');
    // The barrier before a tool, as the script gets it and as Node gets it (an event over 64 KiB:
    // a Write of a big file), both wait while the begin is not recorded.
    const barrier = { ...base(f), hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'edit a.txt' } };
    const viaScript = started(f, PROMPT_COMMAND, barrier, env);
    const viaNode = started(f, PROMPT_COMMAND, { ...barrier, tool_name: 'Write', tool_input: { file_path: 'big.txt', content: 'x'.repeat(100 * 1024) } }, env);
    await sleep(1500);
    assert.equal(viaScript.exited() || viaNode.exited(), false, 'the tool waits for the begin');
    assert.deepEqual(f.db(`SELECT id FROM message`), [], 'nothing recorded yet: the begin waits for the turn lock');
    release();
    assert.deepEqual(await viaScript.done, [0, '', '']);
    assert.deepEqual(await viaNode.done, [0, '', '']);
    assert.ok(!existsSync(mark), 'the mark is gone once the begin is recorded');
    assert.equal(readdirSync(join(f.home, 'fast-steps', 'claude', 's1')).filter((n) => n.startsWith('begin.')).length, 0, 'and the event it was recorded from');
    // The tool runs now; its step and the end follow.
    writeFileSync(join(f.dir, 'a.txt'), 'after\n');
    step(f, 'edit a.txt', env);
    end(f, env);
    const [turn] = assistants(f);
    assert.equal(turn!.finish, 'stop');
    const starts = parts(f).filter((p) => p.type === 'step-start').map((p) => p.snapshot!);
    assert.equal(spawnSync('git', ['--git-dir', f.storeGitDir(), 'show', `${starts[0]}:a.txt`], { encoding: 'utf8' }).stdout, 'before\n', "the begin's snapshot is the workspace before the tool");
    assert.deepEqual(summaryDiffs(f, turn!.parent), [{ file: 'a.txt', additions: 1, deletions: 1 }]);
    const [user] = f.db<{ text: string }>(`SELECT json_extract(data, '$.text') AS text FROM part WHERE message_id = '${turn!.parent}'`);
    assert.equal(user!.text, 'change a.txt');
    assert.match(readFileSync(join(f.home, 'hooks.log'), 'utf8'), /claude UserPromptSubmit \(deferred by the step hook script, pid \d+\): begin ses_/);
  } finally {
    f.cleanup();
  }
});

test('a deferred begin whose process is gone, or a mark left empty, does not hold the agent back', { timeout: 60_000 }, async () => {
  const f = sessionFixture();
  try {
    const dir = join(f.home, 'fast-steps', 'claude', 's1');
    mkdirSync(join(f.home, 'fast-steps', 'tmp'), { recursive: true });
    mkdirSync(dir, { recursive: true });
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const barrier = { ...base(f), hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'ls' } };
    for (const [content, within] of [[`${gone}\n`, 1000], ['', 5000]] as const) {
      writeFileSync(join(dir, 'beginning'), content);
      const t0 = Date.now();
      assert.deepEqual(await started(f, PROMPT_COMMAND, barrier, f.env).done, [0, '', '']);
      assert.ok(Date.now() - t0 < within, `answered in ${Date.now() - t0} ms (mark '${content.trim()}')`);
      assert.ok(!existsSync(join(dir, 'beginning')), 'the stale mark is removed');
    }
  } finally {
    f.cleanup();
  }
});

/** The agent session's standby directory, and its pid once it offers itself (waits up to 20 s). */
const standbyDir = (f: Fixture, session = 's1') => join(f.home, 'fast-steps', 'claude', session, 'standby');
async function standbyReady(f: Fixture, dir = standbyDir(f)): Promise<number> {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(20)) {
    const pid = Number(existsSync(join(dir, 'ready')) ? readFileSync(join(dir, 'ready'), 'utf8').trim() : '');
    if (pid > 0 && alive(pid)) return pid;
  }
  throw new Error(`nothing offered itself in ${dir} within 20 s`);
}
/** The data directory's spare standby (a standby whose session ended): its pid once it offers itself. */
const spareReady = (f: Fixture) => standbyReady(f, join(f.home, 'fast-steps', 'spare', 'claude'));
/** A workspace with a.txt (`one`) and a data directory hooks have used; `hook` runs an event of session s1 as Claude Code runs the installed command. */
function scriptSession(f: Fixture) {
  mkdirSync(join(f.home, 'fast-steps', 'tmp'), { recursive: true });
  writeFileSync(join(f.dir, 'a.txt'), 'one\n');
  return async (event: object, env: NodeJS.ProcessEnv = f.env) => assert.deepEqual(await started(f, PROMPT_COMMAND, { ...base(f), ...event }, env).done, [0, '', ''], 'a hook exits 0 and prints nothing');
}

/** Waits up to 10 s for hooks.log to have a line matching `re`. */
async function logged(f: Fixture, re: RegExp, message: string): Promise<void> {
  const log = () => readFileSync(join(f.home, 'hooks.log'), 'utf8');
  for (const deadline = Date.now() + 10_000; Date.now() < deadline && !re.test(log()); ) await sleep(20);
  assert.match(log(), re, message);
}

async function gone(pid: number, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(20)) if (!alive(pid)) return true;
  return !alive(pid);
}

test("Claude Code's session start starts a standby that records the prompt, the steps and the end the script cannot answer, as Node records them; the session's end leaves it as the spare", { timeout: 120_000 }, async () => {
  const warm = sessionFixture();
  const cold = sessionFixture();
  try {
    const session = async (f: Fixture, env: NodeJS.ProcessEnv) => {
      const run = scriptSession(f);
      const hook = (event: object) => run(event, env);
      await hook({ hook_event_name: 'SessionStart', source: 'startup' });
      const pid = env.SNAPLINE_STANDBY === '0' ? undefined : await standbyReady(f);
      await hook({ hook_event_name: 'UserPromptSubmit', prompt: 'change a.txt' });
      await hook({ hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'edit' } });
      writeFileSync(join(f.dir, 'a.txt'), 'one\ntwo\n');
      await hook({ hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'edit' }, tool_response: { stdout: '', stderr: '' } });
      // A tool that changes a file and ends without its step (interrupted): its barrier first.
      await hook({ hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'new' } });
      writeFileSync(join(f.dir, 'b.txt'), 'new\n');
      await hook({ hook_event_name: 'Stop', stop_hook_active: false });
      await hook({ hook_event_name: 'SessionEnd', reason: 'exit' });
      return pid;
    };
    const pid = (await session(warm, warm.env))!;
    await session(cold, { ...cold.env, SNAPLINE_STANDBY: '0' });
    const log = readFileSync(join(warm.home, 'hooks.log'), 'utf8');
    assert.match(log, new RegExp(`claude UserPromptSubmit \\(deferred by the step hook script, pid ${pid}\\): begin ses_`), 'the standby recorded the begin');
    assert.match(log, new RegExp(`claude PostToolUse \\(standby pid ${pid}\\): step ses_`), 'and the step');
    assert.match(log, new RegExp(`claude Stop \\(standby pid ${pid}\\): end ses_`), 'and the end (a change since the step)');
    assert.doesNotMatch(readFileSync(join(cold.home, 'hooks.log'), 'utf8'), /standby/, 'SNAPLINE_STANDBY=0: no standby');
    assert.equal(await spareReady(warm), pid, 'the session end left the standby as the spare');
    assert.deepEqual(readdirSync(standbyDir(warm)), [], "and it left nothing behind in the session's directory");
    waitForSummarizers(warm.home);
    waitForSummarizers(cold.home);
    assert.deepEqual(shape(parts(warm)), shape(parts(cold)), 'the same parts as through Node');
    const [turn] = assistants(warm);
    assert.equal(turn!.finish, 'stop');
    assert.deepEqual(summaryDiffs(warm, turn!.parent), summaryDiffs(cold, assistants(cold)[0]!.parent));
    assert.deepEqual(summaryDiffs(warm, turn!.parent), [
      { file: 'a.txt', additions: 1, deletions: 0 },
      { file: 'b.txt', additions: 1, deletions: 0 },
    ]);
  } finally {
    warm.cleanup();
    cold.cleanup();
  }
});

test('a standby that died leaves every event to Node (none lost); an idle standby exits and leaves nothing behind', { timeout: 120_000 }, async () => {
  const f = sessionFixture();
  try {
    const hook = scriptSession(f);
    await hook({ hook_event_name: 'SessionStart', source: 'startup' });
    const dead = await standbyReady(f);
    process.kill(dead, 'SIGKILL');
    assert.ok(await gone(dead, 5000));
    assert.ok(existsSync(join(standbyDir(f), 'ready')), 'its offer is still there');
    await hook({ hook_event_name: 'UserPromptSubmit', prompt: 'change a.txt' });
    await hook({ hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'edit' } });
    writeFileSync(join(f.dir, 'a.txt'), 'one\ntwo\n');
    await hook({ hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'edit' }, tool_response: { stdout: '', stderr: '' } });
    writeFileSync(join(f.dir, 'a.txt'), 'one\ntwo\nthree\n');
    await hook({ hook_event_name: 'Stop', stop_hook_active: false });
    waitForSummarizers(f.home);
    const [turn] = assistants(f);
    assert.equal(turn!.finish, 'stop', 'begin and end recorded');
    assert.deepEqual(summaryDiffs(f, turn!.parent), [{ file: 'a.txt', additions: 2, deletions: 0 }]);
    assert.equal(parts(f).filter((p) => p.type === 'step-finish').length, 2, 'the step was recorded too');
    // The begin's recorder stayed on as the standby; with a short idle time, a new one goes by itself.
    const recorder = await standbyReady(f);
    assert.notEqual(recorder, dead);
    process.kill(recorder, 'SIGTERM');
    assert.ok(await gone(recorder, 5000));
    await hook({ hook_event_name: 'SessionStart', source: 'resume' }, { ...f.env, SNAPLINE_STANDBY_IDLE_MS: '1000' });
    const idle = await standbyReady(f);
    assert.ok(await gone(idle, 10_000), 'an idle standby exits');
    assert.deepEqual(readdirSync(standbyDir(f)), [], 'and leaves nothing behind');
    assert.match(readFileSync(join(f.home, 'hooks.log'), 'utf8'), new RegExp(`claude standby s1: pid ${idle} exits \\(idle for 1 s\\); peak RSS [\\d.]+ MiB`));
  } finally {
    f.cleanup();
  }
});

test('a prompt right after the session start waits briefly for the standby still loading, and its begin is recorded once, before the tool', { timeout: 120_000 }, async () => {
  const f = sessionFixture();
  try {
    const hook = scriptSession(f);
    await hook({ hook_event_name: 'SessionStart', source: 'startup' });
    const pid = Number(readFileSync(join(standbyDir(f), 'pid'), 'utf8').trim());
    assert.ok(pid > 0 && alive(pid), 'the script wrote the pid of the standby it started');
    await hook({ hook_event_name: 'UserPromptSubmit', prompt: 'change a.txt' });
    await hook({ hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'edit' } });
    writeFileSync(join(f.dir, 'a.txt'), 'two\n');
    await hook({ hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'edit' }, tool_response: { stdout: '', stderr: '' } });
    await hook({ hook_event_name: 'Stop', stop_hook_active: false });
    // (Before any reader, which would record it first.)
    // (The end comes behind the step when the standby is still recording it.)
    await logged(f, new RegExp(`claude end ses_\\w+: (answered by the step hook script|came behind the step \\(its snapshot is the end's\\)), recorded by the standby, pid ${pid}`), 'the end, recorded by the standby');
    waitForSummarizers(f.home);
    assert.equal(f.db(`SELECT id FROM message WHERE json_extract(data, '$.role') = 'user'`).length, 1, 'one begin');
    const [turn] = assistants(f);
    assert.equal(turn!.finish, 'stop');
    const starts = parts(f).filter((p) => p.type === 'step-start').map((p) => p.snapshot!);
    assert.equal(spawnSync('git', ['--git-dir', f.storeGitDir(), 'show', `${starts[0]}:a.txt`], { encoding: 'utf8' }).stdout, 'one\n', "the begin's snapshot is the workspace before the tool");
    assert.deepEqual(summaryDiffs(f, turn!.parent), [{ file: 'a.txt', additions: 1, deletions: 1 }]);
    const log = readFileSync(join(f.home, 'hooks.log'), 'utf8');
    assert.match(log, /claude UserPromptSubmit \(deferred by the step hook script, pid \d+\): begin ses_/);
    await hook({ hook_event_name: 'SessionEnd', reason: 'exit' });
    assert.equal(await spareReady(f), pid, 'the session end left the standby as the spare');
  } finally {
    f.cleanup();
  }
});

test("a new data directory: `hooks install` makes the script's own directory, so the first session's start already starts a standby; hooks installed before that make it at their first Node event", { timeout: 120_000 }, async () => {
  const fresh = sessionFixture();
  const older = sessionFixture();
  try {
    assert.ok(!existsSync(join(fresh.home, 'fast-steps')), 'a data directory the script has never used');
    const install = spawnSync(process.execPath, [CLI, 'hooks', 'install', 'claude', '--dir', fresh.dir], { env: fresh.env, encoding: 'utf8' });
    assert.equal(install.status, 0, install.stderr);
    const settings = JSON.parse(readFileSync(join(fresh.dir, '.claude', 'settings.json'), 'utf8')) as { hooks: Record<string, { hooks: { command: string }[] }[]> };
    const command = (event: string) => settings.hooks[event]![0]!.hooks[0]!.command;
    const hook = async (f: Fixture, cmd: string, event: object) => assert.deepEqual(await started(f, cmd, { ...base(f), ...event }, f.env).done, [0, '', '']);
    await hook(fresh, command('SessionStart'), { hook_event_name: 'SessionStart', source: 'startup' });
    const pid = await standbyReady(fresh);
    await hook(fresh, command('SessionEnd'), { hook_event_name: 'SessionEnd', reason: 'exit' });
    assert.equal(await spareReady(fresh), pid, 'the session end left it as the spare');

    // Installed before: the script hands the first event to Node, which makes the directory.
    assert.ok(!existsSync(join(older.home, 'fast-steps')));
    await hook(older, PROMPT_COMMAND, { hook_event_name: 'SessionStart', source: 'startup' });
    assert.match(readFileSync(join(older.home, 'hooks.log'), 'utf8'), /claude SessionStart: ignored/, 'that event went to Node');
    assert.ok(existsSync(join(older.home, 'fast-steps', 'tmp')));
    await hook(older, PROMPT_COMMAND, { hook_event_name: 'SessionStart', source: 'resume' });
    const next = await standbyReady(older); // the next start went to the script, which started a standby
    await hook(older, PROMPT_COMMAND, { hook_event_name: 'SessionEnd', reason: 'exit' });
    assert.equal(await spareReady(older), next);
  } finally {
    fresh.cleanup();
    older.cleanup();
  }
});

test("a standby whose session ended is the data directory's spare: the next session's start hands it that session with its environment, and it records that session; a session it cannot take gets a standby of its own", { timeout: 120_000 }, async () => {
  const f = sessionFixture();
  try {
    const run = scriptSession(f);
    await run({ hook_event_name: 'SessionStart', source: 'startup' });
    const pid = await standbyReady(f);
    await run({ hook_event_name: 'SessionEnd', reason: 'exit' });
    assert.equal(await spareReady(f), pid);
    // Session s2, whose environment ignores b.txt: the spare takes it, and records it under that environment.
    const env2 = { ...f.env, SNAPLINE_CONFIG_CONTENT: JSON.stringify({ snapshot: { ignore: ['b.txt'] } }) };
    const s2 = (event: object) => run({ session_id: 's2', ...event }, env2);
    await s2({ hook_event_name: 'SessionStart', source: 'startup' });
    assert.equal(await standbyReady(f, standbyDir(f, 's2')), pid, "the spare is the new session's standby");
    await s2({ hook_event_name: 'UserPromptSubmit', prompt: 'change a.txt' });
    await s2({ hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'edit' } });
    writeFileSync(join(f.dir, 'a.txt'), 'one\ntwo\n');
    writeFileSync(join(f.dir, 'b.txt'), 'ignored\n');
    await s2({ hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'edit' }, tool_response: { stdout: '', stderr: '' } });
    await s2({ hook_event_name: 'Stop', stop_hook_active: false });
    waitForSummarizers(f.home);
    const log = readFileSync(join(f.home, 'hooks.log'), 'utf8');
    assert.match(log, new RegExp(`claude spare standby: pid ${pid} took session s2`));
    assert.match(log, new RegExp(`claude UserPromptSubmit \\(deferred by the step hook script, pid ${pid}\\): begin ses_`));
    assert.match(log, new RegExp(`claude PostToolUse \\(standby pid ${pid}\\): step ses_`));
    const step = parts(f).filter((p) => p.type === 'step-finish')[0]!.snapshot!;
    const ls = spawnSync('git', ['--git-dir', f.storeGitDir(), 'ls-tree', '--name-only', step], { encoding: 'utf8' }).stdout.split('\n');
    assert.ok(ls.includes('a.txt') && !ls.includes('b.txt'), `the step's snapshot follows s2's configuration: ${ls.join(' ')}`);
    await s2({ hook_event_name: 'SessionEnd', reason: 'exit' });
    assert.equal(await spareReady(f), pid, 'the spare again');
    // Session s3 with other Node options: not taken; it gets a standby of its own, and the spare waits on.
    const env3 = { ...f.env, NODE_OPTIONS: '--max-old-space-size=512' };
    await run({ session_id: 's3', hook_event_name: 'SessionStart', source: 'startup' }, env3);
    const own = await standbyReady(f, standbyDir(f, 's3'));
    assert.notEqual(own, pid);
    assert.match(readFileSync(join(f.home, 'hooks.log'), 'utf8'), new RegExp(`claude spare standby: pid ${pid} did not take session s3: NODE_OPTIONS differs`));
    assert.equal(await spareReady(f), pid);
  } finally {
    f.cleanup();
  }
});

test('a session end that finds the standby busy (no offer to claim) leaves it a mark, and the standby, once done, goes on as the spare', { timeout: 120_000 }, async () => {
  const f = sessionFixture();
  try {
    const run = scriptSession(f);
    await run({ hook_event_name: 'SessionStart', source: 'startup' });
    const pid = await standbyReady(f);
    await run({ hook_event_name: 'UserPromptSubmit', prompt: 'nothing to change' });
    await run({ hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'ls' } });
    await run({ hook_event_name: 'Stop', stop_hook_active: false });
    await logged(f, new RegExp(`claude end ses_\\w+: answered by the step hook script, recorded by the standby, pid ${pid}`), 'the standby recorded the end');
    await standbyReady(f);
    // Busy, as while it records an event: its offer is not there to claim.
    renameSync(join(standbyDir(f), 'ready'), join(f.home, 'offer-held'));
    await run({ hook_event_name: 'SessionEnd', reason: 'exit' });
    assert.equal(await spareReady(f), pid, 'the standby saw the session had ended and went on as the spare');
    assert.deepEqual(readdirSync(standbyDir(f)), [], "leaving nothing in the session's directory");
  } finally {
    f.cleanup();
  }
});

/**
 * Session s1 through the script with `waitMs` as the hooks' bound: its standby ready, the prompt
 * and the barrier recorded, a.txt changed by the tool, then the turn lock held (by this process)
 * and the tool's step handed to the standby, where it waits for the lock. Returns the standby's
 * pid, the hook runner and the lock's release.
 */
async function stepHeld(f: Fixture, waitMs: number) {
  const env = { ...f.env, SNAPLINE_CONFIG_CONTENT: JSON.stringify({ hooks: { waitMs } }) };
  const run = scriptSession(f);
  const hook = (event: object) => run(event, env);
  await hook({ hook_event_name: 'SessionStart', source: 'startup' });
  const pid = await standbyReady(f);
  await hook({ hook_event_name: 'UserPromptSubmit', prompt: 'change a.txt' });
  await hook({ hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'edit' } });
  writeFileSync(join(f.dir, 'a.txt'), 'one\ntwo\n');
  await standbyReady(f);
  const release = holdTurnLock(f);
  await hook({ hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'edit' }, tool_response: { stdout: '', stderr: '' } });
  return { env, pid, hook, release };
}

test("a step handed to the standby is deferred: the hook returns before the step is recorded, the barrier before the next tool waits for it, and the next tool's change is not in it", { timeout: 120_000 }, async () => {
  const f = sessionFixture();
  try {
    // The step waits for the turn lock in the standby; the hook has returned.
    const { env, pid, hook, release } = await stepHeld(f, 60_000);
    const session = join(f.home, 'fast-steps', 'claude', 's1');
    const marks = readdirSync(session).filter((n) => n.startsWith('stepping.'));
    assert.equal(marks.length, 1, 'the deferred step is marked');
    assert.equal(readFileSync(join(session, marks[0]!), 'utf8'), `${pid}\n`, "with the standby's pid");
    const barrier = started(f, PROMPT_COMMAND, { ...base(f), hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'more' } }, env);
    const big = started(f, PROMPT_COMMAND, { ...base(f), hook_event_name: 'PreToolUse', tool_name: 'Write', tool_input: { file_path: 'c.txt', content: 'x'.repeat(100 * 1024) } }, env);
    await sleep(1500);
    assert.equal(barrier.exited() || big.exited(), false, 'the next tool waits (through the script, and through Node for an event over 64 KiB)');
    release();
    assert.deepEqual(await barrier.done, [0, '', '']);
    assert.deepEqual(await big.done, [0, '', '']);
    assert.deepEqual(readdirSync(session).filter((n) => n.startsWith('stepping.')), [], 'the mark is gone once the step is recorded');
    writeFileSync(join(f.dir, 'c.txt'), 'next tool\n');
    await hook({ hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'more' }, tool_response: { stdout: '', stderr: '' } });
    await hook({ hook_event_name: 'Stop', stop_hook_active: false });
    await hook({ hook_event_name: 'SessionEnd', reason: 'exit' });
    const finishes = parts(f).filter((p) => p.type === 'step-finish').map((p) => p.snapshot!);
    assert.equal(finishes.length, 3, 'two steps and the end');
    const show = (tree: string, path: string) => spawnSync('git', ['--git-dir', f.storeGitDir(), 'show', `${tree}:${path}`], { encoding: 'utf8' });
    assert.equal(show(finishes[0]!, 'a.txt').stdout, 'one\ntwo\n', "the first step has its tool's change");
    assert.notEqual(show(finishes[0]!, 'c.txt').status, 0, "and not the next tool's");
    assert.equal(show(finishes[1]!, 'c.txt').stdout, 'next tool\n');
    assert.match(readFileSync(join(f.home, 'hooks.log'), 'utf8'), new RegExp(`claude PostToolUse \\(standby pid ${pid}\\): step ses_`));
  } finally {
    f.cleanup();
  }
});

/** The ends behind steps in the data directory of `f` (src/session/fast-steps.ts, endsBehind). */
const endsBehindOf = (f: Fixture) => readdirSync(join(f.home, 'fast-steps', 'ends')).filter((n) => /\+(behind|ending)\.\d+$/.test(n));

test("Claude Code's end while the standby still records the step goes behind it: the hook returns at once, and the turn ends with the step's snapshot at the end's time; the session's end returns at once too, and a reader waits for the end", { timeout: 120_000 }, async () => {
  const f = sessionFixture();
  try {
    // The step waits for the turn lock in the standby; its hook has returned.
    const { env, pid, release } = await stepHeld(f, 60_000);
    const stopped = Date.now();
    const stop = started(f, PROMPT_COMMAND, { ...base(f), hook_event_name: 'Stop', stop_hook_active: false }, env);
    await Promise.race([stop.done, sleep(5000)]);
    assert.ok(stop.exited(), 'the end does not wait for the step');
    assert.deepEqual(await stop.done, [0, '', '']);
    const [behind, ...more] = endsBehindOf(f);
    assert.ok(behind?.startsWith('claude+s1+behind.') && more.length === 0, `the end went behind the step: ${endsBehindOf(f).join(' ')}`);
    assert.equal(readFileSync(join(f.home, 'fast-steps', 'ends', behind), 'utf8').split('\n')[0], String(pid), "holding the standby's pid");
    const close = started(f, PROMPT_COMMAND, { ...base(f), hook_event_name: 'SessionEnd', reason: 'exit' }, env);
    await Promise.race([close.done, sleep(5000)]);
    assert.ok(close.exited(), 'the session end does not wait either');
    // A reader waits for the end (the turn must not be read as open).
    const reader = spawn(process.execPath, [CLI, 'session', 'list', '--dir', f.dir, '--format', 'json'], { env, stdio: 'ignore' });
    const read = new Promise<number | null>((resolve) => reader.on('close', resolve));
    await sleep(1000);
    assert.equal(reader.exitCode, null, 'the reader waits');
    const released = Date.now();
    release();
    assert.equal(await read, 0);
    const [turn] = assistants(f);
    assert.equal(turn!.finish, 'stop', 'the end was recorded before the reader read');
    const finishes = parts(f).filter((p) => p.type === 'step-finish').map((p) => p.snapshot!);
    assert.equal(finishes.length, 2, 'the step and the end');
    assert.equal(finishes[1], finishes[0], "the end's snapshot is the step's");
    assert.equal(spawnSync('git', ['--git-dir', f.storeGitDir(), 'show', `${finishes[1]}:a.txt`], { encoding: 'utf8' }).stdout, 'one\ntwo\n');
    const [completed] = f.db<{ t: number }>(`SELECT json_extract(data, '$.time.completed') AS t FROM message WHERE id = '${turn!.id}'`);
    assert.ok(completed!.t >= stopped - 1000 && completed!.t < released, `the end's time is the Stop's (${completed!.t - stopped} ms after it), not when it was recorded`);
    waitForSummarizers(f.home);
    assert.deepEqual(summaryDiffs(f, turn!.parent), [{ file: 'a.txt', additions: 1, deletions: 0 }]);
    assert.match(readFileSync(join(f.home, 'hooks.log'), 'utf8'), new RegExp(`claude end ses_\\w+: came behind the step \\(its snapshot is the end's\\), recorded by the standby, pid ${pid}`));
    assert.equal(await spareReady(f), pid, 'then the session end: the standby is the spare');
    assert.deepEqual(endsBehindOf(f), [], 'and nothing is left behind');
  } finally {
    f.cleanup();
  }
});

test('an end behind a step that failed is recorded as a Node end, with a snapshot of its own', { timeout: 120_000 }, async () => {
  const f = sessionFixture();
  try {
    // The step gives up on the busy workspace after 2 s; the end, waiting as long, gets it.
    const { pid, hook, release } = await stepHeld(f, 2000);
    await hook({ hook_event_name: 'Stop', stop_hook_active: false });
    assert.equal(endsBehindOf(f).length, 1, 'the end went behind the step');
    await sleep(3000);
    release();
    waitForSummarizers(f.home);
    const log = readFileSync(join(f.home, 'hooks.log'), 'utf8');
    assert.match(log, new RegExp(`claude PostToolUse \\(standby pid ${pid}\\): .*busy`), 'the step failed');
    assert.match(log, new RegExp(`claude Stop \\(standby pid ${pid}, behind the step\\): end ses_`), 'the end was recorded as a Node end');
    const [turn] = assistants(f);
    assert.equal(turn!.finish, 'stop');
    assert.deepEqual(summaryDiffs(f, turn!.parent), [{ file: 'a.txt', additions: 1, deletions: 0 }], "with the tool's change");
  } finally {
    f.cleanup();
  }
});
