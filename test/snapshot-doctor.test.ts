/** snapshot doctor finds damaged objects that retained snapshots use, and names the sessions and turns. */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, openSync, readdirSync, rmSync, writeFileSync, writeSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sessionFixture, sessionOf } from './session-helpers.js';

interface DoctorJson {
  ok: boolean;
  damaged: { oid: string; kind: string; sessions: { id: string; turns: { number: number; messageID: string }[] }[] }[];
}

/** A session of three turns: turn 1 adds b.txt, turn 2 appends to a.txt, turn 3 adds c.txt. */
function threeTurns() {
  const f = sessionFixture();
  writeFileSync(join(f.dir, 'a.txt'), 'a\n');
  const sid = sessionOf(f.ok('run', 'one', '--format', 'json', '--exec', 'printf "bee\\n" > b.txt'));
  f.ok('run', 'two', '--session', sid, '--exec', 'echo more >> a.txt');
  f.ok('run', 'three', '--session', sid, '--exec', 'echo sea > c.txt');
  const users = f.db<{ id: string }>(`SELECT id FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user' ORDER BY id`).map((r) => r.id);
  const store = f.storeGitDir();
  const oid = (spec: string) => execFileSync('git', ['--git-dir', store, 'rev-parse', spec], { encoding: 'utf8' }).trim();
  return { f, sid, users, store, oid };
}

function loosePath(store: string, oid: string): string {
  return join(store, 'objects', oid.slice(0, 2), oid.slice(2));
}

test('doctor says ok on a healthy store with sessions', () => {
  const { f } = threeTurns();
  try {
    assert.match(f.ok('snapshot', 'doctor'), /^ok: /);
    const json = JSON.parse(f.ok('snapshot', 'doctor', '--format', 'json')) as DoctorJson;
    assert.equal(json.ok, true);
    assert.deepEqual(json.damaged, []);
  } finally {
    f.cleanup();
  }
});

test('an overwritten loose object is found and named with the sessions and turns that use it', () => {
  const { f, sid, users, store, oid } = threeTurns();
  try {
    // b.txt's blob exists from turn 1's end on: it is in turn 1's step-finish and every later snapshot.
    const b = oid(`${f.db<{ s: string }>(`SELECT json_extract(data, '$.snapshot') AS s FROM part WHERE session_id = '${sid}' AND json_extract(data, '$.type') = 'step-finish' ORDER BY id LIMIT 1`)[0]!.s}:b.txt`);
    const a = execFileSync('git', ['--git-dir', store, 'hash-object', join(f.dir, 'a.txt')], { encoding: 'utf8' }).trim();
    const path = loosePath(store, b);
    chmodSync(path, 0o644);
    // Another valid object's file in its place: present, inflates fine, wrong content.
    copyFileSync(loosePath(store, a), path);
    const r = f.cli('snapshot', 'doctor');
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const line = r.stdout.split('\n').find((l) => l.includes(b));
    assert.ok(line, r.stdout);
    assert.match(line!, new RegExp(`^damaged: ${b} \\(corrupt\\) — used by session ${sid} turns 1, 2, 3 \\(${users.join(', ')}\\)$`));
    const json = JSON.parse(f.cli('snapshot', 'doctor', '--format', 'json').stdout) as DoctorJson;
    assert.equal(json.ok, false);
    assert.deepEqual(json.damaged.map((d) => [d.oid, d.kind, d.sessions.map((s) => [s.id, s.turns.map((t) => t.number)])]), [[b, 'corrupt', [[sid, [1, 2, 3]]]]]);
  } finally {
    f.cleanup();
  }
});

test('a deleted object is reported missing, only for the turns whose snapshots reach it', () => {
  const { f, sid, users, store, oid } = threeTurns();
  try {
    const lastEnd = f.db<{ s: string }>(`SELECT json_extract(data, '$.snapshot') AS s FROM part WHERE session_id = '${sid}' AND json_extract(data, '$.type') = 'step-finish' ORDER BY id DESC LIMIT 1`)[0]!.s;
    const c = oid(`${lastEnd}:c.txt`);
    rmSync(loosePath(store, c), { force: true });
    const r = f.cli('snapshot', 'doctor');
    assert.equal(r.status, 1);
    assert.match(r.stdout, new RegExp(`^damaged: ${c} \\(missing\\) — used by session ${sid} turn 3 \\(${users[2]}\\)$`, 'm'));
  } finally {
    f.cleanup();
  }
});

test('a corrupted packed object (a big file, stored straight into a pack) is found', () => {
  const f = sessionFixture();
  try {
    writeFileSync(join(f.dir, 'a.txt'), 'a\n');
    const sid = sessionOf(f.ok('run', 'big', '--format', 'json', '--exec', `node -e "require('fs').writeFileSync('big.bin', require('crypto').randomBytes(3 << 20))"`));
    const store = f.storeGitDir();
    const packs = readdirSync(join(store, 'objects', 'pack')).filter((n) => n.endsWith('.pack'));
    assert.equal(packs.length, 1, 'a blob over core.bigFileThreshold goes into a pack');
    const pack = join(store, 'objects', 'pack', packs[0]!);
    chmodSync(pack, 0o644);
    const fd = openSync(pack, 'r+');
    writeSync(fd, Buffer.from('XXXXXXXX'), 0, 8, Math.floor(statSync(pack).size / 2));
    closeSync(fd);
    const r = f.cli('snapshot', 'doctor');
    assert.equal(r.status, 1);
    const user = f.db<{ id: string }>(`SELECT id FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user'`)[0]!.id;
    assert.match(r.stdout, new RegExp(`^damaged: [0-9a-f]{40} \\(corrupt\\) — used by session ${sid} turn 1 \\(${user}\\)$`, 'm'));
  } finally {
    f.cleanup();
  }
});
