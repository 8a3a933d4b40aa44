/**
 * Big files staged by snapline's own copy (src/snapshot/pending.ts): the tree is git's, the copy
 * is faithful while the file is being written, kill -9 never loses or corrupts a blob, and every
 * reader finds the blobs a track left pending.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sessionFixture } from './session-helpers.js';
import { git, prng, tempDir } from './snapshot-helpers.js';

const MiB = 1024 * 1024;

/** `bytes` of text lines naming `tag`, the same for the same arguments. */
function text(bytes: number, tag: string): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = `${tag} line ${i} ${(i * 2654435761) % 1000003}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

/** The tree `git add -A && git write-tree` makes of a copy of `dir` (git is the oracle). */
function oracleTree(dir: string): string {
  const copy = tempDir('pending-oracle');
  try {
    cpSync(dir, join(copy.dir, 'w'), { recursive: true, filter: (src) => !src.endsWith('/.git') });
    const w = join(copy.dir, 'w');
    git(w, 'init', '-q');
    git(w, 'add', '-A');
    return git(w, 'write-tree');
  } finally {
    copy.cleanup();
  }
}

function fixture() {
  const f = sessionFixture();
  // No background sealer: the blobs stay pending until a reader seals them.
  f.env.SNAPLINE_BACKGROUND_SEAL = '0';
  const track = () => f.ok('snapshot', 'track').trim();
  const pending = () => readdirSync(join(f.storeGitDir(), 'snapline-pending')).filter((n) => /^[0-9a-f]{40}$/.test(n));
  const fsck = () => execFileSync('git', ['--git-dir', f.storeGitDir(), 'fsck', '--full', '--no-dangling'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const blob = (spec: string) => execFileSync('git', ['--git-dir', f.storeGitDir(), 'cat-file', 'blob', spec], { maxBuffer: 1 << 28 });
  return { f, track, pending, fsck, blob };
}

test('big files staged by our copy make the same tree as git add -A; their stat data makes the next scan see nothing; a reader seals them', async () => {
  const { f, track, pending, fsck, blob } = fixture();
  try {
    mkdirSync(join(f.dir, 'dir with space/ünï'), { recursive: true });
    writeFileSync(join(f.dir, 'big.txt'), text(5 * MiB, 'a0'));
    writeFileSync(join(f.dir, 'dir with space/ünï/big tool'), text(6 * MiB + 3, 'b0'));
    chmodSync(join(f.dir, 'dir with space/ünï/big tool'), 0o755);
    writeFileSync(join(f.dir, 'small.txt'), 'small\n');
    const t0 = track();
    assert.equal(t0, oracleTree(f.dir));
    assert.equal(pending().length, 2, 'both big files were staged by our copy');
    // Modified, new and deleted big files, and a small change beside them.
    writeFileSync(join(f.dir, 'big.txt'), text(5 * MiB, 'a1'));
    writeFileSync(join(f.dir, 'new big'), text(4 * MiB, 'c1'));
    execFileSync('rm', [join(f.dir, 'dir with space/ünï/big tool')]);
    writeFileSync(join(f.dir, 'small.txt'), 'small changed\n');
    // Copied in a later second than written: their stat data is vouched for (see the racy tests).
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 30));
    const t1 = track();
    assert.equal(t1, oracleTree(f.dir));
    assert.equal(pending().length, 4);
    // The index holds the files' stat data: git's own scan finds nothing to look at.
    const store = f.storeGitDir();
    const scan = (args: string[]) => execFileSync('git', ['--git-dir', store, '--work-tree', f.dir, ...args], { cwd: f.dir, env: { ...process.env, GIT_INDEX_FILE: join(store, 'index') }, encoding: 'utf8' });
    assert.equal(scan(['diff-files', '--name-only']), '');
    assert.match(scan(['ls-files', '--debug', 'big.txt']), new RegExp(`size: ${5 * MiB}\\b`));
    // A reader (doctor runs git fsck) seals every pending blob first; each is the file's content.
    assert.match(f.ok('snapshot', 'doctor'), /^ok: /);
    assert.deepEqual(pending(), []);
    fsck();
    assert.ok(blob(`${t1}:big.txt`).equals(readFileSync(join(f.dir, 'big.txt'))));
    assert.ok(blob(`${t0}:dir with space/ünï/big tool`).equals(text(6 * MiB + 3, 'b0')));
    assert.ok(blob(`${t1}:new big`).equals(text(4 * MiB, 'c1')));
  } finally {
    f.cleanup();
  }
});

test('restore and diff right after a track that left blobs pending read them (sealed first)', () => {
  const { f, track, pending } = fixture();
  try {
    writeFileSync(join(f.dir, 'big.txt'), text(5 * MiB, 'v1'));
    const t1 = track();
    writeFileSync(join(f.dir, 'big.txt'), Buffer.concat([text(5 * MiB, 'v1'), Buffer.from('one more line\n')]));
    const t2 = track();
    assert.equal(pending().length, 2);
    const ours = f.ok('diff', '--dir', f.dir, '--numstat', t1, t2).trim();
    assert.deepEqual(pending(), []);
    // git reads the sealed objects: the same numbers.
    assert.equal(ours, execFileSync('git', ['-c', 'core.bigFileThreshold=512m', '--git-dir', f.storeGitDir(), 'diff', '--no-renames', '--numstat', t1, t2], { encoding: 'utf8' }).trim());
    assert.match(ours, /^1\t1\tbig.txt$/);
    writeFileSync(join(f.dir, 'big.txt'), text(5 * MiB, 'v3'));
    const t3 = track();
    assert.equal(pending().length, 1);
    f.ok('snapshot', 'restore', t1);
    assert.ok(readFileSync(join(f.dir, 'big.txt')).equals(text(5 * MiB, 'v1')));
    // The state before the restore is kept too (the restore tracked it first).
    assert.ok(execFileSync('git', ['--git-dir', f.storeGitDir(), 'cat-file', 'blob', `${t3}:big.txt`], { maxBuffer: 1 << 28 }).equals(text(5 * MiB, 'v3')));
  } finally {
    f.cleanup();
  }
});

test('a big file rewritten while tracks run is snapshotted faithfully: once the writer stops, the tree is git\'s', { timeout: 120_000 }, async () => {
  const { f, track, fsck } = fixture();
  try {
    const file = join(f.dir, 'busy.bin');
    writeFileSync(file, text(8 * MiB, 'w-start'));
    track();
    // A writer rewriting the file in place, same size, different content each time, in chunks.
    const writer = spawn(process.execPath, ['-e', `
      const fs = require('node:fs');
      const end = Date.now() + 6000;
      for (let v = 0; Date.now() < end; v++) {
        const fd = fs.openSync(${JSON.stringify(file)}, 'r+');
        const chunk = Buffer.alloc(1 << 20, 'abcdefgh'[v % 8]);
        chunk.write('version ' + v + '\\n');
        for (let i = 0; i < 8; i++) fs.writeSync(fd, chunk, 0, chunk.length, i << 20);
        fs.closeSync(fd);
      }
    `], { stdio: 'ignore' });
    const done = new Promise((r) => writer.on('exit', r));
    // (track() is synchronous: the writer's exit event is only seen once the loop ends.)
    let tracks = 0;
    for (const end = Date.now() + 6000; Date.now() < end; tracks++) track();
    await done;
    assert.ok(tracks >= 2, `only ${tracks} tracks ran while the file was written`);
    // The writer is done: the snapshot must catch up with the file as it now is.
    assert.equal(track(), oracleTree(f.dir));
    assert.match(f.ok('snapshot', 'doctor'), /^ok: /);
    fsck();
  } finally {
    f.cleanup();
  }
});

test('kill -9 of a track or of the sealer at random points never loses or corrupts a blob', { timeout: 300_000 }, async () => {
  const { f, track, fsck, blob } = fixture();
  const rnd = prng(1009);
  try {
    writeFileSync(join(f.dir, 'a.bin'), text(6 * MiB, 'k'));
    track();
    for (let round = 0; round < 6; round++) {
      writeFileSync(join(f.dir, 'a.bin'), text(6 * MiB, `k${round}`));
      writeFileSync(join(f.dir, `b${round % 2}.bin`), text(5 * MiB, `kb${round}`));
      const killTrack = round % 2 === 0;
      const args = killTrack ? ['snapshot', 'track'] : ['snapshot', 'seal'];
      if (!killTrack) track(); // leaves blobs pending for the sealer below
      const env = killTrack ? f.env : { ...f.env, SNAPLINE_SEAL_STORE: f.storeGitDir() };
      const child = spawn(process.execPath, [join(import.meta.dirname, '..', 'src', 'cli', 'main.js'), ...args], { cwd: f.dir, env, stdio: 'ignore' });
      const delay = 50 + rnd.int(500);
      const status = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), delay);
        child.on('exit', (code) => {
          clearTimeout(timer);
          resolve(code);
        });
      });
      assert.ok(status === 0 || status === null, `${args.join(' ')} exited ${status}`);
      // The next command finishes the job: the tree is git's and every blob is whole.
      const tree = track();
      assert.equal(tree, oracleTree(f.dir), `round ${round} (${args.join(' ')} killed after ${delay} ms)`);
      assert.match(f.ok('snapshot', 'doctor'), /^ok: /);
      fsck();
      assert.ok(blob(`${tree}:a.bin`).equals(text(6 * MiB, `k${round}`)));
    }
  } finally {
    f.cleanup();
  }
});

test('the background sealer makes the pending blobs loose objects by itself', { timeout: 60_000 }, async () => {
  const { f, track, pending, fsck } = fixture();
  try {
    delete f.env.SNAPLINE_BACKGROUND_SEAL;
    writeFileSync(join(f.dir, 'big.txt'), text(5 * MiB, 'bg'));
    const tree = track();
    const deadline = Date.now() + 30_000;
    while (pending().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(pending(), []);
    // Sealed by the sealer, not by a reader: the object is there before anything read it.
    const oid = execFileSync('git', ['--git-dir', f.storeGitDir(), 'rev-parse', `${tree}:big.txt`], { encoding: 'utf8' }).trim();
    assert.ok(existsSync(join(f.storeGitDir(), 'objects', oid.slice(0, 2), oid.slice(2))));
    fsck();
  } finally {
    f.cleanup();
  }
});

test("the sealer makes racy index entries plain after comparing their content: an unchanged big file is one lstat again, a changed one is still seen", { timeout: 60_000 }, async () => {
  const { f, track } = fixture();
  try {
    const big = join(f.dir, 'big.txt');
    const small = join(f.dir, 'small.txt');
    writeFileSync(big, text(5 * MiB, 'racy'));
    writeFileSync(small, 'aa\n');
    // Copied in a later second than the write: its stat data goes into the index (vouched for).
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 30));
    track();
    const store = f.storeGitDir();
    const index = join(store, 'index');
    // As if the index had been written in the files' second (git then compares their content at every scan).
    const recorded = statSync(big);
    utimesSync(index, recorded.atime, recorded.mtime);
    // small.txt changes without a size change, its mtime put back.
    const smallBefore = statSync(small);
    writeFileSync(small, 'bb\n');
    utimesSync(small, smallBefore.atime, smallBefore.mtime);
    const env = { ...process.env, GIT_INDEX_FILE: index };
    const gitStore = (...args: string[]) => execFileSync('git', ['--git-dir', store, '--work-tree', f.dir, ...args], { cwd: f.dir, env, encoding: 'utf8' });
    assert.equal(gitStore('diff-files', '--name-only'), 'small.txt\n');
    const seal = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'src', 'cli', 'main.js'), 'snapshot', 'seal'], { env: { ...f.env, SNAPLINE_SEAL_STORE: store }, encoding: 'utf8' });
    assert.equal(seal.status, 0, seal.stderr);
    // The index now is from a later second than the big file: git trusts its stat data again.
    assert.ok(Math.floor(statSync(index).mtimeMs / 1000) > Math.floor(recorded.mtimeMs / 1000));
    assert.match(gitStore('ls-files', '--debug', 'big.txt'), new RegExp(`size: ${5 * MiB}\\b`));
    // The changed file was not declared clean.
    assert.equal(gitStore('diff-files', '--name-only'), 'small.txt\n');
    assert.equal(track(), oracleTree(f.dir));
  } finally {
    f.cleanup();
  }
});

test('a track right after big files were written (git add first, their entries after, their stat data after write-tree): the tree is git\'s, their stat data is in the index or recorded beside it, the next track needs no staging', { timeout: 60_000 }, async () => {
  const { f, track } = fixture();
  try {
    const big = join(f.dir, 'big.txt');
    for (let round = 0; round < 2; round++) {
      // At the start of a second: the track's index lands in the files' second unless it waits.
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
      writeFileSync(big, text(6 * MiB, `round ${round}`));
      writeFileSync(join(f.dir, `small${round}.txt`), `small ${round}\n`);
      const tree = track();
      assert.equal(tree, oracleTree(f.dir));
      const index = join(f.storeGitDir(), 'index');
      const gitStore = (...args: string[]) => execFileSync('git', ['--git-dir', f.storeGitDir(), '--work-tree', f.dir, ...args], { cwd: f.dir, env: { ...process.env, GIT_INDEX_FILE: index }, encoding: 'utf8' });
      // Its stat data: in the index once vouched for (copied in a later second than the write), else
      // recorded beside it to the nanosecond as GNU stat prints it, its entry without any (git lists
      // it as changed without reading it, rather than hashing a racy entry at every scan).
      const record = join(f.storeGitDir(), 'snapline-unvouched');
      if (existsSync(record)) {
        assert.equal(readFileSync(record, 'utf8').split('\n')[1], execFileSync('stat', ['-c', '%f %s %i %d %.9Y %.9Z %n', 'big.txt'], { cwd: f.dir, encoding: 'utf8' }).trimEnd());
        assert.match(gitStore('ls-files', '--debug', 'big.txt'), /size: 0\b/);
        assert.equal(gitStore('diff-files', '--name-only'), 'big.txt\n');
      } else {
        assert.match(gitStore('ls-files', '--debug', 'big.txt'), new RegExp(`size: ${6 * MiB}\\b`), 'with its stat data');
        assert.equal(gitStore('diff-files', '--name-only'), '');
      }
      const tick = statSync(index).mtimeMs;
      assert.equal(track(), tree, 'the next track names the same tree');
      assert.equal(statSync(index).mtimeMs, tick, '…without writing the index');
    }
  } finally {
    f.cleanup();
  }
});

test('a push right after a step whose blobs are still pending sends them (sealed first)', { timeout: 120_000 }, () => {
  const { f, pending } = fixture();
  const remote = tempDir('pending-remote');
  try {
    git(remote.dir, 'init', '-q', '--bare');
    f.env.SNAPLINE_CONFIG_CONTENT = JSON.stringify({ snapshot: { remote: remote.dir } });
    f.ok('turn', 'begin', 'write the big file');
    writeFileSync(join(f.dir, 'big.txt'), text(5 * MiB, 'pushed'));
    const step = JSON.parse(f.ok('turn', 'step', '--format', 'json')) as { sessionID: string; snapshot: string };
    assert.equal(pending().length, 1, 'the step left the blob pending');
    f.ok('sync', '--push');
    assert.deepEqual(pending(), []);
    // The remote has the session's snapshot with the big file's content.
    const pushed = execFileSync('git', ['--git-dir', remote.dir, 'cat-file', 'blob', `${step.snapshot}:big.txt`], { maxBuffer: 1 << 28 });
    assert.ok(pushed.equals(text(5 * MiB, 'pushed')));
    execFileSync('git', ['--git-dir', remote.dir, 'fsck', '--full', '--no-dangling'], { stdio: 'ignore' });
  } finally {
    f.cleanup();
    remote.cleanup();
  }
});
