/** A JSON string made slice by slice from bytes is exactly JSON.stringify of their UTF-8 text, invalid UTF-8 included. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonStringOf } from '../src/server/json-bytes.js';
import { rng } from './helpers/repo.js';

/** Bytes mixing ASCII, escapes, 2- to 4-byte characters, and invalid or cut sequences. */
function mixed(seed: number, n: number): Buffer {
  const r = rng(seed);
  const pieces = ['a', 'b c', '\n', '\t', '"', '\\', '\u0001', 'é', '€', '😀', '\u2028'].map((s) => Buffer.from(s));
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.75) out.push(pieces[Math.floor(r() * pieces.length)]!);
    else if (k < 0.85) out.push(Buffer.from([0x80 + Math.floor(r() * 0x40)])); // a stray continuation byte
    else if (k < 0.95) out.push(Buffer.from('😀€').subarray(0, 1 + Math.floor(r() * 5))); // a cut sequence
    else out.push(Buffer.from([0xc0 + Math.floor(r() * 0x40)])); // a lead byte, possibly never valid
  }
  return Buffer.concat(out);
}

test('slices of any size give JSON.stringify of the whole text', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const bytes = mixed(seed, 400);
    const expected = JSON.stringify(bytes.toString('utf8'));
    for (const slice of [1, 2, 3, 4, 5, 7, 64, 1000, 64 * 1024]) {
      assert.equal(Buffer.concat(jsonStringOf(bytes, slice)).toString('utf8'), expected, `seed ${seed}, slices of ${slice}`);
    }
  }
  assert.equal(Buffer.concat(jsonStringOf(Buffer.alloc(0))).toString(), '""');
});
