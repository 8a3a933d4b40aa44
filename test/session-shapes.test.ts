/** Stored shapes that OpenCode's tools read: blob ids under `blobs`, required model fields, revert `paths`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { SCHEMA_VERSION } from '../src/session/db.js';
import { sessionFixture, sessionOf } from './session-helpers.js';

interface Row {
  id: string;
  data: string;
}

test('a recorded turn has OpenCode’s required fields and keeps blob ids out of before/after', () => {
  const f = sessionFixture();
  try {
    writeFileSync(join(f.dir, 'a.txt'), 'one\ntwo\n');
    f.git('add', '.');
    f.git('commit', '-qm', 'a');
    const sid = sessionOf(f.ok('run', '--format', 'json', '--exec', 'printf "one\\nthree\\nfour\\n" > a.txt && printf x > b.txt', 'edit'));
    const rows = f.db<Row>(`SELECT id, data FROM message WHERE session_id = '${sid}' ORDER BY id`);
    const [user, assistant] = rows.map((r) => JSON.parse(r.data) as Record<string, unknown>);
    assert.deepEqual(user!.model, { providerID: 'snapline', modelID: 'exec' });
    const diffs = (user!.summary as { diffs: Record<string, unknown>[] }).diffs;
    assert.equal(diffs.length, 2);
    for (const d of diffs) {
      assert.equal(d.before, undefined, 'before is read as file text by OpenCode clients');
      assert.equal(d.after, undefined);
      assert.equal(d.patch, undefined, 'no stored patch');
      assert.match((d.blobs as { after: { oid: string } }).after.oid, /^[0-9a-f]{40}$/);
    }
    assert.equal(assistant!.providerID, 'snapline');
    assert.equal(assistant!.modelID, 'exec');
    assert.equal(assistant!.cost, 0);
    assert.deepEqual(assistant!.tokens, { input: 0, output: 0, reasoning: 0, cache: { read: 0, write: 0 } });
    // The counts still agree with git's.
    const a = diffs.find((d) => d.file === 'a.txt')!;
    assert.deepEqual([a.additions, a.deletions], [2, 1]);
  } finally {
    f.cleanup();
  }
});

test('a database of schema 1 is migrated in place to the OpenCode shapes', () => {
  const f = sessionFixture();
  try {
    writeFileSync(join(f.dir, 'a.txt'), 'one\n');
    const sid = sessionOf(f.ok('run', '--format', 'json', '--exec', 'echo two >> a.txt', 'edit'));
    const user = f.db<Row>(`SELECT id FROM message WHERE session_id = '${sid}' ORDER BY id LIMIT 1`)[0]!.id;
    // Put the rows back the way snapline 0.1 (schema 1) wrote them.
    const db = new Sqlite(join(f.home, 'snapline.db'));
    const oldDiff = { file: 'a.txt', status: 'modified', additions: 1, deletions: 0, before: { oid: 'a'.repeat(40), size: 4 }, after: { oid: 'b'.repeat(40), size: 8 } };
    db.prepare('UPDATE message SET data = ? WHERE id = ?').run(JSON.stringify({ role: 'user', time: { created: 1 }, agent: 'exec', summary: { diffs: [oldDiff], total: { files: 1, additions: 1, deletions: 0 } } }), user);
    db.prepare("UPDATE message SET data = json_remove(data, '$.providerID', '$.modelID', '$.cost', '$.tokens') WHERE session_id = ? AND id != ?").run(sid, user);
    db.prepare('UPDATE session SET revert = ? WHERE id = ?').run(JSON.stringify({ messageID: user, snapshot: 'c'.repeat(40), files: 3, time: 5 }), sid);
    // (schema 1 had neither the agent columns of schema 2, these shapes, schema 4's busy_turn, nor schema 5's summary_pending.)
    db.exec('DROP INDEX session_agent_idx; ALTER TABLE session DROP COLUMN agent_session; ALTER TABLE session DROP COLUMN agent; ALTER TABLE session DROP COLUMN busy_turn; DROP TABLE summary_pending;');
    db.pragma('user_version = 1');
    db.close();

    f.ok('session', 'list'); // any command opening the database migrates it
    const [u, a] = f.db<Row>(`SELECT id, data FROM message WHERE session_id = '${sid}' ORDER BY id`).map((r) => JSON.parse(r.data) as Record<string, unknown>);
    assert.deepEqual(u!.model, { providerID: 'snapline', modelID: 'exec' });
    assert.deepEqual((u!.summary as { diffs: unknown[] }).diffs, [{ file: 'a.txt', status: 'modified', additions: 1, deletions: 0, blobs: { before: oldDiff.before, after: oldDiff.after } }]);
    assert.equal(a!.providerID, 'snapline');
    assert.equal(a!.cost, 0);
    assert.equal((a!.tokens as { input: number }).input, 0);
    const revert = JSON.parse(f.db<{ revert: string }>(`SELECT revert FROM session WHERE id = '${sid}'`)[0]!.revert) as Record<string, unknown>;
    assert.deepEqual(revert, { messageID: user, snapshot: 'c'.repeat(40), paths: 3, time: 5 });
    assert.equal(f.db<{ user_version: number }>('PRAGMA user_version')[0]!.user_version, SCHEMA_VERSION);
  } finally {
    f.cleanup();
  }
});
