/** Bounded memory and bounded rows: a 128 MiB file in one turn, and a turn touching thousands of long paths. */
import { strict as assert } from 'node:assert';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { measureProcess, mib } from '../src/procmem.js';
import { CLI } from './helpers/repo.js';
import { sessionFixture, sessionOf } from './session-helpers.js';

const TURN_SCRIPT = join(import.meta.dirname, '..', 'src', 'cli', 'demo-turn.js');

test('one turn rewriting a 128 MiB file: snapline run (git children included) peaks under 200 MiB', async () => {
  const f = sessionFixture();
  try {
    // Turn 1 creates the files, turn 2 rewrites them: both snapshots and the summary see 128 MiB.
    const sizes = `${128 * 1048576} ${1048576} ${8192}`;
    f.ok('run', 'create', '--dir', f.dir, '--exec', `node '${TURN_SCRIPT}' 1 ${sizes}`);
    const m = await measureProcess(process.execPath, [CLI, 'run', 'rewrite', '--dir', f.dir, '--continue', '--format', 'json', '--exec', `node '${TURN_SCRIPT}' 2 ${sizes}`], { env: f.env, cwd: f.dir, exclude: TURN_SCRIPT });
    assert.equal(m.status, 0, m.stderr);
    const sid = sessionOf(m.stdout);
    assert.ok(m.peakTreeRss < 200 * 1048576, `peak ${mib(m.peakTreeRss)} MiB`);
    const row = f.db<{ bytes: number; adds: number }>(`SELECT length(data) AS bytes, json_extract(data, '$.summary.total.additions') AS adds FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user' ORDER BY id DESC LIMIT 1`)[0]!;
    assert.ok(row.bytes < 4096, `row ${row.bytes} bytes`);
    assert.ok(row.adds > 2_000_000);
  } finally {
    f.cleanup();
  }
});

test('a turn touching 3000 files with long paths caps the stored list by count and bytes, keeping exact totals', () => {
  const f = sessionFixture();
  try {
    const long = 'd'.repeat(200);
    f.ok('run', 'many', '--dir', f.dir, '--format', 'json', '--exec', 'true');
    const base = join(f.dir, long, long.replace(/d/g, 'e'));
    mkdirSync(base, { recursive: true });
    const out = f.ok('run', 'many files', '--continue', '--format', 'json', '--exec', `cd '${base}' && for i in $(seq 1 3000); do printf 'line\\nline %s\\n' $i > "file-$i-${'x'.repeat(150)}.txt"; done`);
    const sid = sessionOf(out);
    const rows = f.db<{ bytes: number; n: number; files: number; adds: number; truncated: number }>(
      `SELECT length(CAST(data AS BLOB)) AS bytes, json_array_length(json_extract(data, '$.summary.diffs')) AS n, json_extract(data, '$.summary.total.files') AS files, json_extract(data, '$.summary.total.additions') AS adds, json_extract(data, '$.summary.truncated') AS truncated FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user' ORDER BY id DESC LIMIT 1`,
    )[0]!;
    assert.ok(rows.bytes < 64 * 1024, `message row ${rows.bytes} bytes`);
    assert.ok(rows.n > 0 && rows.n < 3000);
    assert.equal(rows.files, 3000);
    assert.equal(rows.adds, 6000);
    assert.equal(rows.truncated, 1);
    const parts = f.db<{ bytes: number }>(`SELECT MAX(length(CAST(data AS BLOB))) AS bytes FROM part WHERE session_id = '${sid}'`)[0]!;
    assert.ok(parts.bytes < 64 * 1024, `largest part ${parts.bytes} bytes`);
    const show = f.ok('session', 'show', sid);
    assert.match(show, /\+6000 -0 in 3000 files \(\d+ listed\)/);
  } finally {
    f.cleanup();
  }
});

test('ids are time-ordered: sessions newest first, messages and parts oldest first', async () => {
  const { newId, idTime } = await import('../src/session/id.js');
  const now = Date.now();
  const sessions = [newId('session', true, now), newId('session', true, now), newId('session', true, now + 5)];
  assert.deepEqual([...sessions].sort(), [sessions[2], sessions[1], sessions[0]]);
  const messages = Array.from({ length: 5000 }, () => newId('message', false, now + 10));
  assert.deepEqual([...messages].sort(), messages);
  assert.equal(new Set(messages).size, messages.length);
  assert.equal(idTime(sessions[2]!), now + 5);
  assert.match(sessions[0]!, /^ses_[0-9a-f]{14}[0-9A-Za-z]{12}$/);
});
