/**
 * git trusts an index entry's stat data to the second (this machine's git compares no
 * nanoseconds): a file rewritten with the same size in the second of its recorded mtime is seen
 * only while the index is racy for it (written in that second or before) or the entry is
 * smudged. snapline writes index stat data itself (src/git/index-stat.ts, for the big files it
 * copies, src/snapshot/pending.ts) — never so that such a rewrite is hidden. git is the oracle:
 * `git diff-files` must list the file.
 */
import { strict as assert } from 'node:assert';
import { lstatSync, mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setIndexStat } from '../src/git/index-stat.js';
import { stagePending, type EntryStat } from '../src/snapshot/pending.js';
import { git, tempDir } from './snapshot-helpers.js';

const MiB = 1024 * 1024;

/** Resolves just after the next second starts (past the kernel's coarse timestamp clock). */
async function nextSecond(): Promise<number> {
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 30));
  return Math.floor(Date.now() / 1000);
}

const second = (file: string) => Math.floor(statSync(file).mtimeMs / 1000);

function entryStatOf(file: string): EntryStat {
  const s = lstatSync(file, { bigint: true });
  const u = (v: bigint) => Number(BigInt.asUintN(32, v));
  return {
    ctimeSec: u(s.ctimeNs / 1_000_000_000n), ctimeNsec: u(s.ctimeNs % 1_000_000_000n),
    mtimeSec: u(s.mtimeNs / 1_000_000_000n), mtimeNsec: u(s.mtimeNs % 1_000_000_000n),
    dev: u(s.dev), ino: u(s.ino), mode: 0o100644, uid: u(s.uid), gid: u(s.gid), size: u(s.size),
  };
}

const modified = (w: string) => git(w, 'diff-files', '--name-only').split('\n').filter(Boolean);

/** A new repository in a temp dir for `fn`, removed afterwards. */
async function inRepo(prefix: string, fn: (w: string) => Promise<void>): Promise<void> {
  const t = tempDir(prefix);
  try {
    const w = join(t.dir, 'w');
    mkdirSync(w);
    git(w, 'init', '-q');
    await fn(w);
  } finally {
    t.cleanup();
  }
}

/**
 * big.bin written just after a second starts (`wholeSecond`: stamped as a file system keeping
 * only seconds would) and copied 60 ms later, settled as an agent's step hook copies it.
 */
async function copiedInItsSecond(w: string, content: string, wholeSecond = false) {
  const file = join(w, 'big.bin');
  const s = await nextSecond();
  writeFileSync(file, Buffer.alloc(5 * MiB, content));
  if (wholeSecond) utimesSync(file, s, s); // (ctime keeps its own time)
  await new Promise((r) => setTimeout(r, 60));
  const staged = await stagePending(join(w, '.git'), Buffer.from('big.bin'), Buffer.from(file), `tmp-${content}`);
  assert.ok(staged, 'the copy was taken');
  return { file, s, staged };
}

test('an index rewritten with stat data in a later second keeps what git left racy: a same-size rewrite in that second is still seen', () =>
  inRepo('racy-index', async (w) => {
    writeFileSync(join(w, 'big.bin'), 'stat data written by snapline\n');
    for (let attempt = 0; ; attempt++) {
      assert.ok(attempt < 5, 'could not stage and rewrite within one second');
      const s = await nextSecond();
      writeFileSync(join(w, 'f.txt'), `first ${attempt}\n`);
      git(w, 'add', '-A');
      // git has read f.txt; rewritten in the same second with the same size, git's stat data matches.
      writeFileSync(join(w, 'f.txt'), `again ${attempt}\n`);
      if (second(join(w, 'f.txt')) === s && second(join(w, '.git', 'index')) === s) break;
    }
    assert.deepEqual(modified(w), ['f.txt'], 'git sees the rewrite while its index is racy');
    await nextSecond();
    const set = await setIndexStat(join(w, '.git', 'index'), new Map([[Buffer.from('big.bin').toString('hex'), entryStatOf(join(w, 'big.bin'))]]));
    assert.equal(set, 1);
    assert.equal(git(w, 'fsck', '--no-dangling', '--no-progress'), '');
    assert.deepEqual(modified(w), ['f.txt'], 'the rewritten index hid the rewrite');
    git(w, 'add', '-A');
    assert.deepEqual(modified(w), []);
  }));

test('a big file rewritten after its copy, in the second its copy ended, is never recorded as clean', () =>
  inRepo('racy-copy', async (w) => {
    for (let attempt = 0; ; attempt++) {
      assert.ok(attempt < 5, 'could not copy and rewrite within one second');
      const { file, s, staged } = await copiedInItsSecond(w, `a${attempt}`);
      writeFileSync(file, Buffer.alloc(5 * MiB, `b${attempt}`));
      if (second(file) !== s) continue;
      // As track goes on: git writes the index (here in a later second), then the copy's stat data is set (statBig).
      await nextSecond();
      git(w, 'update-index', '--add', '--cacheinfo', `${staged.mode},${staged.oid},big.bin`);
      // track sets stat data only where vouched for (statBig); the rest waits (unvouched.ts).
      assert.ok(staged.stat, 'the copy began well after the write');
      if (staged.vouched) await setIndexStat(join(w, '.git', 'index'), new Map([[Buffer.from('big.bin').toString('hex'), staged.stat]]));
      assert.deepEqual(modified(w), ['big.bin'], `recorded ${JSON.stringify(staged)}`);
      return;
    }
  }));

test('a timestamp of a whole second (a file system that keeps only seconds) is not taken as settled until that second is over', () =>
  inRepo('racy-coarse', async (w) => {
    for (let attempt = 0; ; attempt++) {
      assert.ok(attempt < 5, 'could not copy within the second of the write');
      const { s, staged } = await copiedInItsSecond(w, `c${attempt}`, true);
      if (Math.floor(Date.now() / 1000) !== s) continue;
      // Any write until the second ends could leave the same stat data: git must look itself.
      assert.equal(staged.stat, undefined);
      return;
    }
  }));
