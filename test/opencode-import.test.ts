/** snapline import opencode: a session recorded by the real OpenCode (offline, scripted model) comes in with git's counts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAgent } from './helpers/agent-drivers.js';
import { startModelServer } from './helpers/model-server.js';
import { sessionFixture } from './session-helpers.js';

type Json = Record<string, unknown>;

/** OpenCode's snapshot git dirs under its data directory. */
function openCodeStores(data: string): string[] {
  const root = join(data, 'opencode', 'snapshot');
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    if (existsSync(join(d, 'objects')) && statSync(join(d, 'objects')).isDirectory()) out.push(d);
    if (depth < 2) for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name), depth + 1);
  };
  if (existsSync(root)) walk(root, 0);
  return out;
}

test('a session recorded by the real OpenCode imports into snapline with counts equal to git’s', { timeout: 600_000 }, async () => {
  const f = sessionFixture();
  const server = await startModelServer();
  let profile: string | undefined;
  try {
    writeFileSync(join(f.dir, 'base.txt'), Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join(''));
    f.git('add', '.');
    f.git('commit', '-qm', 'base');
    const turns = ["seq 1 300 > nums.txt && sed -i '5,9d' base.txt", "sed -i 's/^1/one/' nums.txt && rm base.txt && printf 'x\\ny\\n' > new.txt"];
    let sessionId: string | undefined;
    for (const [i, command] of turns.entries()) {
      server.enqueue({ tool: 'bash', command }, { text: `turn ${i + 1} done` });
      const run = await runAgent('opencode', { dir: f.dir, message: `Turn ${i + 1}.`, serverUrl: server.url, profile, sessionId, timeoutMs: 240_000 });
      assert.equal(run.exit, 0, `opencode run: ${run.stderr.slice(-2000)}`);
      profile = run.profile;
      sessionId = run.sessionId;
    }
    assert.ok(sessionId && profile);
    const data = join(profile, 'data');

    const r = f.cli('import', 'opencode', '--db', join(data, 'opencode', 'opencode.db'), '--format', 'json');
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { imported: { id: string; turns: number; recounted: number; messages: number }[] };
    assert.equal(result.imported.length, 1);
    assert.equal(result.imported[0]!.id, sessionId);
    assert.equal(result.imported[0]!.turns, 2);
    assert.equal(result.imported[0]!.recounted, 2, 'both turns recounted from OpenCode’s snapshot trees');

    // The oracle: git diff --numstat between each turn's first and last snapshot in OpenCode's store.
    const stores = openCodeStores(data);
    assert.ok(stores.length > 0, 'OpenCode kept a snapshot store');
    const users = f.db<{ id: string; data: string }>(`SELECT id, data FROM message WHERE session_id = '${sessionId}' AND json_extract(data, '$.role') = 'user' ORDER BY id`);
    const steps = f.db<{ mid: string; parent: string; type: string; snapshot: string }>(
      `SELECT p.message_id AS mid, json_extract(m.data, '$.parentID') AS parent, json_extract(p.data, '$.type') AS type, json_extract(p.data, '$.snapshot') AS snapshot
       FROM part p JOIN message m ON m.id = p.message_id WHERE p.session_id = '${sessionId}' AND json_extract(p.data, '$.type') IN ('step-start', 'step-finish') ORDER BY p.id`,
    );
    assert.equal(users.length, 2);
    const numstat = (a: string, b: string) => {
      for (const gitDir of stores) {
        try {
          return execFileSync('git', ['--git-dir', gitDir, 'diff', '--no-renames', '--numstat', a, b], { encoding: 'utf8' })
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => l.split('\t'))
            .map(([add, del, file]) => [file, Number(add), Number(del)]);
        } catch {
          // not this store
        }
      }
      throw new Error(`no store holds ${a} and ${b}`);
    };
    for (const [t, u] of users.entries()) {
      const mine = steps.filter((s) => s.parent === u.id);
      const from = mine.find((s) => s.type === 'step-start')!.snapshot;
      const to = mine.filter((s) => s.type === 'step-finish').at(-1)!.snapshot;
      const oracle = numstat(from, to);
      const summary = (JSON.parse(u.data) as { summary: { diffs: Json[]; total: Json } }).summary;
      assert.deepEqual(summary.diffs.map((d) => [d.file, d.additions, d.deletions]), oracle, `turn ${t + 1}`);
      assert.ok(oracle.length > 0, `turn ${t + 1} changed files`);
      for (const d of summary.diffs) for (const k of ['before', 'after', 'patch']) assert.equal(d[k], undefined, `no ${k} body`);
    }
    const nums = JSON.parse(users[0]!.data).summary.diffs.find((d: Json) => d.file === 'nums.txt');
    assert.deepEqual([nums.additions, nums.deletions], [300, 0]);

    const again = f.cli('import', 'opencode', '--db', join(data, 'opencode', 'opencode.db'), sessionId);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /already in snapline/);
  } finally {
    await server.close();
    f.cleanup();
    if (profile) rmSync(profile, { recursive: true, force: true });
  }
});

test('import opencode refuses a missing database and an unknown session with one line', () => {
  const f = sessionFixture();
  try {
    const missing = f.cli('import', 'opencode', '--db', join(f.home, 'nope.db'));
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /^snapline: cannot read OpenCode's database .*nope\.db: no such file/);
    f.ok('run', '--exec', 'true', 'x');
    // snapline's own database is an SQLite file with the same tables: good enough as a source.
    const unknown = f.cli('import', 'opencode', '--db', join(f.home, 'snapline.db'), 'ses_unknown');
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /has no session 'ses_unknown'/);
    assert.equal(unknown.stderr.trim().split('\n').length, 1);
  } finally {
    f.cleanup();
  }
});
