/** Names a person can type, paths checked against the workspace, and JSON errors for JSON readers. */
import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '../src/session/db.js';
import { resolveMessageRef, resolveSessionRef } from '../src/session/resolve.js';
import { AmbiguousId, NoSessionHere, UnknownMessage, UnknownSession, UnknownTurn } from '../src/session/errors.js';
import { CLI } from './helpers/repo.js';
import { oneLineError, sessionFixture, sessionOf, type CliResult } from './session-helpers.js';

/** Two sessions in the workspace; the second (latest) has three turns. */
function fixture() {
  const f = sessionFixture();
  writeFileSync(join(f.dir, 'a.txt'), 'a\n');
  const older = sessionOf(f.ok('run', 'other', '--format', 'json', '--exec', 'echo x > x.txt'));
  const sid = sessionOf(f.ok('run', 'one', '--format', 'json', '--exec', 'echo b > b.txt'));
  f.ok('run', 'two', '--session', sid, '--exec', 'echo more >> a.txt');
  f.ok('run', 'three', '--session', sid, '--exec', 'echo c > c.txt');
  const users = f.db<{ id: string }>(`SELECT id FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user' ORDER BY id`).map((r) => r.id);
  return { f, sid, older, users };
}

/** The shortest prefix of `id` that no other id in `others` shares. */
function uniquePrefix(id: string, others: string[]): string {
  for (let n = 5; n <= id.length; n++) if (!others.some((o) => o !== id && o.startsWith(id.slice(0, n)))) return id.slice(0, n);
  return id;
}

function cliIn(f: ReturnType<typeof sessionFixture>, cwd: string, ...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, env: f.env, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('resolveSessionRef and resolveMessageRef: ids, prefixes, turn numbers, last, latest session', async () => {
  const { f, sid, older, users } = fixture();
  const db = openDatabase(f.env.SNAPLINE_DATABASE_URL ?? join(f.home, 'snapline.db'));
  try {
    assert.equal(await resolveSessionRef(db, sid, f.dir), sid);
    assert.equal(await resolveSessionRef(db, uniquePrefix(sid, [older]), f.dir), sid);
    assert.equal(await resolveSessionRef(db, uniquePrefix(sid, [older]).slice('ses_'.length), f.dir), sid, 'ses_ may be left out');
    assert.equal(await resolveSessionRef(db, undefined, f.dir), sid, 'no id: the latest session of the workspace');
    assert.equal(await resolveSessionRef(db, undefined, join(f.dir)), sid);
    await assert.rejects(resolveSessionRef(db, 'ses_', f.dir), (e: unknown) => e instanceof AmbiguousId && e.candidates.includes(sid) && e.candidates.includes(older));
    await assert.rejects(resolveSessionRef(db, 'ses_zzzz', f.dir), UnknownSession);
    const empty = join(f.home, 'elsewhere');
    mkdirSync(empty);
    await assert.rejects(resolveSessionRef(db, undefined, empty), NoSessionHere);

    const all = f.db<{ id: string }>(`SELECT id FROM message WHERE session_id = '${sid}'`).map((r) => r.id);
    for (const [ref, want] of [['1', users[0]], ['2', users[1]], ['3', users[2]], ['last', users[2]], [users[1]!, users[1]], [uniquePrefix(users[1]!, all), users[1]], [uniquePrefix(users[1]!, all).slice('msg_'.length), users[1]]] as const) {
      assert.equal(resolveMessageRef(db, sid, ref), want, ref);
    }
    const assistant = f.db<{ id: string }>(`SELECT id FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'assistant' ORDER BY id`)[0]!.id;
    assert.equal(resolveMessageRef(db, sid, assistant), assistant, 'a full id is taken as it is');
    assert.throws(() => resolveMessageRef(db, sid, '4'), UnknownTurn);
    assert.throws(() => resolveMessageRef(db, sid, '0'), UnknownTurn);
    assert.throws(() => resolveMessageRef(db, sid, 'msg_'), AmbiguousId);
    assert.throws(() => resolveMessageRef(db, sid, 'msg_zzzz'), UnknownMessage);
    assert.throws(() => resolveMessageRef(db, older, users[0]!), UnknownMessage, "another session's message is not this session's");
  } finally {
    db.close();
    f.cleanup();
  }
});

test('the CLI takes turn numbers, last, prefixes, and the latest session when the id is left out', () => {
  const { f, sid, older, users } = fixture();
  try {
    // session show numbers the turns; text and json agree.
    const shown = f.ok('session', 'show');
    assert.match(shown, new RegExp(`^${sid}  `));
    for (const [i, u] of users.entries()) assert.match(shown, new RegExp(`^#${i + 1}  ${u}  user`, 'm'));
    const view = JSON.parse(f.ok('session', 'show', uniquePrefix(sid, [older]), '--format', 'json')) as { messages: { id: string; turn?: number; data: { role: string } }[] };
    assert.deepEqual(view.messages.filter((m) => m.data.role === 'user').map((m) => [m.id, m.turn]), users.map((u, i) => [u, i + 1]));
    assert.ok(view.messages.every((m) => typeof m.turn === 'number'), 'assistant messages carry the turn they answer');

    // diff by turn number equals diff by id.
    const byNumber = JSON.parse(f.ok('session', 'diff', '--message', '2', '--format', 'json')) as { messageID: string; turn: number; diffs: { file: string }[] };
    assert.equal(byNumber.messageID, users[1]);
    assert.equal(byNumber.turn, 2);
    assert.deepEqual(byNumber.diffs.map((d) => d.file), ['a.txt']);
    assert.equal(f.ok('session', 'diff', sid, '--message', 'last', '--patch'), f.ok('session', 'diff', sid, '--message', users[2]!, '--patch'));

    // revert by turn number, unrevert with no id at all.
    const before = readFileSync(join(f.dir, 'a.txt'), 'utf8');
    const reverted = JSON.parse(f.ok('session', 'revert', '--message', '2', '--format', 'json')) as { sessionID: string; messageID: string };
    assert.deepEqual([reverted.sessionID, reverted.messageID], [sid, users[1]]);
    assert.equal(readFileSync(join(f.dir, 'a.txt'), 'utf8'), 'a\n');
    f.ok('session', 'unrevert');
    assert.equal(readFileSync(join(f.dir, 'a.txt'), 'utf8'), before);

    // run --session takes a prefix.
    const more = sessionOf(f.ok('run', 'four', '--session', uniquePrefix(sid, [older]), '--format', 'json', '--exec', 'true'));
    assert.equal(more, sid);

    // errors: ambiguous prefix, turn out of range, delete without an id.
    assert.match(oneLineError(f.cli('session', 'show', 'ses_')), new RegExp(`'ses_' matches more than one id: .*${sid}`));
    assert.match(oneLineError(f.cli('session', 'diff', sid, '--message', '9')), /has 4 turns, so there is no turn 9/);
    assert.match(oneLineError(f.cli('session', 'revert', sid, '--message', 'msg_')), /matches more than one id/);
    assert.match(oneLineError(f.cli('session', 'delete')), /needs a session id/);
    assert.match(oneLineError(cliIn(f, f.home, 'session', 'show')), /no session recorded in /);
    f.ok('session', 'delete', uniquePrefix(older, [sid]));
    assert.deepEqual(f.db<{ id: string }>('SELECT id FROM session').map((r) => r.id), [sid]);
  } finally {
    f.cleanup();
  }
});

test('session diff --file: paths outside the workspace are refused; paths are relative to the current directory', () => {
  const { f, sid } = fixture();
  try {
    for (const bad of ['../../etc/passwd', '/etc/passwd', '..', '.']) {
      const r = f.cli('session', 'diff', sid, '--file', bad);
      assert.equal(r.status, 2, bad);
      assert.match(oneLineError(r), new RegExp(`refusing path '${bad.replace(/[.]/g, '\\.')}': it is (outside the workspace|the workspace) ${f.dir}`), bad);
      assert.equal(r.stdout, '', bad);
    }
    assert.equal(f.cli('session', 'diff', sid, '--file', '../../etc/passwd', '--patch').status, 2);
    // From a subdirectory, ../a.txt is the workspace's a.txt; an absolute path inside works too.
    mkdirSync(join(f.dir, 'sub'));
    const fromSub = JSON.parse(cliIn(f, join(f.dir, 'sub'), 'session', 'diff', sid, '--file', '../a.txt', '--format', 'json').stdout) as { diffs: { file: string }[] };
    assert.deepEqual(fromSub.diffs.map((d) => d.file), ['a.txt']);
    const abs = JSON.parse(f.ok('session', 'diff', sid, '--file', join(f.dir, 'c.txt'), '--format', 'json')) as { diffs: { file: string }[] };
    assert.deepEqual(abs.diffs.map((d) => d.file), ['c.txt']);
    // A path no turn touched: empty, exit 0, and said on stderr.
    const none = f.cli('session', 'diff', sid, '--file', 'never.txt');
    assert.equal(none.status, 0);
    assert.match(none.stderr, /the session did not change 'never\.txt'/);
  } finally {
    f.cleanup();
  }
});

test('with --format json a failure is also one JSON object on stdout (run: an error event)', () => {
  const { f, sid } = fixture();
  try {
    const cases: [string[], string][] = [
      [['session', 'show', 'ses_nope', '--format', 'json'], 'unknown-session'],
      [['session', 'diff', sid, '--message', '9', '--format=json'], 'unknown-turn'],
      [['session', 'diff', sid, '--file', '../../etc/passwd', '--format', 'json'], 'path-outside-workspace'],
      [['session', 'list', '--format', 'json', '--limit', 'x'], 'usage'],
      [['snapshot', 'track', '--format', 'json', '--dir', join(f.dir, 'missing')], 'workspace-not-found'],
    ];
    for (const [args, name] of cases) {
      const r = f.cli(...args);
      assert.notEqual(r.status, 0, args.join(' '));
      oneLineError(r);
      const lines = r.stdout.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, args.join(' '));
      const e = JSON.parse(lines[0]!) as { error: { name: string; message: string } };
      assert.equal(e.error.name, name, args.join(' '));
      assert.equal(`snapline: ${e.error.message}`, r.stderr.trim());
    }
    // run: failures before the turn starts are error events too.
    for (const [args, name] of [
      [['run', 'x', '--session', 'ses_nope', '--format', 'json', '--exec', 'true'], 'unknown-session'],
      [['run', 'x', '--format', 'json'], 'usage'],
      [['run', 'x', '--format', 'json', '--dir', join(f.dir, 'missing'), '--exec', 'true'], 'workspace-not-found'],
    ] as const) {
      const r = f.cli(...args);
      assert.notEqual(r.status, 0);
      const lines = r.stdout.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, args.join(' '));
      const ev = JSON.parse(lines[0]!) as { type: string; timestamp: number; error: { name: string; data: { message: string } } };
      assert.equal(ev.type, 'error');
      assert.equal(typeof ev.timestamp, 'number');
      assert.equal(ev.error.name, name);
      assert.equal(`snapline: ${ev.error.data.message}`, r.stderr.trim());
    }
    // Without --format json, stdout stays empty.
    assert.equal(f.cli('session', 'show', 'ses_nope').stdout, '');
  } finally {
    f.cleanup();
  }
});
