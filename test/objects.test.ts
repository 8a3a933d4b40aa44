import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHUNK_SIZE, openObjectReader, type ObjectReader } from '../src/git/objects.js';
import { openObjectFiles } from '../src/git/object-files.js';
import { MissingObject } from '../src/errors.js';
import { rng, tempRepo } from './helpers/repo.js';

/** Deterministic text of `bytes` bytes: numbered lines, `variant` changing every 50th. */
function text(bytes: number, variant: number): Buffer {
  const next = rng(7);
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const l = `${i % 50 === 0 ? variant : 0} line ${i} ${Math.floor(next() * 1e9)} lorem ipsum dolor sit amet\n`;
    lines.push(l);
    size += l.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

async function readAll(reader: ObjectReader, oid: string, size?: number): Promise<{ type: string; size: number; body: Buffer; largest: number }> {
  const obj = await reader.open(oid, size);
  const parts: Buffer[] = [];
  let largest = 0;
  for await (const c of obj.body) {
    parts.push(Buffer.from(c));
    largest = Math.max(largest, c.length);
  }
  return { type: obj.type, size: obj.size, body: Buffer.concat(parts), largest };
}

async function direct(objects: string, oid: string): Promise<Buffer | null> {
  const files = openObjectFiles(objects);
  try {
    const obj = await files.open(oid, CHUNK_SIZE);
    if (!obj) return null;
    const parts: Buffer[] = [];
    for await (const c of obj.body) parts.push(Buffer.from(c));
    assert.equal(Buffer.concat(parts).length, obj.size);
    return Buffer.concat(parts);
  } finally {
    files.close();
  }
}

describe('object reader: big objects straight from the object files', () => {
  const repos: { cleanup(): void }[] = [];
  after(() => repos.forEach((r) => r.cleanup()));

  it('reads loose and undeltified packed blobs whole, equal to git cat-file, in bounded chunks', async () => {
    const repo = tempRepo();
    repos.push(repo);
    const objects = join(repo.dir, '.git', 'objects');
    writeFileSync(join(repo.dir, 'loose.txt'), text(3 << 20, 1));
    repo.git('add', 'loose.txt'); // under git's default bigFileThreshold: a loose object
    writeFileSync(join(repo.dir, 'packed.txt'), text(5 << 20, 2));
    repo.git('-c', 'core.bigFileThreshold=1m', 'add', 'packed.txt'); // streamed into a pack
    const loose = repo.git('rev-parse', ':loose.txt').trim();
    const packed = repo.git('rev-parse', ':packed.txt').trim();
    assert.ok(readdirSync(join(objects, loose.slice(0, 2))).includes(loose.slice(2)), 'loose.txt is a loose object');
    assert.ok(readdirSync(join(objects, 'pack')).some((f) => f.endsWith('.pack')), 'packed.txt is in a pack');

    const reader = openObjectReader({ cwd: repo.dir });
    try {
      for (const oid of [loose, packed, loose]) {
        const want = repo.gitBuf('cat-file', 'blob', oid);
        assert.deepEqual(await direct(objects, oid), want, `${oid} read from the object files`);
        const got = await readAll(reader, oid, want.length);
        assert.equal(got.type, 'blob');
        assert.equal(got.size, want.length);
        assert.ok(got.body.equals(want), `${oid} through the reader`);
        assert.ok(got.largest <= CHUNK_SIZE, `chunks of at most ${CHUNK_SIZE} bytes`);
      }
      // An object abandoned half-read does not disturb the next one.
      const half = await reader.open(packed, 5 << 20);
      await (half.body as AsyncGenerator<Buffer>).next();
      assert.ok((await readAll(reader, loose, 3 << 20)).body.equals(repo.gitBuf('cat-file', 'blob', loose)));
    } finally {
      reader.close();
    }
  });

  it('leaves deltified objects to git, whose answer the reader passes on', async () => {
    const repo = tempRepo();
    repos.push(repo);
    const base = text(2 << 20, 1);
    writeFileSync(join(repo.dir, 'a.txt'), base);
    repo.git('add', 'a.txt');
    repo.git('commit', '-qm', 'one');
    writeFileSync(join(repo.dir, 'a.txt'), Buffer.concat([base, Buffer.from('one more line\n')]));
    repo.git('commit', '-qam', 'two');
    repo.git('gc', '-q', '--aggressive', '--prune=now');
    const oids = [repo.git('rev-parse', 'HEAD~1:a.txt').trim(), repo.git('rev-parse', 'HEAD:a.txt').trim()];
    const objects = join(repo.dir, '.git', 'objects');
    const whole = await Promise.all(oids.map((o) => direct(objects, o)));
    assert.equal(whole.filter((b) => b === null).length, 1, 'one of the two versions is stored as a delta');
    const reader = openObjectReader({ cwd: repo.dir });
    try {
      for (const oid of oids) {
        const want = repo.gitBuf('cat-file', 'blob', oid);
        assert.ok((await readAll(reader, oid, want.length)).body.equals(want));
      }
    } finally {
      reader.close();
    }
  });

  it('reads SHA-256 repositories', async () => {
    const repo = tempRepo();
    repos.push(repo);
    rmSync(join(repo.dir, '.git'), { recursive: true });
    repo.git('init', '-q', '--object-format=sha256');
    writeFileSync(join(repo.dir, 'big.txt'), text(1 << 20, 3));
    repo.git('-c', 'core.bigFileThreshold=256k', 'add', 'big.txt');
    writeFileSync(join(repo.dir, 'loose.txt'), text(600 << 10, 4));
    repo.git('add', 'loose.txt');
    const objects = join(repo.dir, '.git', 'objects');
    for (const path of ['big.txt', 'loose.txt']) {
      const oid = repo.git('rev-parse', `:${path}`).trim();
      assert.equal(oid.length, 64);
      assert.deepEqual(await direct(objects, oid), repo.gitBuf('cat-file', 'blob', oid), path);
    }
  });

  it('honours replace refs by leaving those repositories to git', async () => {
    const repo = tempRepo();
    repos.push(repo);
    writeFileSync(join(repo.dir, 'a.txt'), text(1 << 20, 5));
    writeFileSync(join(repo.dir, 'b.txt'), text(1 << 20, 6));
    repo.git('add', '.');
    const [a, b] = ['a.txt', 'b.txt'].map((p) => repo.git('rev-parse', `:${p}`).trim()) as [string, string];
    repo.git('replace', a, b);
    const reader = openObjectReader({ cwd: repo.dir });
    try {
      const got = await readAll(reader, a, 1 << 20);
      assert.ok(got.body.equals(repo.gitBuf('cat-file', 'blob', a)), 'what git answers for the replaced object');
      assert.ok(got.body.equals(repo.gitBuf('cat-file', 'blob', b)));
    } finally {
      reader.close();
    }
  });

  it('a corrupt object is an error naming it, not short or wrong content', async () => {
    const repo = tempRepo();
    repos.push(repo);
    writeFileSync(join(repo.dir, 'big.txt'), text(2 << 20, 7));
    repo.git('-c', 'core.bigFileThreshold=1m', 'add', 'big.txt');
    const oid = repo.git('rev-parse', ':big.txt').trim();
    const packDir = join(repo.dir, '.git', 'objects', 'pack');
    const pack = join(packDir, readdirSync(packDir).find((f) => f.endsWith('.pack'))!);
    const bytes = readFileSync(pack);
    for (let i = bytes.length >> 1; i < (bytes.length >> 1) + 64; i++) bytes[i] = bytes[i]! ^ 0x5a;
    chmodSync(pack, 0o644);
    writeFileSync(pack, bytes);
    const reader = openObjectReader({ cwd: repo.dir });
    try {
      await assert.rejects(readAll(reader, oid, 2 << 20), (e: unknown) => e instanceof MissingObject && e.message.includes(oid));
    } finally {
      reader.close();
    }
  });
});
