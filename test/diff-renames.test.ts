import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { numstatBetween } from '../src/diff/numstat.js';
import { CLI, rng, tempRepo } from './helpers/repo.js';

/**
 * Differential test of rename detection and binary patches: two generated trees whose files
 * are renamed (same content, edited, across directories, with mode changes), duplicated,
 * deleted, added, made binary or executable; snapline and git compare them at several
 * similarity thresholds and rename limits. git is the oracle, byte for byte.
 */
const FILES = 160;
const SEED = 20261201;

type Tree = Map<string, { content: Buffer; mode: 'file' | 'exec' | 'link' }>;

function text(r: () => number, vocab: string[], n: number, crlf: boolean): string {
  const eol = crlf ? '\r\n' : '\n';
  let s = '';
  for (let i = 0; i < n; i++) s += vocab[Math.floor(r() * vocab.length)]! + eol;
  if (r() < 0.1) s += 'no final newline';
  return s;
}

function binary(r: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = r() < 0.3 ? 0 : Math.floor(r() * 256);
  return b;
}

/** An edit of `b`: lines (or for binaries, byte runs) replaced, inserted and removed. */
function edit(r: () => number, b: Buffer, vocab: string[]): Buffer {
  if (b.indexOf(0) >= 0) {
    const out = Buffer.from(b);
    for (let k = 0; k < 1 + Math.floor(r() * 5); k++) out[Math.floor(r() * out.length)] = Math.floor(r() * 256);
    return r() < 0.5 ? Buffer.concat([out, binary(r, Math.floor(r() * 200))]) : out;
  }
  const lines = b.toString('utf8').split('\n');
  const edits = 1 + Math.floor(r() * (lines.length / 4));
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(r() * (lines.length + 1));
    const op = r();
    if (op < 0.4) lines.splice(at, 0, vocab[Math.floor(r() * vocab.length)]!);
    else if (op < 0.7) lines.splice(at, 1);
    else lines[at] = `changed ${Math.floor(r() * 1000)}`;
  }
  return Buffer.from(lines.join('\n'));
}

function generate(seed: number): [Tree, Tree] {
  const r = rng(seed);
  const dirs = ['', 'src/', 'src/lib/', 'docs/', 'test/', 'old/', 'new/', 'a/b/c/'];
  const names = ['index.ts', 'util.ts', 'README.md', 'data.bin', 'Makefile', 'main.c', 'notes.txt', 'logo.png'];
  const vocab = Array.from({ length: 40 }, (_, k) => (k % 7 === 0 ? '' : `line ${k} ${'x'.repeat(k % 9)}`));
  const one: Tree = new Map();
  for (let i = 0; i < FILES; i++) {
    const path = `${dirs[Math.floor(r() * dirs.length)]}${r() < 0.5 ? names[Math.floor(r() * names.length)] : `f${i}.txt`}`;
    if (one.has(path)) continue;
    const kind = r();
    const content = kind < 0.12 ? binary(r, 20 + Math.floor(r() * 3000)) : kind < 0.15 ? Buffer.alloc(0) : Buffer.from(text(r, vocab, Math.floor(r() * 80), r() < 0.1));
    const mode = r() < 0.1 ? 'exec' : r() < 0.04 ? 'link' : 'file';
    one.set(path, { content: mode === 'link' ? Buffer.from(`target-${i % 5}`) : content, mode });
  }
  // A few files with the same content, so exact renames have several candidates.
  const shared = Buffer.from(text(r, vocab, 30, false));
  for (const p of ['dup/one.txt', 'dup/two.txt', 'dup/three.txt']) one.set(p, { content: shared, mode: 'file' });

  const two: Tree = new Map();
  for (const [path, f] of one) {
    const op = r();
    const moved = () => {
      const base = r() < 0.6 ? path.slice(path.lastIndexOf('/') + 1) : `renamed${Math.floor(r() * 50)}.txt`;
      return `${dirs[Math.floor(r() * dirs.length)]}${r() < 0.3 ? 'moved/' : ''}${base}`;
    };
    if (op < 0.15) two.set(moved(), f); // exact rename
    else if (op < 0.35) two.set(moved(), { content: edit(r, f.content, vocab), mode: r() < 0.2 ? 'exec' : f.mode === 'link' ? 'file' : f.mode }); // rename with edits
    else if (op < 0.42) continue; // deleted
    else if (op < 0.5) two.set(path, { content: edit(r, f.content, vocab), mode: f.mode });
    else if (op < 0.55) two.set(path, { ...f, mode: f.mode === 'exec' ? 'file' : 'exec' });
    else if (op < 0.6) {
      two.set(path, f);
      two.set(moved(), { content: edit(r, f.content, vocab), mode: f.mode }); // a copy: git -M does not pair it
    } else two.set(path, f);
  }
  for (let i = 0; i < 12; i++) two.set(`added/n${i}.txt`, { content: Buffer.from(text(r, vocab, Math.floor(r() * 40), false)), mode: 'file' });
  for (const p of ['dup2/one.txt', 'dup2/x.txt', 'dup/four.txt']) two.set(p, { content: shared, mode: 'file' });
  return [one, two];
}

/** The tree id of `tree`, written through the repository's index. */
function writeTree(repo: ReturnType<typeof tempRepo>, tree: Tree): string {
  for (const entry of execFileSync('git', ['ls-files', '-z'], { cwd: repo.dir }).toString().split('\0').filter(Boolean)) rmSync(join(repo.dir, entry), { force: true });
  for (const [path, f] of tree) {
    const full = join(repo.dir, path);
    mkdirSync(dirname(full), { recursive: true });
    rmSync(full, { force: true, recursive: true });
    if (f.mode === 'link') symlinkSync(f.content.toString('utf8') || 'empty', full);
    else {
      writeFileSync(full, f.content);
      chmodSync(full, f.mode === 'exec' ? 0o755 : 0o644);
    }
  }
  repo.git('add', '-A');
  return repo.git('write-tree').trim();
}

function snapline(cwd: string, ...args: string[]): string {
  return execFileSync(process.execPath, [CLI, 'diff', ...args], { cwd, maxBuffer: 1 << 30, env: { ...process.env, COLUMNS: '100' } }).toString('utf8');
}

describe('renames and binary patches against git', () => {
  const repo = tempRepo();
  const trees: [string, string][] = [];
  before(() => {
    repo.git('config', 'core.symlinks', 'true');
    for (const seed of [SEED, SEED + 1]) {
      const [one, two] = generate(seed);
      trees.push([writeTree(repo, one), writeTree(repo, two)]);
    }
  });
  after(() => repo.cleanup());

  const gitDiff = (...args: string[]) => execFileSync('git', ['diff', ...args], { cwd: repo.dir, maxBuffer: 1 << 30, env: { ...process.env, COLUMNS: '100' } }).toString('utf8');

  it('finds the renames git finds, with its scores: numstat at -M, -M30%, -M90%, -M100% and --find-renames=70%', () => {
    for (const [t1, t2] of trees) {
      for (const m of ['-M', '-M30%', '-M90%', '-M100%', '--find-renames=70%']) {
        const expected = gitDiff(m, '--numstat', t1, t2);
        assert.ok(expected.includes(' => '), `the trees have renames at ${m}`);
        assert.equal(snapline(repo.dir, t1, t2, '--numstat', m), expected, `numstat ${m}`);
      }
      const raw = gitDiff('-M', '--raw', '--no-abbrev', t1, t2);
      assert.match(raw, / R0[5-9]\d\t/, 'some renames are inexact');
    }
  });

  it('pairs by the rename limit as git does (-l): file-name matches kept, the matrix skipped', () => {
    for (const [t1, t2] of trees) {
      const expected = gitDiff('-M', '-l2', '--numstat', t1, t2);
      assert.notEqual(expected, gitDiff('-M', '--numstat', t1, t2), 'the limit changes the answer');
      assert.equal(snapline(repo.dir, t1, t2, '--numstat', '-M', '--rename-limit', '2'), expected);
    }
  });

  it('lays out --stat and writes patches byte-identical to git diff -M, text and --binary', () => {
    for (const [t1, t2] of trees) {
      assert.equal(snapline(repo.dir, t1, t2, '--stat', '-M'), gitDiff('-M', '--stat', t1, t2));
      assert.equal(snapline(repo.dir, t1, t2, '--patch', '-M'), gitDiff('-M', t1, t2));
      assert.equal(snapline(repo.dir, t1, t2, '--patch', '-M', '--binary'), gitDiff('-M', '--binary', t1, t2));
      assert.equal(snapline(repo.dir, t1, t2, '--patch', '--binary'), gitDiff('--no-renames', '--binary', t1, t2));
    }
  });

  it('gives renames in the library as {status: renamed, from, similarity}', async () => {
    const [t1, t2] = trees[0]!;
    const stats = await numstatBetween({ cwd: repo.dir }, t1, t2, { renames: {} });
    const raw = gitDiff('-M', '--raw', '-z', t1, t2).split('\0');
    const renames = new Map<string, { from: string; similarity: number }>();
    for (let i = 0; i < raw.length - 1; i++) {
      const m = /^:\d+ \d+ \S+ \S+ R(\d+)$/.exec(raw[i]!);
      if (m) renames.set(raw[i + 2]!, { from: raw[i + 1]!, similarity: Number(m[1]) });
    }
    const ours = stats.filter((s) => s.status === 'renamed');
    assert.equal(ours.length, renames.size);
    for (const s of ours) assert.deepEqual({ from: s.from, similarity: s.similarity }, renames.get(s.file), s.file);
  });

  it('--binary patches apply with git apply and give the new tree, big binaries included', () => {
    const [t1, t2] = trees[1]!;
    // Binaries over 256 KiB take the streamed literal path: add, rename-with-edit and change some.
    const r = rng(SEED + 9);
    const base = writeTree(repo, new Map([...lsTree(repo, t1)].map(([p, c]) => [p, c])));
    assert.equal(base, t1);
    const big = binary(r, 600 * 1024);
    const withBig = new Map(lsTree(repo, t1));
    withBig.set('blobs/big.bin', { content: big, mode: 'file' });
    withBig.set('blobs/gone.bin', { content: binary(r, 300 * 1024), mode: 'file' });
    const from = writeTree(repo, withBig);
    const next = new Map(lsTree(repo, t2));
    const changed = Buffer.from(big);
    changed[1000] = (changed[1000]! + 1) % 256;
    next.set('blobs/moved/big.bin', { content: changed, mode: 'exec' });
    next.set('blobs/new.bin', { content: binary(r, 400 * 1024), mode: 'file' });
    const to = writeTree(repo, next);
    for (const m of ['-M', '--no-renames']) {
      const patch = snapline(repo.dir, from, to, '--patch', '--binary', m);
      assert.match(patch, /^literal 6144\d\d$/m, 'a big binary is written as a literal');
      const env = { ...process.env, GIT_INDEX_FILE: join(repo.dir, '.git', 'apply-index') };
      execFileSync('git', ['read-tree', from], { cwd: repo.dir, env });
      execFileSync('git', ['apply', '--cached', '--binary', '-'], { cwd: repo.dir, env, input: patch, maxBuffer: 1 << 30 });
      assert.equal(execFileSync('git', ['write-tree'], { cwd: repo.dir, env }).toString().trim(), to, `applied ${m} patch gives the new tree`);
    }
    // Pages cut inside a streamed literal resume there: together they are the whole patch.
    const whole = snapline(repo.dir, from, to, '--patch', '--binary', '-M');
    let pages = '';
    let cursor: string | undefined;
    do {
      const r = spawnSync(process.execPath, [CLI, 'diff', from, to, '--patch', '--binary', '-M', '--max-bytes', String(1 << 20), ...(cursor ? ['--continue', cursor] : [])], { cwd: repo.dir, encoding: 'utf8', maxBuffer: 1 << 30 });
      assert.equal(r.status, 0, r.stderr);
      pages += r.stdout;
      cursor = /--continue (\S+)/.exec(r.stderr)?.[1];
    } while (cursor);
    assert.equal(pages, whole);
  });
});

/** A tree's files as a Tree (contents read from the repository). */
function lsTree(repo: ReturnType<typeof tempRepo>, tree: string): Tree {
  const out: Tree = new Map();
  for (const line of repo.git('ls-tree', '-r', '-z', tree).split('\0').filter(Boolean)) {
    const m = /^(\d+) blob (\S+)\t(.*)$/s.exec(line)!;
    const content = repo.gitBuf('cat-file', 'blob', m[2]!);
    out.set(m[3]!, { content, mode: m[1] === '120000' ? 'link' : m[1] === '100755' ? 'exec' : 'file' });
  }
  return out;
}
