/** The user report's scenario (small sizes) end to end through the CLI, checked with the report's own SQL. */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPORT_FILES, REPORT_QUERIES, reportQuery } from '../src/session/report.js';
import { onPostgres } from './helpers/postgres.js';
import { sessionFixture, sessionOf } from './session-helpers.js';

const TURN_SCRIPT = join(import.meta.dirname, '..', 'src', 'cli', 'demo-turn.js');
const SIZES = [200 * 1024, 150 * 1024, 8 * 1024];
const f = sessionFixture();
let sid = '';
const runOutputs: string[] = [];

before(() => {
  f.git('config', 'user.name', 't');
  f.git('config', 'user.email', 't@example.com');
  execFileSync('mkdir', ['-p', join(f.dir, 'src')]);
  execFileSync('sh', ['-c', 'printf "hello\\n" > src/main.txt'], { cwd: f.dir });
  f.git('add', '.');
  f.git('commit', '-qm', 'init');
  for (let t = 1; t <= 3; t++) {
    const target = t === 1 ? ['--title', 'report'] : ['--session', sid];
    const out = f.ok('run', `turn ${t}`, '--dir', f.dir, ...target, '--format', 'json', '--exec', `node '${TURN_SCRIPT}' ${t} ${SIZES.join(' ')}`);
    runOutputs.push(out);
    if (t === 1) sid = sessionOf(out);
  }
});
after(() => f.cleanup());

test('run --format json prints step_start, tool_use and step_finish events with the session id', () => {
  for (const out of runOutputs) {
    const events = out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; sessionID: string; part: { type: string; snapshot?: string; messageID: string } });
    assert.deepEqual(events.map((e) => e.type), ['step_start', 'tool_use', 'step_finish']);
    for (const e of events) assert.equal(e.sessionID, sid);
    assert.match(events[0]!.part.snapshot!, /^[0-9a-f]{40}$/);
    assert.equal(events[1]!.part.type, 'tool');
  }
});

test("the report's SQL queries run unchanged: no bodies, small rows", { skip: onPostgres && "the report's queries are SQLite's SQL" }, () => {
  const results = REPORT_QUERIES.map((q) => f.db(reportQuery(q.sql, sid)));
  const [totals, largest, users, payload, biggest, perFile] = results as [Record<string, number>[], Record<string, unknown>[], Record<string, number>[], Record<string, number>[], Record<string, number>[], Record<string, number>[]];
  assert.equal(totals[0]!.message_count, 6);
  assert.equal(totals[0]!.part_count, 3 * (1 + 4)); // user text + step-start, tool, step-finish, patch
  assert.ok(totals[0]!.message_bytes! < 16 * 1024, `message bytes ${totals[0]!.message_bytes}`);
  assert.ok(totals[0]!.part_bytes! < 32 * 1024, `part bytes ${totals[0]!.part_bytes}`);
  for (const r of largest) assert.ok((r.bytes as number) < 64 * 1024);
  assert.equal(users.length, 3);
  for (const r of users) assert.equal(r.diff_count, 4);
  // No before/after at all (blob ids are under `blobs`): the report's body bytes are zero.
  for (const r of [...payload, ...biggest]) assert.equal(r.diff_body_bytes, 0);
  assert.equal(perFile.length, 4);
  for (const r of perFile) assert.ok(r.total_bytes! <= 160, `${JSON.stringify(r)}`);
});

test('per-turn counts equal git diff --numstat on the snapshot trees (git as the oracle)', () => {
  const steps = f.db<{ mid: string; type: string; snapshot: string }>(
    `SELECT message_id AS mid, json_extract(data, '$.type') AS type, json_extract(data, '$.snapshot') AS snapshot FROM part WHERE session_id = '${sid}' AND json_extract(data, '$.type') IN ('step-start','step-finish') ORDER BY id`,
  );
  const users = f.db<{ id: string; data: string }>(`SELECT id, data FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user' ORDER BY id`);
  assert.equal(steps.length, 6);
  let sessionAdds = 0;
  for (let t = 0; t < 3; t++) {
    const from = steps[2 * t]!.snapshot;
    const to = steps[2 * t + 1]!.snapshot;
    const oracle = execFileSync('git', ['--git-dir', f.storeGitDir(), 'diff', '--no-renames', '--numstat', from, to], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.split('\t'))
      .map(([a, d, file]) => ({ file, additions: Number(a), deletions: Number(d) }));
    const summary = (JSON.parse(users[t]!.data) as { summary: { diffs: { file: string; additions: number; deletions: number; blobs: { after?: { oid: string; size: number } } }[]; total: { files: number; additions: number; deletions: number } } }).summary;
    assert.deepEqual(
      summary.diffs.map((d) => ({ file: d.file, additions: d.additions, deletions: d.deletions })),
      oracle,
      `turn ${t + 1}`,
    );
    assert.deepEqual(summary.diffs.map((d) => d.file).sort(), Object.values(REPORT_FILES).sort());
    assert.equal(summary.total.files, oracle.length);
    assert.equal(summary.total.additions, oracle.reduce((s, o) => s + o.additions, 0));
    const big = summary.diffs.find((d) => d.file === REPORT_FILES.big1)!;
    assert.equal(big.blobs.after!.size, SIZES[0]);
    assert.deepEqual(Object.keys(big.blobs.after!).sort(), ['oid', 'size']);
    sessionAdds += summary.total.additions;
  }
  // Session totals: the net change from the first snapshot to the last, as git counts it.
  const first = steps[0]!.snapshot;
  const last = steps[5]!.snapshot;
  const net = execFileSync('git', ['--git-dir', f.storeGitDir(), 'diff', '--no-renames', '--numstat', first, last], { encoding: 'utf8' }).trim().split('\n');
  const row = f.db<{ summary_additions: number; summary_deletions: number; summary_files: number }>(`SELECT summary_additions, summary_deletions, summary_files FROM session WHERE id = '${sid}'`)[0]!;
  assert.equal(row.summary_files, net.length);
  assert.equal(row.summary_additions, net.reduce((s, l) => s + Number(l.split('\t')[0]), 0));
  assert.ok(sessionAdds > row.summary_additions);
});

test('session list, show and diff (stored stats and on-demand patch) agree with the stored summaries', () => {
  const list = JSON.parse(f.ok('session', 'list', '--format', 'json')) as { id: string; title: string }[];
  assert.deepEqual(list.map((s) => [s.id, s.title]), [[sid, 'report']]);
  const show = JSON.parse(f.ok('session', 'show', sid, '--format', 'json', '--limit', '2', '--offset', '2')) as { total: number; messages: { id: string; parts: unknown[] }[] };
  assert.equal(show.total, 6);
  assert.equal(show.messages.length, 2);
  const text = f.ok('session', 'show', sid);
  assert.match(text, /tool bash: .*→ exit 0/);
  const users = f.db<{ id: string }>(`SELECT id FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user' ORDER BY id`);
  const patch = f.ok('session', 'diff', sid, '--message', users[2]!.id, '--patch', '--file', REPORT_FILES.main);
  assert.match(patch, /^diff --git a\/src\/main\.txt b\/src\/main\.txt\n/);
  assert.match(patch, /\n\+turn 3\n/);
  const stats = JSON.parse(f.ok('session', 'diff', sid, '--message', users[0]!.id, '--format', 'json')) as { diffs: { file: string }[] };
  assert.equal(stats.diffs.length, 4);
  // Paged patch: pages joined equal the unpaged patch.
  const whole = f.ok('session', 'diff', sid, '--message', users[1]!.id, '--patch');
  let joined = '';
  let cursor: string | null = null;
  for (let i = 0; i < 100; i++) {
    const page = JSON.parse(f.ok('session', 'diff', sid, '--message', users[1]!.id, '--patch', '--format', 'json', '--max-bytes', '65536', ...(cursor ? ['--continue', cursor] : []))) as { patch: string; next: string | null };
    joined += page.patch;
    cursor = page.next;
    if (!cursor) break;
  }
  assert.equal(joined, whole);
});
