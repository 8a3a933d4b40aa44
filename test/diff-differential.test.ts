import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { numstatBetween } from '../src/diff/numstat.js';
import { patchStream } from '../src/diff/patch.js';
import { displayName } from '../src/diff/stat.js';
import { rng, tempRepo } from './helpers/repo.js';

/**
 * Differential test: thousands of generated file pairs in one real repository, compared by
 * snapline and by the git binary (the oracle) between the same two trees.
 */
const CASES = Number(process.env.SNAPLINE_DIFF_CASES ?? 3000);
const SEED = 20261123;

function makeLines(r: () => number, vocab: string[], n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(vocab[Math.floor(r() * vocab.length)]!);
  return out;
}

function mutate(r: () => number, lines: string[], vocab: string[]): string[] {
  const out = lines.slice();
  const edits = 1 + Math.floor(r() * 8);
  for (let e = 0; e < edits; e++) {
    const op = r();
    const at = Math.floor(r() * (out.length + 1));
    if (op < 0.3) out.splice(at, 0, ...makeLines(r, vocab, 1 + Math.floor(r() * 5)));
    else if (op < 0.55) out.splice(at, 1 + Math.floor(r() * 5));
    else if (op < 0.8) out[at] = vocab[Math.floor(r() * vocab.length)]! + (r() < 0.5 ? ' changed' : '');
    else {
      // move a block
      const len = 1 + Math.floor(r() * 10);
      const block = out.splice(at, len);
      out.splice(Math.floor(r() * (out.length + 1)), 0, ...block);
    }
  }
  return out;
}

/**
 * A rewrite: most lines replaced by lines found nowhere else, a few kept, and vocabulary lines
 * (many of them occurring very often in the old file) sprinkled every few dozen to few hundred
 * lines, alone or (with `blocks`) sometimes in blocks of up to 200: long runs of one-sided
 * lines around sparse, often repeated, matches.
 */
function rewrite(r: () => number, lines: string[], vocab: string[], id: number, blocks: boolean): string[] {
  const keep = [0.002, 0.02, 0.1][Math.floor(r() * 3)]!;
  const sprinkle = 1 / (20 + Math.floor(r() * 400));
  const out: string[] = [];
  lines.forEach((line, k) => {
    if (r() < keep) out.push(line);
    else if (r() < sprinkle) {
      const block = blocks && r() < 0.3 ? 1 + Math.floor(r() * 200) : 1;
      for (let j = 0; j < block; j++) out.push(vocab[Math.floor(r() * vocab.length)]!);
    } else out.push(`fresh ${id} ${k}`);
  });
  return out;
}

function render(r: () => number, lines: string[], crlf: boolean): string {
  const eol = crlf ? '\r\n' : '\n';
  let s = lines.join(eol);
  if (lines.length && r() < 0.85) s += eol; // sometimes no final newline
  return s;
}

describe('diff engine against git', () => {
  const repo = tempRepo();
  let t1 = '';
  let t2 = '';
  before(() => {
    const r = rng(SEED);
    const dir = join(repo.dir, 'cases');
    mkdirSync(dir);
    const pairs: [string, string | null][] = [];
    for (let i = 0; i < CASES; i++) {
      const kind = r();
      // small vocabularies give many repeated lines (git's many-matches rules); large ones few
      const vocabSize = kind < 0.3 ? 3 + Math.floor(r() * 5) : kind < 0.6 ? 30 : 2000;
      const indentVocab = Array.from({ length: vocabSize }, (_, k) => (r() < 0.3 ? '' : ' '.repeat(Math.floor(r() * 3) * 4)) + (r() < 0.1 ? '' : `line ${k}`) + (r() < 0.05 ? '\t' : ''));
      const n = Math.floor(r() * (r() < 0.1 ? 3000 : 120));
      const a = makeLines(r, indentVocab, n);
      const crlf = r() < 0.1;
      let before: string = render(r, a, crlf);
      let after: string | null = render(r, mutate(r, a, indentVocab), crlf);
      if (r() < 0.03) before = '';
      if (r() < 0.03) after = '';
      if (r() < 0.02) after = null; // deleted
      if (r() < 0.02) after = before.slice(0, 100) + '\0binary' + before.slice(100);
      pairs.push([before, after]);
      writeFileSync(join(dir, `f${i}.txt`), before);
    }
    for (const blocks of [false, true]) {
      const rr = rng(SEED + (blocks ? 2 : 1));
      for (let i = 0; i < CASES / 20; i++) {
        const vocab = Array.from({ length: [3, 30, 2000][Math.floor(rr() * 3)]! }, (_, k) => `line ${k}`);
        const a = makeLines(rr, vocab, 200 + Math.floor(rr() * 3000));
        const before = render(rr, a, false);
        pairs.push([before, render(rr, rewrite(rr, a, vocab, i, blocks), false)]);
        writeFileSync(join(dir, `f${pairs.length - 1}.txt`), before);
      }
    }
    writeFileSync(join(dir, 'only-in-new.txt'), 'fresh\nfile\n');
    repo.git('add', '-A');
    repo.git('rm', '-q', '--cached', 'cases/only-in-new.txt');
    t1 = repo.git('write-tree').trim();
    // Some files move (some edited on the way, some made executable) for the -M comparisons.
    const moved = rng(SEED + 3);
    pairs.forEach(([, after], i) => {
      const p = join(dir, `f${i}.txt`);
      if (after === null) execFileSync('rm', [p]);
      else if (moved() < 0.03) {
        execFileSync('rm', [p]);
        const to = join(repo.dir, moved() < 0.5 ? 'cases' : 'moved', `${moved() < 0.5 ? `f${i}` : `g${i}`}.txt`.replace(/^f/, 'r'));
        mkdirSync(join(to, '..'), { recursive: true });
        writeFileSync(to, after);
        if (moved() < 0.2) chmodSync(to, 0o755);
      } else writeFileSync(p, after);
    });
    repo.git('add', '-A');
    t2 = repo.git('write-tree').trim();
  });
  after(() => repo.cleanup());

  it('gives exactly the numbers of git diff --no-renames --numstat', async () => {
    const expected = repo.git('diff', '--no-renames', '--numstat', t1, t2).trimEnd().split('\n');
    const stats = await numstatBetween({ cwd: repo.dir }, t1, t2);
    const got = stats.map((s) => (s.binary ? `-\t-\t${s.file}` : `${s.additions}\t${s.deletions}\t${s.file}`));
    assert.ok(expected.length > CASES * 0.9, `git reported ${expected.length} changed files`);
    assert.ok(stats.every((s) => !s.approximate));
    const mismatches = got.filter((line, i) => line !== expected[i]);
    assert.equal(got.length, expected.length);
    assert.deepEqual(mismatches, [], `${mismatches.length} of ${got.length} files differ from git`);
  });

  it('produces patches that git apply accepts and that reproduce the new tree', async () => {
    const parts: Buffer[] = [];
    for await (const b of patchStream({ cwd: repo.dir }, t1, t2).chunks) parts.push(b);
    // git apply cannot apply "Binary files differ" sections (nor can it from git diff): drop them
    const sections = Buffer.concat(parts).toString('utf8').split(/(?=^diff --git )/m);
    const patch = sections.filter((sec) => !/^Binary files .* differ$/m.test(sec)).join('');
    assert.ok(sections.length > CASES * 0.8);
    // Apply to a scratch index holding the old tree, then compare trees.
    const env = { ...process.env, GIT_INDEX_FILE: join(repo.dir, '.git', 'scratch-index') };
    execFileSync('git', ['read-tree', t1], { cwd: repo.dir, env });
    execFileSync('git', ['apply', '--cached', '--whitespace=nowarn', '-'], { cwd: repo.dir, env, input: patch });
    const applied = execFileSync('git', ['write-tree'], { cwd: repo.dir, env }).toString().trim();
    // binary files cannot be applied from a patch without --binary; compare the text files
    const diffAfter = execFileSync('git', ['diff', '--numstat', applied, t2], { cwd: repo.dir }).toString().trim().split('\n').filter(Boolean);
    assert.ok(diffAfter.every((l) => l.startsWith('-\t-\t')), `after applying, still differs:\n${diffAfter.slice(0, 5).join('\n')}`);
  });

  it('produces patches byte-identical to git diff', async () => {
    const parts: Buffer[] = [];
    for await (const b of patchStream({ cwd: repo.dir }, t1, t2).chunks) parts.push(b);
    const ours = Buffer.concat(parts).toString('utf8').split(/(?=^diff --git )/m);
    const theirs = repo.git('diff', '--no-renames', t1, t2).split(/(?=^diff --git )/m);
    assert.equal(ours.length, theirs.length);
    const differing = ours.map((s, i) => (s === theirs[i] ? null : s.split('\n')[0])).filter(Boolean);
    assert.deepEqual(differing, [], `${differing.length} file sections differ from git diff`);
  });

  it('produces coloured patches byte-identical to git diff --color=always', async () => {
    const parts: Buffer[] = [];
    for await (const b of patchStream({ cwd: repo.dir }, t1, t2, { color: true }).chunks) parts.push(b);
    const start = /(?=^\x1b\[1mdiff --git )/m;
    const ours = Buffer.concat(parts).toString('utf8').split(start);
    const theirs = repo.git('diff', '--no-renames', '--color=always', t1, t2).split(start);
    // The generated files have trailing tabs, CRLF endings, blank lines added at the end and
    // lines without a final newline: git's whitespace-error painting is exercised.
    assert.ok(theirs.some((t) => t.includes('\x1b[41m')), 'no whitespace errors painted by git');
    assert.equal(ours.length, theirs.length);
    const differing = ours.map((s, i) => (s === theirs[i] ? null : s.split('\n')[0])).filter(Boolean);
    assert.deepEqual(differing, [], `${differing.length} file sections differ from git diff --color=always`);
  });

  it('with -M: the numbers and renames of git diff -M --numstat, and --binary patches byte-identical to git', async () => {
    const expected = repo.git('diff', '-M', '--numstat', t1, t2);
    assert.ok((expected.match(/ => /g) ?? []).length > CASES / 100, 'the trees have renames');
    const stats = await numstatBetween({ cwd: repo.dir }, t1, t2, { renames: {} });
    assert.equal(stats.map((s) => `${s.binary ? '-' : s.additions}\t${s.binary ? '-' : s.deletions}\t${displayName(s)}\n`).join(''), expected);
    const parts: Buffer[] = [];
    for await (const b of patchStream({ cwd: repo.dir }, t1, t2, { renames: {}, binary: true }).chunks) parts.push(b);
    const ours = Buffer.concat(parts).toString('utf8').split(/(?=^diff --git )/m);
    const theirs = repo.git('diff', '-M', '--binary', t1, t2).split(/(?=^diff --git )/m);
    assert.equal(ours.length, theirs.length);
    const differing = ours.map((s, i) => (s === theirs[i] ? null : s.split('\n')[0])).filter(Boolean);
    assert.deepEqual(differing, [], `${differing.length} file sections differ from git diff -M --binary`);
  });

  it('with -M: coloured patches byte-identical to git diff -M --color=always', async () => {
    const parts: Buffer[] = [];
    for await (const b of patchStream({ cwd: repo.dir }, t1, t2, { renames: {}, color: true }).chunks) parts.push(b);
    const start = /(?=^\x1b\[1mdiff --git )/m;
    const ours = Buffer.concat(parts).toString('utf8').split(start);
    const theirs = repo.git('diff', '-M', '--color=always', t1, t2).split(start);
    assert.ok(theirs.some((t) => t.includes('\x1b[1mrename from ')), 'no coloured renames from git');
    assert.equal(ours.length, theirs.length);
    const differing = ours.map((s, i) => (s === theirs[i] ? null : s.split('\n')[0])).filter(Boolean);
    assert.deepEqual(differing, [], `${differing.length} file sections differ from git diff -M --color=always`);
  });
});
