/** `snapline serve` checked with OpenCode's own client, @opencode-ai/sdk (pinned), and plain HTTP for the rest. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createOpencodeClient, type OpencodeClient } from '@opencode-ai/sdk/v2/client';
import { childrenMatching } from '../src/procmem.js';
import { CLI } from './helpers/repo.js';
import { sessionFixture, sessionOf } from './session-helpers.js';
import { startServe, type ServeProcess } from './server-helpers.js';

const f = sessionFixture();
let server: ServeProcess;
let client: OpencodeClient;
let sid: string;
let turns: string[];

const BIG_LINES = 6000;
const HUGE_LINES = 200_000;

before(async () => {
  writeFileSync(join(f.dir, 'keep.txt'), 'untouched\n');
  writeFileSync(join(f.dir, 'a.txt'), 'one\ntwo\n');
  f.git('add', '.');
  f.git('commit', '-qm', 'base');
  sid = sessionOf(f.ok('run', '--format', 'json', '--title', 'review me', '--exec', 'printf "one\\n2\\nthree\\n" > a.txt', 'turn one'));
  f.ok('run', '--session', sid, '--exec', `seq 1 ${BIG_LINES} > big.txt`, 'turn two');
  f.ok('run', '--session', sid, '--exec', 'rm a.txt && echo new > b.txt', 'turn three');
  // Over 1 MiB (1.27 MB): its patch is produced in a patch process of the server.
  f.ok('run', '--title', 'another', '--exec', `seq 1 ${HUGE_LINES} > huge.txt`, 'other session');
  turns = f.db<{ id: string }>(`SELECT id FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user' ORDER BY id`).map((r) => r.id);
  server = await startServe(f.dir, f.env);
  client = createOpencodeClient({ baseUrl: server.url, headers: { 'x-snapline-token': server.token } });
});

after(async () => {
  await server?.stop();
  f.cleanup();
});

/** git's patch of one file between a turn's snapshots (the oracle). */
function gitPatch(turn: string, file: string): string {
  const steps = f.db<{ type: string; snapshot: string }>(
    `SELECT json_extract(p.data, '$.type') AS type, json_extract(p.data, '$.snapshot') AS snapshot FROM part p JOIN message m ON m.id = p.message_id
     WHERE json_extract(m.data, '$.parentID') = '${turn}' AND json_extract(p.data, '$.type') IN ('step-start', 'step-finish') ORDER BY p.id`,
  );
  // The store sets a low core.bigFileThreshold (to stream big blobs); git's default is put back, so big text files are compared as text.
  return execFileSync('git', ['-c', 'core.bigFileThreshold=512m', '--git-dir', f.storeGitDir(), 'diff', '--no-renames', steps[0]!.snapshot, steps[1]!.snapshot, '--', file], { encoding: 'utf8', maxBuffer: 1 << 26 });
}

test('health, session list (limit, search) and get through the SDK', async () => {
  const health = await client.global.health();
  assert.deepEqual(health.data, { healthy: true, version: '0.1.0' });
  const all = await client.session.list();
  assert.equal(all.data!.length, 2);
  const found = await client.session.list({ search: 'REVIEW' });
  assert.deepEqual(found.data!.map((s) => s.id), [sid]);
  const one = await client.session.list({ limit: 1 });
  assert.equal(one.data!.length, 1);
  const s = await client.session.get({ sessionID: sid });
  assert.equal(s.data!.title, 'review me');
  assert.equal(s.data!.directory, f.dir);
  assert.deepEqual(s.data!.summary, { additions: BIG_LINES + 1, deletions: 2, files: 3 }); // net: a.txt deleted, big.txt and b.txt added
});

test('messages page newest-last with the X-Next-Cursor header, and a message by id', async () => {
  const all = await client.session.messages({ sessionID: sid });
  assert.equal(all.data!.length, 6);
  const page1 = await client.session.messages({ sessionID: sid, limit: 4 });
  assert.deepEqual(page1.data!.map((m) => m.info.id), all.data!.slice(2).map((m) => m.info.id));
  const cursor = page1.response.headers.get('x-next-cursor');
  assert.equal(cursor, all.data![2]!.info.id);
  const page2 = await client.session.messages({ sessionID: sid, limit: 4, before: cursor! });
  assert.deepEqual(page2.data!.map((m) => m.info.id), all.data!.slice(0, 2).map((m) => m.info.id));
  assert.equal(page2.response.headers.get('x-next-cursor'), null);
  const m = await client.session.message({ sessionID: sid, messageID: turns[0]! });
  assert.equal(m.data!.info.role, 'user');
  assert.deepEqual(m.data!.parts.map((p) => p.type), ['text']);
  assert.equal(m.data!.info.role === 'user' && m.data!.info.model.providerID, 'snapline');
  const missing = await client.session.get({ sessionID: 'ses_00000000000000000000000000' });
  assert.equal(missing.response.status, 404);
  assert.equal((missing.error as { name: string }).name, 'NotFoundError');
});

test('diff of a turn: counts as stored, patches produced on demand equal to git’s', async () => {
  const d = await client.session.diff({ sessionID: sid, messageID: turns[0]! });
  assert.equal(d.data!.length, 1);
  const a = d.data![0]!;
  assert.deepEqual([a.file, a.status, a.additions, a.deletions], ['a.txt', 'modified', 2, 1]);
  assert.equal(a.patch, gitPatch(turns[0]!, 'a.txt'));
  assert.equal((a as { before?: unknown }).before, undefined, 'no before/after: clients read them as file text');
});

test('a patch over the inline limit is truncated and continues, page by page, to exactly git’s patch', async () => {
  const res = await fetch(`${server.url}/session/${sid}/diff?messageID=${turns[1]}&patchBytes=2048`);
  const [big] = (await res.json()) as { file: string; patch: string; truncated?: boolean; next?: string; additions: number }[];
  assert.equal(big!.file, 'big.txt');
  assert.equal(big!.additions, BIG_LINES);
  assert.equal(big!.truncated, true);
  let patch = big!.patch;
  let next: string | null | undefined = big!.next;
  let pages = 1;
  while (next) {
    const r: Response = await fetch(`${server.url}/session/${sid}/diff/patch?messageID=${turns[1]}&file=big.txt&maxBytes=8192&cursor=${next}`);
    assert.equal(r.status, 200);
    const page = (await r.json()) as { patch: string; next: string | null };
    assert.ok(Buffer.byteLength(page.patch) < 8192 + 100, `page of ${Buffer.byteLength(page.patch)} bytes`);
    assert.equal(r.headers.get('x-next-cursor'), page.next);
    patch += page.patch;
    next = page.next;
    pages++;
  }
  assert.ok(pages > 3);
  assert.equal(patch, gitPatch(turns[1]!, 'big.txt'));
});

test('revert with a preview, then unrevert, through the API: the workspace changes on disk', async () => {
  const preview = await fetch(`${server.url}/session/${sid}/revert`, { method: 'POST', headers: { 'x-snapline-token': server.token, 'content-type': 'application/json' }, body: JSON.stringify({ messageID: turns[1], dryRun: true }) });
  assert.equal(preview.status, 200);
  const plan = (await preview.json()) as { written: string[]; deleted: string[] };
  assert.deepEqual(plan, { dryRun: true, messageID: turns[1], written: ['a.txt'], deleted: ['b.txt', 'big.txt'], paths: 3 });
  assert.ok(existsSync(join(f.dir, 'big.txt')), 'a preview writes nothing');

  const r = await client.session.revert({ sessionID: sid, messageID: turns[1]! });
  assert.equal(r.response.status, 200, JSON.stringify(r.error));
  assert.equal(r.data!.revert?.messageID, turns[1]);
  assert.equal(readFileSync(join(f.dir, 'a.txt'), 'utf8'), 'one\n2\nthree\n');
  assert.ok(!existsSync(join(f.dir, 'big.txt')));
  assert.ok(!existsSync(join(f.dir, 'b.txt')));
  assert.equal(readFileSync(join(f.dir, 'keep.txt'), 'utf8'), 'untouched\n');

  const u = await client.session.unrevert({ sessionID: sid });
  assert.equal(u.response.status, 200, JSON.stringify(u.error));
  assert.equal(u.data!.revert, undefined);
  assert.ok(!existsSync(join(f.dir, 'a.txt')));
  assert.equal(readFileSync(join(f.dir, 'b.txt'), 'utf8'), 'new\n');
  assert.equal(readFileSync(join(f.dir, 'big.txt'), 'utf8').split('\n').length, BIG_LINES + 1);
});

test('state-changing requests need the token and a same-site origin; hosts are pinned; bad ids are 400', async () => {
  const post = (headers: Record<string, string>) => fetch(`${server.url}/session/${sid}/unrevert`, { method: 'POST', headers });
  assert.equal((await post({})).status, 403);
  assert.equal((await post({ 'x-snapline-token': 'wrong' })).status, 403);
  assert.equal((await post({ 'x-snapline-token': server.token, origin: 'http://evil.example' })).status, 403);
  assert.equal((await post({ 'x-snapline-token': server.token, 'sec-fetch-site': 'cross-site' })).status, 403);
  // With the token and our own origin it reaches the library (nothing to unrevert: 400).
  assert.equal((await post({ 'x-snapline-token': server.token, origin: server.url })).status, 400);
  const port = new URL(server.url).port;
  const rebound = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Host: attacker.example:${port}`, `${server.url}/session`], { encoding: 'utf8' });
  assert.equal(rebound.stdout, '421');
  assert.equal((await fetch(`${server.url}/session/..%2F..%2Fetc`)).status, 400);
  assert.equal((await fetch(`${server.url}/session/${sid}/diff/patch?file=../x`)).status, 400);
  const big = await fetch(`${server.url}/session/${sid}/revert`, { method: 'POST', headers: { 'x-snapline-token': server.token }, body: 'x'.repeat(100_000) });
  assert.equal(big.status, 413);
  const doc = (await (await fetch(`${server.url}/doc`)).json()) as { paths: Record<string, unknown> };
  assert.ok(doc.paths['/session/{id}/message']);
});

test('any address but loopback needs a password, then basic auth is required', async () => {
  const refused = spawnSync(process.execPath, [CLI, 'serve', '--hostname', '0.0.0.0', '--port', '0'], { cwd: f.dir, env: { ...f.env, SNAPLINE_SERVER_PASSWORD: '' }, encoding: 'utf8', timeout: 30_000 });
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /^snapline: serving on 0\.0\.0\.0 \(not loopback\) needs a password/);
  const open = await startServe(f.dir, { ...f.env, SNAPLINE_SERVER_PASSWORD: 'pw' }, ['--hostname', '0.0.0.0']);
  try {
    const url = open.url.replace('0.0.0.0', '127.0.0.1');
    assert.equal((await fetch(`${url}/session`)).status, 401);
    assert.equal((await fetch(`${url}/session`, { headers: { authorization: 'Basic ' + Buffer.from('snapline:nope').toString('base64') } })).status, 401);
    const ok = createOpencodeClient({ baseUrl: url, headers: { authorization: 'Basic ' + Buffer.from('snapline:pw').toString('base64') } });
    assert.equal((await ok.session.list()).data!.length, 2);
  } finally {
    await open.stop();
  }
});

test('/event streams server.connected, then the session, message and part updates of a turn recorded by another process', async () => {
  const events = await client.event.subscribe();
  const seen: { type: string; properties: Record<string, unknown> }[] = [];
  const reading = (async () => {
    for await (const e of events.stream) {
      seen.push(e as unknown as { type: string; properties: Record<string, unknown> });
      // The session row is updated last (its totals), after the turn's parts.
      if (seen.some((x) => x.type === 'message.part.updated' && (x.properties.part as { type: string }).type === 'step-finish') && seen.some((x) => x.type === 'session.updated')) break;
    }
  })();
  await new Promise((r) => setTimeout(r, 300));
  f.ok('run', '--session', sid, '--exec', 'echo live > live.txt', 'a live turn');
  await Promise.race([reading, new Promise((_, reject) => setTimeout(() => reject(new Error(`events so far: ${JSON.stringify(seen.map((e) => e.type))}`)), 30_000))]);
  assert.equal(seen[0]!.type, 'server.connected');
  const types = new Set(seen.map((e) => e.type));
  for (const t of ['session.updated', 'message.updated', 'message.part.updated']) assert.ok(types.has(t), `${t} in ${[...types]}`);
  const msg = seen.find((e) => e.type === 'message.updated' && (e.properties.info as { role: string }).role === 'user')!;
  assert.equal(msg.properties.sessionID, sid);
  const text = seen.find((e) => e.type === 'message.part.updated' && (e.properties.part as { type: string }).type === 'text')!;
  assert.equal((text.properties.part as { text: string }).text, 'a live turn');
});

test('a file over 1 MiB: its patch comes from a patch process of the server, page by page to exactly git’s; a killed one is replaced; errors are the same', async () => {
  const other = (await client.session.list({ search: 'another' })).data![0]!.id;
  const turn = f.db<{ id: string }>(`SELECT id FROM message WHERE session_id = '${other}' AND json_extract(data, '$.role') = 'user'`)[0]!.id;
  const page = async (cursor?: string) => {
    const r = await fetch(`${server.url}/session/${other}/diff/patch?messageID=${turn}&file=huge.txt&maxBytes=262144${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(r.status, 200, await r.clone().text());
    return (await r.json()) as { patch: string; next: string | null };
  };
  const patchProcesses = () => childrenMatching(server.child.pid!, 'patch-worker');
  const first = await page();
  assert.equal(patchProcesses().length, 1, 'one patch process, kept for the next page');
  // Killed while kept: the next page is produced by a new one, from the cursor.
  process.kill(patchProcesses()[0]!, 'SIGKILL');
  let patch = first.patch;
  let next = first.next;
  let pages = 1;
  while (next) {
    const p = await page(next);
    patch += p.patch;
    next = p.next;
    pages++;
  }
  assert.ok(pages >= 5, `${pages} pages`);
  assert.equal(patch, gitPatch(turn, 'huge.txt'));
  // The patch ended: its process exits.
  for (let i = 0; patchProcesses().length > 0; i++) {
    assert.ok(i < 600, 'the patch process exits after the last page');
    await new Promise((r) => setTimeout(r, 25));
  }
  // A cursor past the end is refused by the patch process: the same 400 as any bad cursor.
  const bad = await fetch(`${server.url}/session/${other}/diff/patch?messageID=${turn}&file=huge.txt&cursor=5.0`);
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { data: { message: string } }).data.message, /past the end/);
});

test('delete through the SDK removes the session', async () => {
  const other = (await client.session.list({ search: 'another' })).data![0]!.id;
  const d = await client.session.delete({ sessionID: other });
  assert.equal(d.data, true);
  assert.equal((await client.session.get({ sessionID: other })).response.status, 404);
});
