/** Bad input: a one-line error, a non-zero exit, and nothing recorded. */
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Sqlite from 'better-sqlite3';
import { onPostgres } from './helpers/postgres.js';
import { oneLineError, sessionFixture, sessionOf } from './session-helpers.js';

test('bad input is refused with one line, a non-zero exit, and no rows written', () => {
  const f = sessionFixture();
  try {
    writeFileSync(join(f.dir, 'a.txt'), 'a\n');
    const sid = sessionOf(f.ok('run', 'one', '--dir', f.dir, '--format', 'json', '--exec', 'true'));
    const counts = () => f.db<{ s: number; m: number; p: number }>('SELECT (SELECT COUNT(*) FROM session) AS s, (SELECT COUNT(*) FROM message) AS m, (SELECT COUNT(*) FROM part) AS p')[0];
    const initial = counts();
    const cases: [string[], RegExp][] = [
      [['run', 'x', '--session', 'ses_nope', '--exec', 'true'], /no session 'ses_nope'/],
      [['run', 'x', '--session', sid, '--continue', '--exec', 'true'], /either --session or --continue/],
      [['run', 'x', '--dir', f.dir, '--exec', 'true', '--agent-cmd', 'echo'], /exactly one of --exec/],
      [['run', 'x', '--dir', f.dir], /exactly one of --exec/],
      [['run', 'x', '--dir', f.dir, '--agent-cmd', 'no-such-agent-snapline --flag'], /cannot start agent 'no-such-agent-snapline'/],
      [['run', 'x', '--dir', join(f.dir, 'missing'), '--exec', 'true'], /no such directory/],
      [['session', 'show', 'ses_nope'], /no session 'ses_nope'/],
      [['session', 'revert', sid, '--message', 'msg_nope'], /has no message 'msg_nope'/],
      [['session', 'revert', sid], /needs --message/],
      [['session', 'diff', sid, '--message', 'msg_nope'], /has no message/],
      [['session', 'unrevert', sid], /no revert to undo/],
      [['session', 'delete', 'ses_nope'], /no session/],
      [['session', 'frobnicate'], /unknown session subcommand/],
      [['db', `DELETE FROM session WHERE id = '${sid}'`], /writes to the database; pass --write/],
      [['db', 'DROP TABLE part'], /writes to the database/],
      [['db', 'SELEC nonsense'], /query failed/],
    ];
    for (const [args, re] of cases) {
      const r = f.cli(...args);
      assert.match(oneLineError(r), re, args.join(' '));
    }
    assert.deepEqual(counts(), initial);
  } finally {
    f.cleanup();
  }
});

test('a database that is not SQLite, or from a newer schema, is refused clearly', { skip: onPostgres && 'about SQLite files' }, () => {
  const f = sessionFixture();
  try {
    const dbPath = f.ok('db', 'path').trim();
    assert.equal(dbPath, join(f.home, 'snapline.db'));
    writeFileSync(dbPath, 'this is not a database, it is a text file\n'.repeat(10));
    for (const args of [['session', 'list'], ['db', 'SELECT 1'], ['run', 'x', '--dir', f.dir, '--exec', 'true']]) {
      assert.match(oneLineError(f.cli(...args)), /is not an SQLite database/, args.join(' '));
    }
    writeFileSync(dbPath, '');
    const fresh = new Sqlite(dbPath);
    fresh.pragma('user_version = 999');
    fresh.close();
    assert.match(oneLineError(f.cli('session', 'list')), /schema version 999 .* upgrade snapline/);
    assert.match(oneLineError(f.cli('db', 'SELECT 1')), /schema version 999/);
  } finally {
    f.cleanup();
  }
});

test('a failing command is still recorded and its exit code becomes snapline run\'s', () => {
  const f = sessionFixture();
  try {
    const r = f.cli('run', 'fail', '--dir', f.dir, '--format', 'json', '--exec', 'echo partial > p.txt; echo oops >&2; exit 7');
    assert.equal(r.status, 7);
    const sid = sessionOf(r.stdout);
    const tool = f.db<{ data: string }>(`SELECT data FROM part WHERE session_id = '${sid}' AND json_extract(data, '$.type') = 'tool'`)[0]!;
    const state = (JSON.parse(tool.data) as { state: { metadata: { exit: number; outputBytes: number }; output: string } }).state;
    assert.equal(state.metadata.exit, 7);
    assert.equal(state.output, 'oops\n');
    const summary = f.db<{ n: number }>(`SELECT json_extract(data, '$.summary.total.files') AS n FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user'`)[0]!;
    assert.equal(Number(summary.n), 1); // a number in SQLite, text from PostgreSQL's #>>
  } finally {
    f.cleanup();
  }
});

test('--agent-cmd runs the agent with the message as its last argument and stores its output (bounded)', () => {
  const f = sessionFixture();
  try {
    const agent = join(f.home, 'fake-agent.sh');
    writeFileSync(agent, '#!/bin/sh\necho "agent got: $2 / $1"\necho "$2" > from-agent.txt\nhead -c 100000 /dev/zero | tr "\\0" x\n', { mode: 0o755 });
    const r = f.cli('run', 'do the thing', '--dir', f.dir, '--format', 'json', '--agent-cmd', `'${agent}' "--opt with space"`);
    assert.equal(r.status, 0, r.stderr);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; part?: { text?: string; truncated?: boolean; bytes?: number } });
    assert.deepEqual(events.map((e) => e.type), ['step_start', 'text', 'step_finish']);
    const text = events[1]!.part!;
    assert.match(text.text!, /^agent got: do the thing \/ --opt with space\n/);
    assert.ok(text.text!.length <= 32 * 1024);
    assert.equal(text.truncated, true);
    assert.equal(text.bytes, 100000 + 'agent got: do the thing / --opt with space\n'.length);
    const sid = sessionOf(r.stdout);
    const files = f.db<{ files: string }>(`SELECT json_extract(data, '$.files') AS files FROM part WHERE session_id = '${sid}' AND json_extract(data, '$.type') = 'patch'`)[0]!;
    assert.deepEqual(JSON.parse(files.files), ['from-agent.txt']);
  } finally {
    f.cleanup();
  }
});

test('files a snapshot leaves out are warned about and recorded in the step parts, never dropped silently', () => {
  const f = sessionFixture();
  try {
    f.env.SNAPLINE_CONFIG_CONTENT = JSON.stringify({ snapshot: { maxFileSize: 1000 } });
    const r = f.cli('run', 'big', '--dir', f.dir, '--format', 'json', '--exec', 'head -c 5000 /dev/zero | tr "\\0" a > big.txt; echo ok > small.txt');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: not snapshotted \(after\): big\.txt — larger than snapshot\.maxFileSize \(5000 bytes\)/);
    const finish = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; part: { skipped?: unknown } }).find((e) => e.type === 'step_finish')!;
    assert.deepEqual(finish.part.skipped, [{ path: 'big.txt', reason: 'too-large', size: 5000 }]);
    const sid = sessionOf(r.stdout);
    assert.match(f.ok('session', 'show', sid), /not snapshotted: big\.txt/);
  } finally {
    f.cleanup();
  }
});
