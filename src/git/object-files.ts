/**
 * Whole objects read straight from a repository's object files: a loose object, or a pack
 * entry stored undeltified (how git stores every blob over core.bigFileThreshold, and so every
 * big file of a snapshot store). Reading them this way skips the pipe from `git cat-file`,
 * which moves big bodies in 16 KiB writes; here compressed bytes are read in large blocks and
 * inflated on Node's thread pool while the caller works on the previous block. Anything else
 * (deltified entries, alternates, unknown index versions) is left to git: `open` says null.
 * Formats: gitformat-pack(5) (pack v2/v3, index v2) and gitformat-loose(5).
 */
import { close, closeSync, openSync, read, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { createInflate } from 'node:zlib';
import { MissingObject } from '../errors.js';
import { isObjectId } from './object-id.js';

/** Inflated bytes produced per step of the thread pool (larger steps: fewer round trips). */
const INFLATE_BLOCK = 256 * 1024;
/** Compressed bytes read per step. */
const READ_BLOCK = 256 * 1024;

const IDX_MAGIC = 0xff744f63;
const FANOUT_END = 8 + 256 * 4;
/** Pack entry types stored whole; 6 and 7 are deltas, which only git reassembles. */
const WHOLE_TYPES: Record<number, string> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag' };

/** An object being read: its type and size, and its body in chunks of at most `maxChunk` bytes. */
export interface ObjectFile {
  type: string;
  size: number;
  body: AsyncGenerator<Buffer>;
}

export interface ObjectFiles {
  /** Opens `oid` when it is stored whole; null when only git can produce it. */
  open(oid: string, maxChunk: number): Promise<ObjectFile | null>;
  close(): void;
}

interface PackIndex {
  name: string;
  idx: number;
  pack: number | null;
  count: number;
  fanout: Uint32Array;
}

/** The object files under `objectsDir` (a repository's `objects` directory). */
export function openObjectFiles(objectsDir: string): ObjectFiles {
  const packs = new Map<string, PackIndex | null>();
  const fds: number[] = [];
  const probe = Buffer.alloc(64);

  const openFd = (path: string): number | null => {
    try {
      const fd = openSync(path, 'r');
      fds.push(fd);
      return fd;
    } catch {
      return null;
    }
  };

  /** Reads the index files not seen yet (new packs appear as git works). */
  const scanPacks = () => {
    let names: string[];
    try {
      names = readdirSync(join(objectsDir, 'pack')).filter((n) => n.endsWith('.idx'));
    } catch {
      return;
    }
    for (const n of names) {
      if (packs.has(n)) continue;
      packs.set(n, readIndex(n));
    }
  };

  const readIndex = (file: string): PackIndex | null => {
    const fd = openFd(join(objectsDir, 'pack', file));
    if (fd === null) return null;
    const head = Buffer.alloc(FANOUT_END);
    if (readSync(fd, head, 0, FANOUT_END, 0) !== FANOUT_END) return null;
    if (head.readUInt32BE(0) !== IDX_MAGIC || head.readUInt32BE(4) !== 2) return null;
    const fanout = new Uint32Array(256);
    for (let i = 0; i < 256; i++) fanout[i] = head.readUInt32BE(8 + 4 * i);
    return { name: file.slice(0, -4), idx: fd, pack: null, count: fanout[255]!, fanout };
  };

  /** Offset of `id` in a pack, or -1. */
  const find = (p: PackIndex, id: Buffer): number => {
    const len = id.length;
    let lo = id[0] === 0 ? 0 : p.fanout[id[0]! - 1]!;
    let hi = p.fanout[id[0]!]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      readSync(p.idx, probe, 0, len, FANOUT_END + mid * len);
      const c = probe.compare(id, 0, len, 0, len);
      if (c === 0) {
        const offsets = FANOUT_END + p.count * (len + 4);
        readSync(p.idx, probe, 0, 4, offsets + mid * 4);
        const small = probe.readUInt32BE(0);
        if (small < 0x80000000) return small;
        readSync(p.idx, probe, 0, 8, offsets + p.count * 4 + (small & 0x7fffffff) * 8);
        return probe.readUInt32BE(0) * 2 ** 32 + probe.readUInt32BE(4);
      }
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  };

  const fromPack = (p: PackIndex, oid: string, offset: number, maxChunk: number): ObjectFile | null => {
    p.pack ??= openFd(join(objectsDir, 'pack', p.name + '.pack'));
    if (p.pack === null) return null;
    const head = Buffer.alloc(16);
    const got = readSync(p.pack, head, 0, head.length, offset);
    let i = 0;
    let c = head[i++]!;
    const type = WHOLE_TYPES[(c >> 4) & 7];
    let size = c & 15;
    for (let shift = 4; c & 0x80; shift += 7) {
      if (i >= got) return null;
      c = head[i++]!;
      size += (c & 0x7f) * 2 ** shift;
    }
    if (type === undefined) return null;
    return { type, size, body: inflated(p.pack, offset + i, oid, size, maxChunk) };
  };

  const fromLoose = async (oid: string, maxChunk: number): Promise<ObjectFile | null> => {
    let fd: number;
    try {
      fd = openSync(join(objectsDir, oid.slice(0, 2), oid.slice(2)), 'r');
    } catch {
      return null;
    }
    const body = closing(inflated(fd, 0, oid, Infinity, maxChunk), fd);
    try {
      // The inflated object starts with "<type> <size>\0".
      let header = Buffer.alloc(0);
      for (;;) {
        const r = await body.next();
        if (r.done) throw new MissingObject(oid, 'corrupt (loose object without a header)');
        header = Buffer.concat([header, r.value]);
        const nul = header.indexOf(0);
        if (nul < 0) {
          if (header.length > 64) throw new MissingObject(oid, 'corrupt (bad loose object header)');
          continue;
        }
        const m = /^(blob|tree|commit|tag) (\d+)$/.exec(header.subarray(0, nul).toString('latin1'));
        if (!m) throw new MissingObject(oid, 'corrupt (bad loose object header)');
        const size = Number(m[2]);
        return { type: m[1]!, size, body: withHead(header.subarray(nul + 1), body, oid, size, maxChunk) };
      }
    } catch (e) {
      await body.return(undefined); // closes the file
      throw e;
    }
  };

  return {
    async open(oid, maxChunk) {
      if (!isObjectId(oid)) return null;
      const loose = await fromLoose(oid, maxChunk);
      if (loose) return loose;
      const id = Buffer.from(oid, 'hex');
      for (let pass = 0; pass < 2; pass++) {
        if (pass === 1 || packs.size === 0) scanPacks();
        for (const p of packs.values()) {
          if (p === null) continue;
          const offset = find(p, id);
          if (offset >= 0) return fromPack(p, oid, offset, maxChunk);
        }
      }
      return null;
    },
    close() {
      for (const fd of fds.splice(0)) closeSync(fd);
      packs.clear();
    },
  };
}

/**
 * The inflated bytes of the zlib stream at `start` in a file, in chunks of at most `maxChunk`.
 * The stream is read to its end, so its checksum is verified; what follows it (other pack
 * entries) is not read beyond one block. Two read buffers take turns: one is inflated while
 * the next block is read into the other.
 */
async function* inflated(fd: number, start: number, oid: string, size: number, maxChunk: number): AsyncGenerator<Buffer> {
  const inflate = createInflate({ chunkSize: INFLATE_BLOCK });
  const buffers = [Buffer.allocUnsafe(READ_BLOCK), Buffer.allocUnsafe(READ_BLOCK)];
  let failure: Error | null = null;
  let stopped = false;
  const readBlock = (buf: Buffer, pos: number) =>
    new Promise<number>((resolve, reject) => read(fd, buf, 0, buf.length, pos, (e, got) => (e ? reject(e) : resolve(got))));
  const consumed = (chunk: Buffer) => new Promise<void>((resolve, reject) => inflate.write(chunk, (e) => (e ? reject(e) : resolve())));
  const feed = async () => {
    let pos = start;
    let pending: Promise<void> = Promise.resolve();
    for (let turn = 0; !stopped; turn++) {
      const buf = buffers[turn & 1]!;
      const got = await readBlock(buf, pos);
      await pending; // the other buffer's block is inflated: that buffer may be read into next
      if (got === 0 || stopped) break;
      pos += got;
      pending = consumed(buf.subarray(0, got));
    }
    await pending;
    if (!stopped) inflate.end();
  };
  feed().catch((e: Error) => {
    if (!stopped) {
      failure = e;
      inflate.destroy(e);
    }
  });
  let produced = 0;
  try {
    for await (const block of inflate as AsyncIterable<Buffer>) {
      produced += block.length;
      if (produced > size) break;
      for (let o = 0; o < block.length; o += maxChunk) yield block.subarray(o, o + maxChunk);
    }
  } catch (e) {
    throw new MissingObject(oid, failure ? `unreadable (${(failure as Error).message})` : `corrupt (${(e as Error).message})`);
  } finally {
    stopped = true;
    inflate.destroy();
  }
  if (size !== Infinity && produced !== size) throw new MissingObject(oid, `corrupt (${produced} bytes where ${size} were expected)`);
}

/** A body that closes `fd` when it ends or is abandoned. */
async function* closing(body: AsyncGenerator<Buffer>, fd: number): AsyncGenerator<Buffer> {
  try {
    yield* body;
  } finally {
    close(fd);
  }
}

/** A body whose first bytes were already read (with the header), then the rest of `body`. */
async function* withHead(head: Buffer, body: AsyncGenerator<Buffer>, oid: string, size: number, maxChunk: number): AsyncGenerator<Buffer> {
  let produced = head.length;
  try {
    for (let o = 0; o < head.length; o += maxChunk) yield head.subarray(o, o + maxChunk);
    for await (const c of body) {
      produced += c.length;
      yield c;
    }
  } finally {
    await body.return(undefined);
  }
  if (produced !== size) throw new MissingObject(oid, `corrupt (${produced} bytes where ${size} were expected)`);
}
