import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { numstatBetween } from '../src/diff/numstat.js';
import { patchStream } from '../src/diff/patch.js';
import { rng, tempRepo } from './helpers/repo.js';

/**
 * Line hashing must not depend on where a line falls in the stream: big blobs arrive in
 * chunks of up to 256 KiB, hashed 64 KiB at a time, so the same line is cut differently on
 * each side. Lines of every length modulo 4, lines far longer than a chunk, and whitespace
 * indents are moved by 1 to 3 bytes between the sides; git is the oracle.
 */
describe('line hashing across chunk boundaries, against git', () => {
  const repo = tempRepo();
  let t1 = '';
  let t2 = '';
  before(() => {
    const r = rng(20261201);
    const indent = () => [' ', '  ', '\t', '    ', ' \t', ''][Math.floor(r() * 6)]!;
    const word = () => Math.floor(r() * 36 ** 4).toString(36);
    // A vocabulary of lines of lengths 1-12 and 20-200, some repeated often, and a few
    // lines longer than a chunk (64 KiB to 320 KiB).
    const vocab: string[] = [];
    for (let i = 0; i < 400; i++) {
      const text = r() < 0.3 ? 'abcdefghijkl'.slice(0, 1 + Math.floor(r() * 12)) : Array.from({ length: 3 + Math.floor(r() * 30) }, word).join(' ');
      vocab.push(indent() + text + (r() < 0.05 ? '\r' : ''));
    }
    vocab.push('', '   ', '\t');
    const long = Array.from({ length: 4 }, () => indent() + 'x'.repeat(65536 + Math.floor(r() * 256 * 1024)) + word());
    const pick = () => (r() < 0.003 ? long[Math.floor(r() * long.length)]! : vocab[Math.floor(r() * vocab.length)]!);
    const lines = Array.from({ length: 12_000 }, pick);
    const moved = lines.slice();
    for (let e = 0; e < 200; e++) {
      const at = Math.floor(r() * moved.length);
      const op = r();
      // Shifts by 1-3 bytes change every later line's place relative to chunk boundaries.
      if (op < 0.4) moved.splice(at, 0, 'abc'.slice(0, 1 + Math.floor(r() * 3)));
      else if (op < 0.7) moved.splice(at, 1 + Math.floor(r() * 3));
      else moved.splice(Math.floor(r() * moved.length), 0, ...moved.splice(at, 1 + Math.floor(r() * 40)));
    }
    writeFileSync(join(repo.dir, 'big.txt'), lines.join('\n') + '\n');
    writeFileSync(join(repo.dir, 'unterminated.txt'), lines.slice(0, 6000).join('\n'));
    repo.git('add', '-A');
    t1 = repo.git('write-tree').trim();
    writeFileSync(join(repo.dir, 'big.txt'), moved.join('\n') + '\n');
    writeFileSync(join(repo.dir, 'unterminated.txt'), 'z' + moved.slice(0, 6000).join('\n'));
    repo.git('add', '-A');
    t2 = repo.git('write-tree').trim();
  });
  after(() => repo.cleanup());

  it('both blobs are big enough to be read from their object files in several chunks', () => {
    for (const path of ['big.txt', 'unterminated.txt']) assert.ok(Number(repo.git('cat-file', '-s', `${t1}:${path}`)) > 1 << 20);
  });

  it('numstat equals git diff --numstat', async () => {
    const ours = (await numstatBetween({ cwd: repo.dir }, t1, t2)).map((s) => `${s.additions}\t${s.deletions}\t${s.file}`).join('\n');
    assert.equal(ours, repo.git('diff', '--no-renames', '--numstat', t1, t2).trimEnd());
  });

  it('the patch (indent heuristic included) is byte-identical to git diff', async () => {
    const parts: Buffer[] = [];
    for await (const b of patchStream({ cwd: repo.dir }, t1, t2).chunks) parts.push(b);
    assert.ok(Buffer.concat(parts).equals(repo.gitBuf('diff', '--no-renames', t1, t2)));
  });
});
