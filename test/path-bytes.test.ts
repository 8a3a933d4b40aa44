/**
 * File names that are not valid UTF-8 (Linux allows any bytes but '/' and NUL): snapshotted,
 * restored with their own bytes by revert and unrevert, and shown as git shows them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodePath, pathBytes } from '../src/git/path-bytes.js';
import { CLI, rng } from './helpers/repo.js';
import { sessionFixture } from './session-helpers.js';

/** A name as bytes, in the workspace (Buffer paths: the bytes go to the file system as they are). */
const at = (dir: string, name: Buffer) => Buffer.concat([Buffer.from(dir + '/'), name]);
const names = (dir: string) => readdirSync(dir, { encoding: 'buffer' }).map((b) => b.toString('hex')).sort();

test('every byte string survives decodePath then pathBytes, and valid UTF-8 decodes as usual', () => {
  const r = rng(7);
  const pool = [0x61, 0x2f, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xe0, 0xed, 0xa0, 0xef, 0xf0, 0xf4, 0x90, 0xff, 0x9f];
  for (let n = 0; n < 5000; n++) {
    const bytes = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 8) }, () => (r() < 0.5 ? pool[Math.floor(r() * pool.length)]! : Math.floor(r() * 256))));
    assert.ok(pathBytes(decodePath(bytes)).equals(bytes), bytes.toString('hex'));
  }
  for (const s of ['plain.txt', 'café/naïve.md', '日本語', '😀 emoji', 'x\ud83d\ude00y']) assert.equal(decodePath(Buffer.from(s)), s);
});

test('a file with a name that is not UTF-8, deleted by a turn, comes back with revert and goes again with unrevert', () => {
  const f = sessionFixture();
  try {
    const odd = Buffer.from('caf\xe9 \xff.txt', 'latin1');
    writeFileSync(at(f.dir, odd), 'precious\n');
    writeFileSync(join(f.dir, 'a.txt'), 'one\n');
    const before = names(f.dir);
    f.ok('run', 'delete it', '--exec', `rm -f "$(printf 'caf\\351 \\377.txt')" && echo two >> a.txt`);
    assert.ok(!existsSync(at(f.dir, odd)));

    f.ok('session', 'revert', '--message', '1');
    assert.deepEqual(names(f.dir), before, 'the same names, byte for byte');
    assert.equal(readFileSync(at(f.dir, odd), 'utf8'), 'precious\n');
    assert.equal(readFileSync(join(f.dir, 'a.txt'), 'utf8'), 'one\n');

    f.ok('session', 'unrevert');
    assert.ok(!existsSync(at(f.dir, odd)), 'unrevert deletes it again');
    assert.equal(readFileSync(join(f.dir, 'a.txt'), 'utf8'), 'one\ntwo\n');
  } finally {
    f.cleanup();
  }
});

test('diff of such a name prints it as git does (numstat, stat, patch headers)', () => {
  const f = sessionFixture();
  try {
    const odd = Buffer.from('d\xefr/\xe9t\xe9.txt', 'latin1');
    mkdirSync(at(f.dir, Buffer.from('d\xefr', 'latin1')));
    writeFileSync(at(f.dir, odd), 'a\nb\n');
    const t1 = f.ok('snapshot', 'track', '--dir', f.dir).trim();
    writeFileSync(at(f.dir, odd), 'a\nc\nd\n');
    const t2 = f.ok('snapshot', 'track', '--dir', f.dir).trim();
    const store = f.storeGitDir();
    for (const mode of ['--numstat', '--stat', '--patch']) {
      const ours = execFileSync(process.execPath, [CLI, 'diff', t1, t2, mode, '--dir', f.dir], { env: f.env });
      const git = execFileSync('git', ['--git-dir', store, '-c', 'core.quotePath=true', 'diff', '--no-renames', mode === '--patch' ? '-p' : mode, t1, t2], { env: { ...f.env, COLUMNS: '80' } });
      assert.equal(ours.toString('latin1'), git.toString('latin1'), mode);
    }
  } finally {
    f.cleanup();
  }
});
