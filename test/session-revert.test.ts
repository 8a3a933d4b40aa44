/** Revert and unrevert through the CLI: byte-exact states, and files the session never changed are never touched. */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sessionFixture, sessionOf } from './session-helpers.js';

function state(dir: string, files: string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const f of files) out[f] = existsSync(join(dir, f)) ? readFileSync(join(dir, f)).toString('base64') : null;
  return out;
}

test('revert and unrevert round trips restore exactly the session-changed paths and nothing else', () => {
  const f = sessionFixture();
  try {
    const files = ['a.txt', 'b.bin', 'dir/c.txt', 'new.txt', 'gone.txt'];
    mkdirSync(join(f.dir, 'dir'));
    writeFileSync(join(f.dir, 'a.txt'), 'one\ntwo\n');
    writeFileSync(join(f.dir, 'gone.txt'), 'bye\n');
    writeFileSync(join(f.dir, 'unrelated.txt'), 'mine v1\n');
    const s0 = state(f.dir, files);
    // turn 1: modify a, add a binary, add dir/c
    const sid = sessionOf(f.ok('run', 'turn 1', '--dir', f.dir, '--format', 'json', '--exec', "printf 'one\\nTWO\\n' > a.txt; printf 'x\\0y' > b.bin; echo c > dir/c.txt"));
    const s1 = state(f.dir, files);
    // Outside any turn the user edits a file the session never touches.
    writeFileSync(join(f.dir, 'unrelated.txt'), 'mine v2\n');
    f.ok('run', 'turn 2', '--session', sid, '--exec', 'rm gone.txt; echo new > new.txt; echo more >> a.txt; rm -r dir');
    const s2 = state(f.dir, files);
    const old = new Date('2001-01-01T00:00:00Z');
    utimesSync(join(f.dir, 'unrelated.txt'), old, old);
    const before = statSync(join(f.dir, 'unrelated.txt')).mtimeMs;

    const users = f.db<{ id: string }>(`SELECT id FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user' ORDER BY id`).map((r) => r.id);
    const check = (expected: Record<string, string | null>, label: string) => {
      assert.deepEqual(state(f.dir, files), expected, label);
      assert.equal(readFileSync(join(f.dir, 'unrelated.txt'), 'utf8'), 'mine v2\n', `${label}: unrelated content`);
      assert.equal(statSync(join(f.dir, 'unrelated.txt')).mtimeMs, before, `${label}: unrelated mtime`);
    };

    f.ok('session', 'revert', sid, '--message', users[1]!);
    check(s1, 'revert turn 2');
    const revert = JSON.parse(f.db<{ revert: string }>(`SELECT revert FROM session WHERE id = '${sid}'`)[0]!.revert) as { messageID: string; snapshot: string };
    assert.equal(revert.messageID, users[1]);
    f.ok('session', 'unrevert', sid);
    check(s2, 'unrevert');
    assert.equal(f.db<{ revert: string | null }>(`SELECT revert FROM session WHERE id = '${sid}'`)[0]!.revert, null);

    f.ok('session', 'revert', sid, '--message', users[0]!);
    check(s0, 'revert turn 1');
    // Reverting again to a later turn while reverted first undoes the earlier revert.
    f.ok('session', 'revert', sid, '--message', users[1]!);
    check(s1, 'revert turn 2 while reverted');
    f.ok('session', 'unrevert', sid);
    check(s2, 'unrevert after two reverts');

    // A new turn on a reverted session discards the reverted turns.
    f.ok('session', 'revert', sid, '--message', users[1]!);
    const out = f.ok('run', 'turn 2 again', '--session', sid, '--exec', 'echo again > new.txt');
    assert.match(out, /discarded 2 reverted messages/);
    const left = f.db<{ id: string }>(`SELECT id FROM message WHERE session_id = '${sid}' ORDER BY id`).map((r) => r.id);
    assert.equal(left.length, 4);
    assert.equal(left[0], users[0]);
    assert.ok(!left.includes(users[1]!));
    assert.equal(readFileSync(join(f.dir, 'new.txt'), 'utf8'), 'again\n');
    assert.equal(f.cli('session', 'unrevert', sid).status, 2);
  } finally {
    f.cleanup();
  }
});

test('delete removes the rows and releases the snapshot refs; revert is refused while a turn runs', async () => {
  const f = sessionFixture();
  try {
    writeFileSync(join(f.dir, 'a.txt'), 'a\n');
    const sid = sessionOf(f.ok('run', 'one', '--dir', f.dir, '--format', 'json', '--exec', 'echo b >> a.txt'));
    const msg = f.db<{ id: string }>(`SELECT id FROM message WHERE session_id = '${sid}' ORDER BY id LIMIT 1`)[0]!.id;
    // A turn marked running by a live process (this test's) refuses revert; a dead pid does not.
    f.ok('db', '--write', `UPDATE session SET busy_pid = ${process.pid}, busy_host = '${(await import('node:os')).hostname()}' WHERE id = '${sid}'`);
    const busy = f.cli('session', 'revert', sid, '--message', msg);
    assert.notEqual(busy.status, 0);
    assert.match(busy.stderr, /is running a turn/);
    assert.equal(readFileSync(join(f.dir, 'a.txt'), 'utf8'), 'a\nb\n');
    f.ok('db', '--write', `UPDATE session SET busy_pid = 999999999 WHERE id = '${sid}'`);
    f.ok('session', 'revert', sid, '--message', msg);
    assert.equal(readFileSync(join(f.dir, 'a.txt'), 'utf8'), 'a\n');

    const refs = () => f.git('--git-dir', f.storeGitDir(), 'for-each-ref', 'refs/snapline/');
    assert.match(refs(), new RegExp(sid));
    f.ok('session', 'delete', sid);
    assert.equal(refs().trim(), '');
    for (const t of ['session', 'message', 'part']) assert.equal(f.db<{ n: number }>(`SELECT COUNT(*) AS n FROM ${t}`)[0]!.n, 0);
  } finally {
    f.cleanup();
  }
});
