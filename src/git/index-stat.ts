/**
 * Writes stat data into entries of a git index (`git update-index --index-info` leaves it zero,
 * which makes git read and hash the file at every later scan). The index is streamed through in
 * chunks into `index.lock` with a new trailing checksum and renamed over the index, as git
 * writes it; entry layout (versions 2–4) as in git's Documentation/gitformat-index.txt.
 */
import { createHash } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import type { EntryStat } from '../snapshot/pending.js';

const CHUNK = 64 * 1024;
const STAT_BYTES = 40;
const OID_BYTES = 20;

/** Reads a file forward through a small window. */
class Window {
  buf = Buffer.alloc(0);
  /** File offset of buf[0]. */
  start = 0;
  private eof = false;
  constructor(private fh: FileHandle, private end: number) {}

  /** Makes at least `n` bytes from `at` (a buffer offset) available; false at the end. */
  async need(at: number, n: number): Promise<boolean> {
    while (this.buf.length - at < n) {
      if (this.eof) return false;
      const want = Math.min(CHUNK, this.end - (this.start + this.buf.length));
      if (want <= 0) {
        this.eof = true;
        continue;
      }
      const more = Buffer.alloc(want);
      const { bytesRead } = await this.fh.read(more, 0, want, this.start + this.buf.length);
      if (bytesRead === 0) this.eof = true;
      this.buf = Buffer.concat([this.buf, more.subarray(0, bytesRead)]);
    }
    return true;
  }

  /** Gives up the bytes before `at` (returned), keeping the rest. */
  take(at: number): Buffer {
    const out = this.buf.subarray(0, at);
    this.buf = this.buf.subarray(at);
    this.start += at;
    return out;
  }
}

/**
 * Sets the stat data of the stage-0 entries named in `stats` (path bytes in hex → stat data
 * vouched for: pending.ts) and returns how many it set. Leaves the index alone (returns 0) if it
 * is not a format this reader knows or names none of them. Call with the index's lock held (the
 * store lock).
 */
export async function setIndexStat(indexFile: string, stats: ReadonlyMap<string, EntryStat>): Promise<number> {
  if (stats.size === 0) return 0;
  return rewriteIndexEntries(indexFile, (entry) => {
    const st = stats.get(entry.path.toString('hex'));
    if (!st) return false;
    writeEntryStat(entry.stat, st);
    return true;
  });
}

/** Writes stat data into an entry's 40 stat bytes, in git's field order. */
export function writeEntryStat(out: Buffer, st: EntryStat): void {
  [st.ctimeSec, st.ctimeNsec, st.mtimeSec, st.mtimeNsec, st.dev, st.ino, st.mode, st.uid, st.gid, st.size].forEach((v, k) => out.writeUInt32BE(v >>> 0, 4 * k));
}

/** A stage-0 index entry as rewriteIndexEntries shows it: `stat` is its 40 bytes, writable in place. */
export interface IndexEntry {
  path: Buffer;
  stat: Buffer;
  oid: string;
}

/**
 * Streams the index through `visit` for each stage-0 entry; an entry it changed (it returns
 * true after writing into `entry.stat`) is written back. The index is replaced only when
 * something changed (returns how many), and never when its format is not one this reader knows.
 *
 * git compares an entry with its file by content only while the entry is racy: its mtime not
 * older than the index file's (to the second, as git here compares no nanoseconds). When git
 * writes an index it reads every racy entry's file first; this writer does not, so the new index
 * keeps the old one's mtime and every entry git left racy stays racy — a file git read in that
 * second and rewritten since with the same size is still seen. A caller whose `visit` itself
 * vouches for every racy entry (it reads them, refreshRacyEntries) passes `vouchesForRacy`, and
 * the index gets the time it is written at.
 */
export async function rewriteIndexEntries(indexFile: string, visit: (entry: IndexEntry) => boolean | Promise<boolean>, vouchesForRacy = false): Promise<number> {
  const fh = await open(indexFile, 'r');
  const lockFile = `${indexFile}.lock`;
  let out: FileHandle | undefined;
  try {
    const { size: total, atime, mtime } = await fh.stat();
    const body = total - OID_BYTES;
    const w = new Window(fh, body);
    if (!(await w.need(0, 12)) || w.buf.toString('latin1', 0, 4) !== 'DIRC') return 0;
    const version = w.buf.readUInt32BE(4);
    const count = w.buf.readUInt32BE(8);
    if (version < 2 || version > 4) return 0;
    out = await open(lockFile, 'wx');
    const hash = createHash('sha1');
    const flush = async (upTo: number) => {
      const bytes = w.take(upTo);
      hash.update(bytes);
      await out!.write(bytes);
    };
    let at = 12;
    let previous: Buffer = Buffer.alloc(0);
    let set = 0;
    for (let i = 0; i < count; i++) {
      if (!(await w.need(at, STAT_BYTES + OID_BYTES + 2))) return abandon();
      const entry = at;
      const flags = w.buf.readUInt16BE(entry + STAT_BYTES + OID_BYTES);
      let pos = entry + STAT_BYTES + OID_BYTES + 2;
      if (flags & 0x4000) {
        if (version < 3) return abandon();
        pos += 2;
      }
      let path: Buffer;
      if (version === 4) {
        // Prefix compression: a varint of bytes to drop from the previous path, then the rest.
        const byte = async () => ((await w.need(pos, 1)) ? w.buf[pos++]! : -1);
        let c = await byte();
        let drop = c & 127;
        while (c >= 0 && c & 128 && drop < 1 << 24) {
          c = await byte();
          drop = ((drop + 1) << 7) + (c & 127);
        }
        if (c < 0) return abandon();
        const nul = await findNul(w, pos);
        if (nul < 0 || drop > previous.length) return abandon();
        path = Buffer.concat([previous.subarray(0, previous.length - drop), w.buf.subarray(pos, nul)]);
        at = nul + 1;
      } else {
        const nul = await findNul(w, pos);
        if (nul < 0) return abandon();
        path = Buffer.from(w.buf.subarray(pos, nul));
        // Entries are padded with 1–8 NULs to a multiple of 8 bytes.
        const length = nul - entry;
        at = entry + ((length + 8) & ~7);
        if (!(await w.need(entry, at - entry))) return abandon();
      }
      if ((flags & 0x3000) === 0) {
        const stat = w.buf.subarray(entry, entry + STAT_BYTES);
        const oid = w.buf.toString('hex', entry + STAT_BYTES, entry + STAT_BYTES + OID_BYTES);
        if (await visit({ path, stat, oid })) set++;
      }
      previous = path;
      if (at > CHUNK) {
        await flush(at);
        at = 0;
      }
    }
    if (set === 0) return abandon();
    // The extensions are copied as they are: none of them holds stat data.
    for (;;) {
      await flush(w.buf.length);
      if (!(await w.need(0, 1))) break;
    }
    if (w.start !== body) return abandon();
    await out.write(hash.digest());
    if (!vouchesForRacy) await out.utimes(atime, mtime);
    await out.close();
    out = undefined;
    await rename(lockFile, indexFile);
    return set;
  } finally {
    await fh.close();
    if (out) {
      await out.close();
      await rm(lockFile, { force: true });
    }
  }

  function abandon(): number {
    return 0;
  }
}

/** Offset of the next NUL at or after `from`, reading on as needed; -1 at the end. */
async function findNul(w: Window, from: number): Promise<number> {
  for (let scanned = from; ; ) {
    const i = w.buf.indexOf(0, scanned);
    if (i >= 0) return i;
    scanned = w.buf.length;
    if (!(await w.need(scanned, 1))) return -1;
  }
}
