/**
 * Snapshots through a git remote: a bare repository on disk is the remote; "machines" are
 * separate data directories (each its own snapshot store) with their own clones of one
 * workspace repository, sharing one session database: a SQLite file (SNAPLINE_DB), or with
 * SNAPLINE_TEST_BACKEND=pg one PostgreSQL database (SNAPLINE_DATABASE_URL). A machine never reads
 * another's disk: while B works, A's clone is moved out of sight.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freshDatabase, onPostgres, sqlFor } from './helpers/postgres.js';
import { CLI } from './helpers/repo.js';
import { startServe } from './server-helpers.js';
import { oneLineError, sessionOf, type CliResult } from './session-helpers.js';

const GIT_ENV = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' };

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8', maxBuffer: 1 << 28 });
}

/** A team: the workspace's origin repository, the snapshot remote, the shared session database. */
function team() {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'snapline-remote-')));
  const origin = join(root, 'proj.git');
  const snaps = join(root, 'snaps.git');
  git(root, 'init', '-q', '--bare', origin);
  git(root, 'init', '-q', '--bare', snaps);
  const seed = join(root, 'seed');
  git(root, 'clone', '-q', origin, seed);
  writeFileSync(join(seed, 'f.txt'), 'one\n');
  writeFileSync(join(seed, 'keep.txt'), 'the session never touches this\n');
  git(seed, 'add', '-A');
  git(seed, 'commit', '-qm', 'base');
  git(seed, 'push', '-q', 'origin', 'HEAD:main');
  git(origin, 'symbolic-ref', 'HEAD', 'refs/heads/main');
  const database = onPostgres ? { SNAPLINE_DATABASE_URL: freshDatabase() } : { SNAPLINE_DB: join(root, 'sessions.db') };
  /** A machine: its own data dir and its own clone, at its own path. */
  const machine = (name: string, config: Record<string, unknown> = { remote: snaps, pushWaitMs: 60_000 }) => {
    const home = join(root, `home-${name}`);
    mkdirSync(home);
    const dir = join(root, name, 'proj');
    mkdirSync(join(root, name));
    git(root, 'clone', '-q', origin, dir);
    const env = { ...process.env, SNAPLINE_HOME: home, ...database, SNAPLINE_CONFIG_CONTENT: JSON.stringify({ snapshot: config }), XDG_CONFIG_HOME: join(home, 'config') };
    const cli = (...args: string[]): CliResult => {
      const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, env, encoding: 'utf8', maxBuffer: 1 << 28 });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const ok = (...args: string[]): string => {
      const r = cli(...args);
      if (r.status !== 0) throw new Error(`[${name}] snapline ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
      return r.stdout;
    };
    /** The machine's store (its only one), as a git dir. */
    const store = (): string => {
      const top = join(home, 'snapshot');
      for (const p of readdirSync(top)) for (const d of readdirSync(join(top, p))) if (/^[0-9a-f]{40}$/.test(d)) return join(top, p, d);
      throw new Error(`[${name}] no store`);
    };
    return { name, home, dir, env, cli, ok, store };
  };
  return { root, origin, snaps, database, machine, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** refname → object id of the refs under `prefix` in a git dir. */
function refs(gitDir: string, prefix = 'refs/snapline/'): Map<string, string> {
  const out = git(gitDir, 'for-each-ref', '--format=%(refname) %(objectname)', prefix);
  return new Map(out.split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
}

/** The snapshots each turn of a session starts and ends at, from the shared database. */
function turnTrees(m: { ok: (...a: string[]) => string }, sid: string): { start: string; end: string }[] {
  const rows = JSON.parse(
    m.ok('db', '--format', 'json', sqlFor(`SELECT m.data AS m, p.data AS p FROM message m JOIN part p ON p.message_id = m.id WHERE m.session_id = '${sid}' AND json_extract(p.data, '$.type') IN ('step-start', 'step-finish') ORDER BY p.id`)),
  ) as { m: unknown; p: unknown }[];
  const json = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T; // jsonb comes as objects
  const turns = new Map<string, { start: string; end: string }>();
  for (const r of rows) {
    const parent = json<{ parentID: string }>(r.m).parentID;
    const part = json<{ type: string; snapshot: string }>(r.p);
    const t = turns.get(parent) ?? { start: '', end: '' };
    if (part.type === 'step-start' && !t.start) t.start = part.snapshot;
    if (part.type === 'step-finish') t.end = part.snapshot;
    turns.set(parent, t);
  }
  return [...turns.values()];
}

test('two machines: A records turns, B lists them, shows their patches, reverts a turn in its clone; deleting the session deletes its remote refs', { timeout: 240_000 }, async () => {
  const t = team();
  try {
    const a = t.machine('a');
    const sid = sessionOf(a.ok('run', 'first', '--format', 'json', '--exec', 'printf "two\\n" >> f.txt; printf "new\\n" > g.txt'));
    a.ok('run', 'second', '--session', sid, '--exec', 'printf "three\\n" >> f.txt; rm g.txt; mkdir -p sub; printf "deep\\n" > "sub/with space.txt"');
    // The turns' snapshots are on the remote under the session, as A's store holds them.
    const onRemote = refs(t.snaps, `refs/snapline/${sid}/`);
    assert.equal(onRemote.size, 1, 'one ref: A is the only store that recorded for the session');
    const aStore = a.store();
    assert.equal([...onRemote.values()][0], refs(aStore).get(`refs/snapline/sessions/${sid}`));
    const patchOnA = a.ok('session', 'diff', sid, '--message', '2', '--patch');
    // A commits its work (outside the turns) and B clones it: B's files are as A's last snapshot.
    git(a.dir, 'add', '-A');
    git(a.dir, 'commit', '-qm', 'work');
    git(a.dir, 'push', '-q', 'origin', 'HEAD:main');
    const b = t.machine('b');
    const [t1, t2] = turnTrees(a, sid);
    assert.ok(t1 && t2);
    // B cannot see A's disk.
    renameSync(a.dir, `${a.dir}.away`);

    const listed = JSON.parse(b.ok('session', 'list', '--format', 'json')) as { id: string; directory: string }[];
    assert.deepEqual(listed.map((s) => [s.id, s.directory]), [[sid, a.dir]]);
    assert.equal(existsSync(join(b.home, 'snapshot')), false, 'listing reads the database only');

    // The patch: fetched on demand, and the same as on A; git takes it back out of B's clone.
    const patchOnB = b.ok('session', 'diff', sid, '--message', '2', '--patch');
    assert.equal(patchOnB, patchOnA);
    assert.ok(patchOnB.includes('+three') && patchOnB.includes('sub/with space.txt'));
    execFileSync('git', ['apply', '-R', '--check'], { cwd: b.dir, input: patchOnB });
    const fetched = refs(b.store(), `refs/snapline/remote/${sid}/`);
    assert.deepEqual([...fetched.values()], [...onRemote.values()], "B's store holds a copy of the session's remote ref");
    // Export reads only the database.
    assert.equal((JSON.parse(b.ok('export', sid)) as { info: { id: string } }).info.id, sid);

    // Revert turn 2 in B's clone: its paths go back to turn 2's start snapshot; nothing else is written.
    const keptBefore = readFileSync(join(b.dir, 'keep.txt'));
    const reverted = JSON.parse(b.ok('session', 'revert', sid, '--message', '2', '--format', 'json')) as { written: string[]; deleted: string[] };
    assert.deepEqual(reverted.written.sort(), ['f.txt', 'g.txt']);
    assert.deepEqual(reverted.deleted, ['sub/with space.txt']);
    for (const f of ['f.txt', 'g.txt']) assert.equal(readFileSync(join(b.dir, f), 'utf8'), git(t.snaps, 'cat-file', 'blob', `${t2.start}:${f}`));
    assert.equal(existsSync(join(b.dir, 'sub', 'with space.txt')), false);
    assert.deepEqual(readFileSync(join(b.dir, 'keep.txt')), keptBefore);
    // B's pre-revert snapshot went to the remote under B's own ref: A's is untouched.
    const afterRevert = refs(t.snaps, `refs/snapline/${sid}/`);
    assert.equal(afterRevert.size, 2);
    for (const [ref, oid] of onRemote) assert.equal(afterRevert.get(ref), oid);
    b.ok('session', 'unrevert', sid);
    assert.equal(readFileSync(join(b.dir, 'f.txt'), 'utf8'), 'one\ntwo\nthree\n');

    // A third machine reviews it through `serve`: the diff route fetches what it needs.
    const c = t.machine('c');
    const server = await startServe(c.dir, c.env);
    try {
      const messages = JSON.parse(c.ok('db', '--format', 'json', sqlFor(`SELECT id FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user' ORDER BY id`))) as { id: string }[];
      const res = await fetch(`${server.url}/session/${sid}/diff?messageID=${messages[1]!.id}`);
      assert.equal(res.status, 200, await res.clone().text());
      const files = (await res.json()) as { file: string; patch: string }[];
      assert.deepEqual(files.map((f) => f.file).sort(), ['f.txt', 'g.txt', 'sub/with space.txt']);
      assert.ok(files.find((f) => f.file === 'f.txt')!.patch.includes('+three'));
    } finally {
      await server.stop();
    }

    // Deleting the session (on B) deletes every store's refs of it on the remote, and B's copies.
    b.ok('session', 'delete', sid);
    assert.equal(refs(t.snaps).size, 0);
    assert.equal(refs(b.store()).size, 0);
    renameSync(`${a.dir}.away`, a.dir);
  } finally {
    t.cleanup();
  }
});

test("B's latest session is A's (same repository, recorded elsewhere); a machine with no clone deletes the session's remote refs", { timeout: 240_000 }, () => {
  const t = team();
  try {
    const a = t.machine('a');
    const sid = sessionOf(a.ok('run', 'first', '--format', 'json', '--exec', 'printf "two\\n" >> f.txt'));
    const b = t.machine('b');
    renameSync(a.dir, `${a.dir}.away`);
    // No session id: B's clone has no session of its own, so the latest is A's, mapped here.
    assert.match(b.ok('session', 'show'), new RegExp(`^${sid}  `));
    assert.match(b.ok('session', 'diff', '--patch'), /\+two/);
    assert.equal((JSON.parse(b.ok('export')) as { info: { id: string } }).info.id, sid);
    // Once B records a session of its own, that one is the latest here.
    const mine = sessionOf(b.ok('run', 'mine', '--format', 'json', '--exec', 'printf "b\\n" > b.txt'));
    assert.match(b.ok('session', 'show'), new RegExp(`^${mine}  `));
    assert.equal(refs(t.snaps, `refs/snapline/${sid}/`).size, 1);

    // D has no clone of the repository at all: deleting A's session still deletes its remote refs.
    const d = t.machine('d');
    const outside = join(t.root, 'not-a-repo');
    mkdirSync(outside);
    const r = spawnSync(process.execPath, [CLI, 'session', 'delete', sid], { cwd: outside, env: d.env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(refs(t.snaps, `refs/snapline/${sid}/`).size, 0);
    assert.equal(refs(t.snaps, `refs/snapline/${mine}/`).size, 1, "B's session keeps its refs");
    renameSync(`${a.dir}.away`, a.dir);
  } finally {
    t.cleanup();
  }
});

test('an unreachable remote never fails a turn: one warning, snapshots pending until `sync --push`', { timeout: 120_000 }, () => {
  const t = team();
  try {
    const later = join(t.root, 'later.git');
    const a = t.machine('a', { remote: later, pushWaitMs: 60_000 });
    const r1 = a.cli('run', 'one', '--exec', 'printf "x\\n" > x.txt');
    assert.equal(r1.status, 0, r1.stderr);
    assert.match(r1.stderr, /warning: snapshots not pushed to .*later\.git .*'snapline sync --push'/);
    const sid = (JSON.parse(a.ok('session', 'list', '--format', 'json')) as { id: string }[])[0]!.id;
    const r2 = a.cli('run', 'two', '--session', sid, '--exec', 'printf "y\\n" >> x.txt');
    assert.equal(r2.status, 0, r2.stderr);
    assert.doesNotMatch(r2.stderr, /not pushed/, 'told once per outage');
    assert.match(oneLineError(a.cli('sync', '--push')), /snapshot remote .*later\.git/);

    git(t.root, 'init', '-q', '--bare', later);
    const report = JSON.parse(a.ok('sync', '--push', '--format', 'json')) as { pushed: string[] };
    assert.deepEqual(report.pushed, [sid]);
    const pushed = refs(later, `refs/snapline/${sid}/`);
    assert.equal(pushed.size, 1);
    assert.equal([...pushed.values()][0], refs(a.store()).get(`refs/snapline/sessions/${sid}`));
    // Nothing left pending.
    assert.deepEqual((JSON.parse(a.ok('sync', '--push', '--format', 'json')) as { pushed: string[] }).pushed, []);
    // The trees arrived whole: git checks every object they reach.
    for (const tt of turnTrees(a, sid)) git(later, 'rev-list', '--objects', tt.end);
    git(later, 'fsck', '--full', '--no-dangling');
  } finally {
    t.cleanup();
  }
});

test('with pushWaitMs 0 the push goes on in the background and lands', { timeout: 120_000 }, async () => {
  const t = team();
  try {
    const a = t.machine('a', { remote: t.snaps, pushWaitMs: 0 });
    const sid = sessionOf(a.ok('run', 'one', '--format', 'json', '--exec', 'head -c 3000000 /dev/urandom > big.bin'));
    const local = refs(a.store()).get(`refs/snapline/sessions/${sid}`);
    let remote: string | undefined;
    for (let i = 0; i < 300 && remote !== local; i++) {
      await new Promise((r) => setTimeout(r, 100));
      remote = [...refs(t.snaps, `refs/snapline/${sid}/`).values()][0];
    }
    assert.equal(remote, local);
  } finally {
    t.cleanup();
  }
});

test('a snapshot on neither the local store nor the remote is a clear error; gc releases fetched copies locally only', { timeout: 120_000 }, () => {
  const t = team();
  try {
    // A records without a remote: nothing reaches it.
    const a = t.machine('a', {});
    const sid = sessionOf(a.ok('run', 'one', '--format', 'json', '--exec', 'printf "x\\n" > x.txt'));
    const [t1] = turnTrees(a, sid);
    renameSync(a.dir, `${a.dir}.away`);
    const b = t.machine('b');
    const err = oneLineError(b.cli('session', 'diff', sid, '--patch'));
    assert.ok(err.includes(`snapshot ${t1!.start} not found locally or on remote ${t.snaps}`) || err.includes(`snapshot ${t1!.end} not found locally or on remote ${t.snaps}`), err);
    // Outside any clone of the project, B says where to run it.
    const elsewhere = spawnSync(process.execPath, [CLI, 'session', 'diff', sid, '--patch'], { cwd: t.root, env: b.env, encoding: 'utf8' });
    assert.match(oneLineError({ status: elsewhere.status, stdout: elsewhere.stdout, stderr: elsewhere.stderr }), /recorded in .* not on this machine: run this from a clone of its repository/);

    // A pushes later (now with a remote); B fetches; B's gc --force over the size limit drops its copy only.
    renameSync(`${a.dir}.away`, a.dir);
    const a2 = { ...a, ok: (...args: string[]) => execFileSync(process.execPath, [CLI, ...args], { cwd: a.dir, env: { ...a.env, SNAPLINE_CONFIG_CONTENT: JSON.stringify({ snapshot: { remote: t.snaps } }) }, encoding: 'utf8' }) };
    a2.ok('sync', '--push');
    renameSync(a.dir, `${a.dir}.away`);
    assert.match(b.ok('session', 'diff', sid, '--patch'), /\+x/);
    assert.equal(refs(b.store(), 'refs/snapline/remote/').size, 1);
    const gcEnv = { ...b.env, SNAPLINE_CONFIG_CONTENT: JSON.stringify({ snapshot: { remote: t.snaps, retention: { maxAgeDays: 7, maxBytes: 1 } } }) };
    execFileSync(process.execPath, [CLI, 'snapshot', 'gc', '--force', '--dir', b.dir], { cwd: b.dir, env: gcEnv, encoding: 'utf8' });
    assert.equal(refs(b.store()).size, 0, "B's copy is released");
    assert.equal(refs(t.snaps, `refs/snapline/${sid}/`).size, 1, 'the remote keeps the session');
    assert.match(b.ok('session', 'diff', sid, '--patch'), /\+x/, 'and it is fetched again on demand');
  } finally {
    t.cleanup();
  }
});
