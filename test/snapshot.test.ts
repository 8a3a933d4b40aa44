import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config.js';
import { GitError } from '../src/errors.js';
import { doctor, du, gc, release, restore, retain, storeContext, storeDir, track } from '../src/snapshot/index.js';
import { STORE_CONFIG } from '../src/snapshot/store.js';
import { PathOutsideWorkspace, StagingFailed, StoreCorrupt, StoreLocked, UnknownSnapshot } from '../src/snapshot/errors.js';
import { git, hashTree, mtimes, prng, tempDir, walkState, type Entry } from './snapshot-helpers.js';

const home = tempDir('home');
before(() => {
  process.env.SNAPLINE_HOME = home.dir;
  delete process.env.SNAPLINE_CONFIG_CONTENT;
});
after(() => home.cleanup());

function initRepo(dir: string): void {
  git(dir, 'init', '-q');
  writeFileSync(join(dir, 'README'), 'readme\n');
  git(dir, 'add', 'README');
  git(dir, 'commit', '-qm', 'init');
}

/** A workspace that is a git repo holding a nested repo `nested/` with one commit. */
function workspace(): { dir: string; cleanup: () => void } {
  const t = tempDir('ws');
  initRepo(t.dir);
  mkdirSync(join(t.dir, 'nested'));
  initRepo(join(t.dir, 'nested'));
  writeFileSync(join(t.dir, 'nested', 'lib.txt'), 'nested lib\n');
  return t;
}

function assertState(actual: Map<string, Entry>, expected: Map<string, Entry>, label: string): void {
  assert.deepEqual(Object.fromEntries(actual), Object.fromEntries(expected), label);
}

/** True when no parent of `rel` is a file or symlink, so writing there stays a plain write. */
function parentsAreDirs(root: string, rel: string): boolean {
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i++) {
    const p = join(root, ...parts.slice(0, i));
    if (!existsSync(p) && !isLink(p)) return true;
    if (!lstatSync(p).isDirectory()) return false;
  }
  return true;
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** One random file operation on the workspace (skipped when it does not apply). */
function randomOp(root: string, r: ReturnType<typeof prng>, step: number): void {
  const dirs = ['', 'a', 'a/b', 'c', 'nested', 'nested/sub', 'sp ace', 'ünï'];
  const names = ['f1', 'f2.txt', 'g', 'x y', 'b'];
  const files = [...walkState(root).keys()].filter((p) => p !== 'README');
  const rel = () => {
    const d = r.pick(dirs);
    return d ? `${d}/${r.pick(names)}` : r.pick(names);
  };
  // Mostly small files; now and then one that restore streams (over 64 KiB), or one stored
  // in a pack and read from the object files (over 1 MiB).
  const content = () => {
    const kind = r.int(16);
    return `step ${step} ${r.next()}\n`.repeat(kind === 0 ? 60000 : kind === 1 ? 4000 : 1 + r.int(5));
  };
  switch (r.int(9)) {
    case 0:
    case 1: {
      const p = rel();
      if (!parentsAreDirs(root, p)) return;
      if (existsSync(join(root, p)) && lstatSync(join(root, p)).isDirectory()) return;
      mkdirSync(dirname(join(root, p)), { recursive: true });
      if (isLink(join(root, p))) unlinkSync(join(root, p));
      writeFileSync(join(root, p), content());
      return;
    }
    case 2: {
      const p = files.length ? r.pick(files) : null;
      if (p && !isLink(join(root, p))) writeFileSync(join(root, p), content());
      return;
    }
    case 3: {
      if (files.length) unlinkSync(join(root, r.pick(files)));
      return;
    }
    case 4: {
      const p = files.length ? r.pick(files) : null;
      if (p && !isLink(join(root, p))) chmodSync(join(root, p), lstatSync(join(root, p)).mode & 0o100 ? 0o644 : 0o755);
      return;
    }
    case 5: {
      const p = rel();
      if (!parentsAreDirs(root, p) || existsSync(join(root, p)) || isLink(join(root, p))) return;
      mkdirSync(dirname(join(root, p)), { recursive: true });
      symlinkSync(r.pick(['f1', '../README', 'missing', 'a/b']), join(root, p));
      return;
    }
    case 6: {
      const from = files.length ? r.pick(files) : null;
      const to = rel();
      if (!from || !parentsAreDirs(root, to) || existsSync(join(root, to)) || isLink(join(root, to))) return;
      mkdirSync(dirname(join(root, to)), { recursive: true });
      renameSync(join(root, from), join(root, to));
      return;
    }
    case 7: {
      // file -> directory
      const p = files.length ? r.pick(files) : null;
      if (!p) return;
      unlinkSync(join(root, p));
      mkdirSync(join(root, p));
      writeFileSync(join(root, p, 'inner'), content());
      return;
    }
    case 8: {
      // directory -> file (never the nested repository itself)
      const d = r.pick(['a', 'a/b', 'c', 'nested/sub', 'sp ace', 'ünï']);
      const abs = join(root, d);
      if (!existsSync(abs) || !lstatSync(abs).isDirectory()) return;
      rmSync(abs, { recursive: true });
      if (!parentsAreDirs(root, d)) return;
      writeFileSync(abs, content());
      return;
    }
  }
}

test("a new store carries every setting of STORE_CONFIG once, as git reads them", async () => {
  const ws = tempDir('ws');
  try {
    initRepo(ws.dir);
    await track(ws.dir);
    const ctx = await storeContext(ws.dir);
    for (const [key, value] of Object.entries(STORE_CONFIG)) {
      assert.equal(git(ws.dir, '--git-dir', ctx.gitDir!, 'config', '--get-all', key).trim(), value, key);
    }
    // git reads the file: not a bare repository.
    assert.equal(git(ws.dir, '--git-dir', ctx.gitDir!, 'rev-parse', '--is-bare-repository').trim(), 'false');
  } finally {
    ws.cleanup();
  }
});

test('restoring any earlier snapshot reproduces it exactly; a per-path restore touches only that path (seeded property test)', async () => {
  const ws = workspace();
  try {
    const nestedGit = hashTree(join(ws.dir, 'nested', '.git'));
    const r = prng(20261123);
    const trees: string[] = [];
    const states: Map<string, Entry>[] = [];
    for (let step = 0; step < 40; step++) {
      randomOp(ws.dir, r, step);
      if (r.int(3) === 0) randomOp(ws.dir, r, step);
      const { tree, skipped } = await track(ws.dir);
      assert.deepEqual(skipped, []);
      trees.push(tree);
      states.push(walkState(ws.dir));
    }
    assert.ok(new Set(trees).size > 25, 'the operations changed the workspace');
    const store = await storeDir(ws.dir);
    const sizes = trees.flatMap((t) => git(ws.dir, `--git-dir=${store}`, 'ls-tree', '-r', '-l', t).split('\n').map((l) => Number(l.split(/\s+/)[3])));
    assert.ok(sizes.some((n) => n > 1 << 20) && sizes.some((n) => n > 64 << 10 && n < 1 << 20), 'files for every way restore reads');
    for (let k = 0; k < 8; k++) {
      const i = r.int(trees.length);
      let progress = [0, 0];
      const { written } = await restore(ws.dir, trees[i]!, undefined, { onProgress: (done, total) => (progress = [done, total]) });
      assertState(walkState(ws.dir), states[i]!, `full restore of step ${i}`);
      assert.deepEqual(progress, [written.length, written.length], 'progress counts every file written');
      assert.equal((await track(ws.dir)).tree, trees[i], 'tracking right after a restore gives the same tree');
    }
    // Per-path restores: only the named path changes; every other file keeps content and mtime.
    let checked = 0;
    for (let k = 0; k < 40 && checked < 6; k++) {
      const i = r.int(trees.length);
      const now = walkState(ws.dir);
      const then = states[i]!;
      const differing = [...new Set([...now.keys(), ...then.keys()])].filter((p) => JSON.stringify(now.get(p)) !== JSON.stringify(then.get(p)));
      // A path whose parents are directories now and that is not a directory now: one path in, one path out.
      const under = (x: string) => [...now.keys(), ...then.keys()].some((k) => k.startsWith(x + '/'));
      const candidates = differing.filter((x) => parentsAreDirs(ws.dir, x) && !under(x) && !(existsSync(join(ws.dir, x)) && lstatSync(join(ws.dir, x)).isDirectory()));
      const p = candidates.length ? r.pick(candidates) : undefined;
      if (!p) continue;
      const before = mtimes(ws.dir);
      const result = await restore(ws.dir, trees[i]!, [p]);
      const after = mtimes(ws.dir);
      const afterState = walkState(ws.dir);
      assert.deepEqual(afterState.get(p), then.get(p), `restored ${p} from step ${i}`);
      for (const [q, v] of before) if (q !== p) assert.equal(after.get(q), v, `${q} untouched by restoring ${p}`);
      for (const q of after.keys()) if (q !== p) assert.ok(before.has(q), `${q} not created by restoring ${p}`);
      assert.deepEqual([...result.written, ...result.deleted], [p]);
      checked++;
    }
    assert.ok(checked >= 3, `per-path restores exercised (${checked})`);
    assert.deepEqual(hashTree(join(ws.dir, 'nested', '.git')), nestedGit, "nested repository's .git is byte-identical");
  } finally {
    ws.cleanup();
  }
});

test("the user's repository and a nested repository are never written", async () => {
  const ws = workspace();
  try {
    const top = hashTree(join(ws.dir, '.git'));
    const nested = hashTree(join(ws.dir, 'nested', '.git'));
    const first = await track(ws.dir);
    writeFileSync(join(ws.dir, 'nested', 'lib.txt'), 'changed\n');
    writeFileSync(join(ws.dir, 'nested', 'new.txt'), 'new\n');
    await track(ws.dir);
    await restore(ws.dir, first.tree);
    const ctx = await storeContext(ws.dir);
    const ls = git(ws.dir, `--git-dir=${ctx.gitDir}`, 'ls-tree', '-r', first.tree);
    assert.match(ls, /^100644 blob \S+\tnested\/lib\.txt$/m, 'nested files are ordinary blobs');
    assert.doesNotMatch(ls, /^160000/m, 'no gitlinks');
    assert.doesNotMatch(ls, /\.git\//, 'no .git content');
    assert.deepEqual(hashTree(join(ws.dir, '.git')), top);
    assert.deepEqual(hashTree(join(ws.dir, 'nested', '.git')), nested);
    assert.ok(!existsSync(join(ws.dir, 'nested', 'new.txt')));
  } finally {
    ws.cleanup();
  }
});

test('ignore rules: .gitignore, .git/info/exclude and snapshot.ignore are honoured', async () => {
  const ws = workspace();
  try {
    writeFileSync(join(ws.dir, '.gitignore'), '*.log\n');
    writeFileSync(join(ws.dir, '.git', 'info', 'exclude'), 'secret/\n');
    mkdirSync(join(ws.dir, 'secret'));
    writeFileSync(join(ws.dir, 'secret', 'key'), 'k');
    writeFileSync(join(ws.dir, 'a.log'), 'log');
    writeFileSync(join(ws.dir, 'nested', 'b.log'), 'log');
    writeFileSync(join(ws.dir, 'build.out'), 'o');
    writeFileSync(join(ws.dir, 'kept.txt'), 'k');
    process.env.SNAPLINE_CONFIG_CONTENT = JSON.stringify({ snapshot: { ignore: ['*.out'] } });
    const { tree } = await track(ws.dir);
    const ctx = await storeContext(ws.dir);
    const files = git(ws.dir, `--git-dir=${ctx.gitDir}`, 'ls-tree', '-r', '--name-only', tree).split('\n');
    assert.deepEqual(files.sort(), ['.gitignore', 'README', 'kept.txt', 'nested/README', 'nested/lib.txt']);
  } finally {
    delete process.env.SNAPLINE_CONFIG_CONTENT;
    ws.cleanup();
  }
});

test('a file no longer ignored is in the next snapshot, though the scan started before the ignore rules were rewritten', async () => {
  // A linked worktree (its .git is a file): finding its exclude file starts git, so the scan,
  // which starts at once, reads the old rules before they are rewritten; it must be run again.
  const repo = tempDir('repo');
  const linked = tempDir('linked');
  try {
    initRepo(repo.dir);
    git(repo.dir, 'worktree', 'add', '-q', join(linked.dir, 'wt'));
    const ws = join(linked.dir, 'wt');
    writeFileSync(join(ws, 'build.out'), 'o');
    process.env.SNAPLINE_CONFIG_CONTENT = JSON.stringify({ snapshot: { ignore: ['*.out'] } });
    const ctx = await storeContext(ws);
    const names = (tree: string) => git(ws, `--git-dir=${ctx.gitDir}`, 'ls-tree', '-r', '--name-only', tree).trim().split('\n');
    assert.deepEqual(names((await track(ws)).tree), ['README']);
    process.env.SNAPLINE_CONFIG_CONTENT = JSON.stringify({ snapshot: { ignore: [] } });
    assert.deepEqual(names((await track(ws)).tree), ['README', 'build.out']);
  } finally {
    delete process.env.SNAPLINE_CONFIG_CONTENT;
    linked.cleanup();
    repo.cleanup();
  }
});

test("a scan git cannot run fails the track with git's message, naming the command", async () => {
  const t = tempDir('ws');
  try {
    initRepo(t.dir);
    await track(t.dir);
    const ctx = await storeContext(t.dir);
    writeFileSync(join(ctx.gitDir!, 'index'), 'not an index');
    await assert.rejects(track(t.dir), (e: unknown) => e instanceof GitError && /^git (ls-files|diff-files): .*index/.test(e.message));
  } finally {
    t.cleanup();
  }
});

test('a file over the size cap is reported in skipped and left out of the tree', async () => {
  const ws = workspace();
  try {
    process.env.SNAPLINE_CONFIG_CONTENT = JSON.stringify({ snapshot: { maxFileSize: 1000 } });
    writeFileSync(join(ws.dir, 'big.bin'), Buffer.alloc(2000, 65));
    writeFileSync(join(ws.dir, 'nested', 'big2.bin'), Buffer.alloc(1001, 65));
    writeFileSync(join(ws.dir, 'small.txt'), 'small');
    const { tree, skipped } = await track(ws.dir);
    assert.deepEqual(
      skipped.sort((a, b) => a.path.localeCompare(b.path)),
      [
        { path: 'big.bin', reason: 'too-large', size: 2000 },
        { path: 'nested/big2.bin', reason: 'too-large', size: 1001 },
      ],
    );
    const ctx = await storeContext(ws.dir);
    const files = git(ws.dir, `--git-dir=${ctx.gitDir}`, 'ls-tree', '-r', '--name-only', tree);
    assert.doesNotMatch(files, /big/);
    assert.match(files, /small\.txt/);
  } finally {
    delete process.env.SNAPLINE_CONFIG_CONTENT;
    ws.cleanup();
  }
});

test('a failed staging makes track throw instead of returning a tree', async () => {
  const ws = workspace();
  try {
    await track(ws.dir);
    const store = await storeDir(ws.dir);
    // git writes big blobs into objects/pack: make that impossible.
    rmSync(join(store, 'objects', 'pack'), { recursive: true, force: true });
    writeFileSync(join(store, 'objects', 'pack'), 'not a directory');
    writeFileSync(join(ws.dir, 'large.bin'), Buffer.alloc(3 * 1024 * 1024, 66));
    await assert.rejects(track(ws.dir), StagingFailed);
    // A store git cannot open at all is reported as damaged, pointing at doctor.
    rmSync(join(store, 'objects'), { recursive: true, force: true });
    writeFileSync(join(store, 'objects'), 'x');
    await assert.rejects(track(ws.dir), (e: unknown) => e instanceof StoreCorrupt && /snapshot doctor --rebuild/.test(e.message));
    const report = await doctor(ws.dir, { rebuild: true });
    assert.equal(report.ok, false);
    assert.ok(report.movedTo && existsSync(report.movedTo));
    const { tree } = await track(ws.dir);
    assert.match(tree, /^[0-9a-f]{40}$/);
    assert.equal((await doctor(ws.dir)).ok, true);
  } finally {
    ws.cleanup();
  }
});

test('gc removes leftovers of killed runs; retained trees survive pruning, released ones do not', async () => {
  const ws = workspace();
  try {
    writeFileSync(join(ws.dir, 'f'), 'version one\n');
    const t1 = (await track(ws.dir)).tree;
    await retain(ws.dir, 'ses_keep', [t1]);
    writeFileSync(join(ws.dir, 'f'), 'version two\n');
    const t2 = (await track(ws.dir)).tree;
    await retain(ws.dir, 'ses_drop', [t2]);
    writeFileSync(join(ws.dir, 'f'), 'version three\n');
    await track(ws.dir);
    assert.equal(await release(ws.dir, 'ses_drop'), true);

    const store = await storeDir(ws.dir);
    const old = new Date(Date.now() - 3600_000);
    writeFileSync(join(store, 'objects', 'pack', 'tmp_pack_abc123'), 'partial');
    utimesSync(join(store, 'objects', 'pack', 'tmp_pack_abc123'), old, old);
    writeFileSync(join(store, 'index.lock'), '');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(join(store, 'snapline.lock'), JSON.stringify({ pid: dead, hostname: hostname(), started: Date.now() }));

    const [report] = await gc(ws.dir, { pruneNow: true });
    assert.ok(report);
    assert.deepEqual(report.removed.sort(), ['index.lock', 'objects/pack/tmp_pack_abc123']);
    assert.ok(!existsSync(join(store, 'snapline.lock')), 'stale snapline lock taken over and released');

    const has = (oid: string) => spawnSync('git', ['--git-dir', store, 'cat-file', '-e', oid]).status === 0;
    const blobOf = (tree: string) => git(ws.dir, `--git-dir=${store}`, 'rev-parse', `${tree}:f`);
    const b1 = blobOf(t1);
    assert.ok(has(t1) && has(b1), 'retained session keeps its tree and blobs');
    assert.ok(!has(t2), 'released session tree pruned');
    const usage = await du(ws.dir);
    assert.equal(usage[0]!.sessions.length, 1);
    assert.equal(usage[0]!.sessions[0]!.id, 'ses_keep');
    assert.ok(usage[0]!.bytes > 0 && usage[0]!.sessions[0]!.bytes > 0);
  } finally {
    ws.cleanup();
  }
});

test('retain skips git only while the session ref is the commit it made: a ref moved by anyone else is checked again', async () => {
  const ws = workspace();
  try {
    writeFileSync(join(ws.dir, 'f'), 'one\n');
    const t1 = (await track(ws.dir)).tree;
    await retain(ws.dir, 'ses_a', [t1]);
    const store = await storeDir(ws.dir);
    const ref = 'refs/snapline/sessions/ses_a';
    const kept = (tree: string) => spawnSync('git', ['--git-dir', store, 'rev-parse', '--verify', '--quiet', `${ref}:${tree}`]).status === 0;
    assert.ok(kept(t1));
    // Another holder commit that does not list t1, put in place behind retain's back (as a
    // restored backup or another tool could): the note retain left names the old commit.
    writeFileSync(join(ws.dir, 'f'), 'two\n');
    const t2 = (await track(ws.dir)).tree;
    const holder = spawnSync('git', ['--git-dir', store, 'mktree'], { input: `040000 tree ${t2}\t${t2}\n`, encoding: 'utf8' }).stdout.trim();
    const commit = git(ws.dir, `--git-dir=${store}`, 'commit-tree', holder, '-m', 'other');
    git(ws.dir, `--git-dir=${store}`, 'update-ref', ref, commit);
    assert.ok(!kept(t1));
    await retain(ws.dir, 'ses_a', [t1]);
    assert.ok(kept(t1), 'retain saw the ref had moved and kept the tree again');
    assert.ok(kept(t2), 'and kept what the ref held');
  } finally {
    ws.cleanup();
  }
});

test('retain writes the holder itself as git would (same tree as mktree, fsck clean), and hands over to git once gc packed it', async () => {
  const ws = workspace();
  try {
    const store = await storeDir(ws.dir);
    const ref = 'refs/snapline/sessions/ses_h';
    const trees: string[] = [];
    const check = (label: string) => {
      const listed = git(ws.dir, `--git-dir=${store}`, 'ls-tree', ref).trim().split('\n').map((l) => l.split(/\s+/)[2]);
      assert.deepEqual(listed, [...trees].sort(), label);
      const made = spawnSync('git', ['--git-dir', store, 'mktree'], { input: trees.map((t) => `040000 tree ${t}\t${t}\n`).join(''), encoding: 'utf8' }).stdout.trim();
      assert.equal(git(ws.dir, `--git-dir=${store}`, 'rev-parse', `${ref}^{tree}`).trim(), made, `${label}: the holder tree is the one git makes`);
      const fsck = spawnSync('git', ['--git-dir', store, 'fsck', '--strict', '--no-dangling'], { encoding: 'utf8' });
      assert.equal(fsck.status, 0, fsck.stderr);
    };
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(ws.dir, 'f'), `version ${i}\n`);
      trees.push((await track(ws.dir)).tree);
      await retain(ws.dir, 'ses_h', [trees.at(-1)!]);
      check(`retain ${i}`);
    }
    assert.ok(existsSync(join(store, ref)), 'a loose ref');
    await gc(ws.dir);
    assert.ok(!existsSync(join(store, ref)), 'gc packed the ref');
    writeFileSync(join(ws.dir, 'f'), 'after gc\n');
    trees.push((await track(ws.dir)).tree);
    await retain(ws.dir, 'ses_h', [trees.at(-1)!]);
    check('retain after gc');
    writeFileSync(join(ws.dir, 'f'), 'and after that\n');
    trees.push((await track(ws.dir)).tree);
    await retain(ws.dir, 'ses_h', [trees.at(-1)!]);
    check('retain after the one after gc');
  } finally {
    ws.cleanup();
  }
});

test('a live lock holder makes track wait, then fail with StoreLocked', async () => {
  const ws = workspace();
  try {
    await track(ws.dir);
    const store = await storeDir(ws.dir);
    // Our own pid is certainly alive.
    writeFileSync(join(store, 'snapline.lock'), JSON.stringify({ pid: process.pid, hostname: hostname(), started: Date.now() }));
    process.env.SNAPLINE_CONFIG_CONTENT = JSON.stringify({ snapshot: { lockTimeoutMs: 300 } });
    const notices: string[] = [];
    await assert.rejects(track(ws.dir, { onWait: (m) => notices.push(m) }), StoreLocked);
    assert.equal(notices.length, 1);
    assert.match(notices[0]!, new RegExp(`pid ${process.pid}`));
    unlinkSync(join(store, 'snapline.lock'));
  } finally {
    delete process.env.SNAPLINE_CONFIG_CONTENT;
    ws.cleanup();
  }
});

test('restore refuses paths outside the workspace and unknown trees, writing nothing', async () => {
  const ws = workspace();
  const outside = tempDir('outside');
  try {
    const { tree } = await track(ws.dir);
    symlinkSync(outside.dir, join(ws.dir, 'out'));
    const before = mtimes(ws.dir);
    await assert.rejects(restore(ws.dir, tree, ['../x']), PathOutsideWorkspace);
    await assert.rejects(restore(ws.dir, tree, ['/etc/passwd']), PathOutsideWorkspace);
    await assert.rejects(restore(ws.dir, tree, ['out/file']), PathOutsideWorkspace);
    await assert.rejects(restore(ws.dir, '0123456789abcdef0123456789abcdef01234567'), UnknownSnapshot);
    assert.deepEqual(mtimes(ws.dir), before);
    assert.deepEqual(readdirSync(outside.dir), []);
  } finally {
    outside.cleanup();
    ws.cleanup();
  }
});

test('paths with newlines, spaces and unicode round-trip, including a directory emptied by restore', async () => {
  const t = tempDir('names');
  try {
    const base = (await track(t.dir)).tree;
    mkdirSync(join(t.dir, 'new\nline dir'));
    writeFileSync(join(t.dir, 'new\nline dir', 'fïle\nname'), 'x\n');
    const later = (await track(t.dir)).tree;
    assert.deepEqual(await restore(t.dir, base), { written: [], deleted: ['new\nline dir/fïle\nname'] });
    assert.deepEqual(readdirSync(t.dir), [], 'the emptied directory is removed too');
    await restore(t.dir, later);
    assert.deepEqual(readdirSync(join(t.dir, 'new\nline dir')), ['fïle\nname']);
  } finally {
    t.cleanup();
  }
});

test('works in a directory that is not a git repository', async () => {
  const t = tempDir('plain');
  try {
    writeFileSync(join(t.dir, 'a'), 'a\n');
    const { tree } = await track(t.dir);
    assert.match(await storeDir(t.dir), /[/\\]snapshot[/\\]global[/\\][0-9a-f]{40}$/);
    writeFileSync(join(t.dir, 'a'), 'b\n');
    assert.deepEqual(await restore(t.dir, tree), { written: ['a'], deleted: [] });
  } finally {
    t.cleanup();
  }
});

test("an edit keeping a file's size and mtime is snapshotted, whatever the user's git config says about stat data", async () => {
  const t = tempDir('same-size');
  const globalConfig = join(t.dir, 'user.gitconfig');
  const saved = process.env.GIT_CONFIG_GLOBAL;
  // A user whose git trusts only size and mtime: the store must not inherit that.
  writeFileSync(globalConfig, '[core]\n\ttrustctime = false\n\tcheckStat = minimal\n');
  process.env.GIT_CONFIG_GLOBAL = globalConfig;
  try {
    const ws = join(t.dir, 'ws');
    mkdirSync(ws);
    const file = join(ws, 'a.txt');
    writeFileSync(file, 'aaaa\n');
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(file, hourAgo, hourAgo); // not racily clean: only the stat data can tell
    const seen = [(await track(ws)).tree];
    const ctx = await storeContext(ws);
    for (const content of ['bbbb\n', 'cccc\n']) {
      // git compares ctime in whole seconds: the edit must fall in a later second than the
      // snapshot that recorded the file (docs/snapshot.md, "Change detection").
      await new Promise((r) => setTimeout(r, 1100));
      const before = statSync(file, { bigint: true });
      writeFileSync(file, content);
      utimesSync(file, hourAgo, hourAgo);
      const afterEdit = statSync(file, { bigint: true });
      assert.equal(afterEdit.size, before.size);
      assert.equal(afterEdit.mtimeNs, before.mtimeNs);
      const { tree } = await track(ws);
      assert.ok(!seen.includes(tree), `the edit to '${content.trim()}' made a new tree`);
      seen.push(tree);
      const stored = spawnSync('git', ['--git-dir', ctx.gitDir!, 'rev-parse', `${tree}:a.txt`], { encoding: 'utf8' }).stdout.trim();
      assert.equal(stored, git(ws, 'hash-object', '--no-filters', 'a.txt'));
      assert.equal(readFileSync(file, 'utf8'), content);
    }
  } finally {
    if (saved === undefined) delete process.env.GIT_CONFIG_GLOBAL;
    else process.env.GIT_CONFIG_GLOBAL = saved;
    t.cleanup();
  }
});

test('the store is found by the root commit of HEAD: loose, packed and detached HEADs, and a new history', async () => {
  const t = tempDir('project-id');
  try {
    initRepo(t.dir);
    const rootOf = () => git(t.dir, 'rev-list', '--max-parents=0', 'HEAD');
    const storeIn = async () => (await storeDir(t.dir)).split(/[/\\]/).slice(-2)[0];
    assert.equal(await storeIn(), rootOf());
    writeFileSync(join(t.dir, 'b'), 'b\n');
    git(t.dir, 'add', 'b');
    git(t.dir, 'commit', '-qm', 'second');
    assert.equal(await storeIn(), rootOf());
    git(t.dir, 'pack-refs', '--all');
    assert.equal(await storeIn(), rootOf());
    git(t.dir, 'checkout', '-q', '--detach', 'HEAD~1');
    assert.equal(await storeIn(), rootOf());
    // Another history in the same repository: its own root, so its own store.
    git(t.dir, 'checkout', '-q', '--orphan', 'other');
    git(t.dir, 'commit', '-qm', 'other root');
    const other = rootOf();
    assert.equal(await storeIn(), other);
    git(t.dir, 'checkout', '-q', '-');
    assert.notEqual(rootOf(), other);
    assert.equal(await storeIn(), rootOf());
  } finally {
    t.cleanup();
  }
});

test('configuration errors name the bad key', () => {
  assert.throws(() => parseConfig('{"snapshot":{"maxFileSise":1}}', 'snapline.json'), (e: unknown) => e instanceof ConfigError && /snapshot\.maxFileSise/.test(e.message));
  assert.throws(() => parseConfig('{"snapshot":{"retention":{"maxAgeDays":-1}}}', 'x'), /snapshot\.retention\.maxAgeDays/);
  assert.equal(parseConfig('{"snapshot":{"maxFileSize":"2MiB"}}', 'x').snapshot.maxFileSize, 2 * 1024 * 1024);
});
