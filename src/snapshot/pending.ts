/**
 * Big files staged without making the agent wait. git's `add` reads, hashes (collision-detecting
 * SHA-1) and deflates a big file in one process while the agent waits; here track copies the file
 * into the store (a reflink or `copy_file_range`), names the copy by its blob id (node:crypto
 * SHA-1 of `blob <size>\0` + content, read from the copy) and puts that id into the index. The
 * tree is then exact at once; only the compression is left, done by a detached **sealer** — and
 * by any process that reads objects, before it reads (sealPending, from the store's open path).
 *
 * Layout, under `<store>/snapline-pending/`:
 *   `tmp-<pid>-<n>`    a copy being made (only track writes these, under the store lock)
 *   `<blob id>`        a complete copy whose id was verified, waiting to become a loose object
 *   `snapline.lock`    held while a process seals (the seal lock)
 * A loose object is written to `objects/xx/tmp_obj_*` and renamed into place, so a blob is never
 * half-written under its final name; kill -9 anywhere leaves a pending copy or a complete object.
 */
import { createHash } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, open, readdir, rename, rm, stat, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { startBackground } from '../background.js';
import { withLock, type WaitNotice } from './lock.js';
import { statLine } from './unvouched.js';

export const PENDING_DIR = 'snapline-pending';

/** Changed regular files of at least this size are staged by snapline, not `git add` (docs/snapshot.md, "Big files"). */
export const PENDING_MIN_BYTES = 4 * 1024 * 1024;

/** zlib level of a sealed loose object (the store's core.looseCompression). */
const LOOSE_LEVEL = 1;

const CHUNK = 1024 * 1024;

/** The detached sealer's nice value (docs/snapshot.md, "Big files": measured). */
const SEALER_NICE = 10;

/** A process that lives on starts its sealer this long after the track. */
const SEALER_DELAY_MS = 500;

/**
 * A process that exits (a hook) leaves its sealer to start this many seconds later: the agent's
 * own next moves come first (docs/snapshot.md, "Big files": measured).
 */
const SEALER_START_AFTER_EXIT_S = 1;

/** The stat data git keeps in an index entry (all 32-bit, as git truncates them). */
export interface EntryStat {
  ctimeSec: number;
  ctimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
  dev: number;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
}

/**
 * A file staged by snapline: its index mode and blob id, and the stat data to record (undefined:
 * leave git to look). `vouched` when the copy was checked in a later second than the file's last
 * change: the stat data may then go into the index; otherwise the entry waits unvouched
 * (unvouched.ts).
 */
export interface PendingBlob {
  path: Buffer;
  mode: '100644' | '100755';
  oid: string;
  stat?: EntryStat;
  vouched?: boolean;
  /** With `stat`: the file's stat data to the nanosecond, as unvouched.ts records it. */
  line?: string;
}

type BigStats = Awaited<ReturnType<typeof statBig>>;

function statBig(abs: string | Buffer) {
  return lstat(abs, { bigint: true });
}

function sameStat(a: BigStats, b: BigStats): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino && a.dev === b.dev && a.mode === b.mode;
}

const u32 = (v: bigint) => Number(BigInt.asUintN(32, v));

/**
 * How far behind the clock a file's timestamps may lag (the kernel stamps files with a coarse
 * clock, one tick of up to 10 ms): a file changed within this long before the copy started may
 * have been changed again during it without its stat data showing it.
 */
export const TIMESTAMP_SLACK_MS = 20;
const TIMESTAMP_SLACK_NS = BigInt(TIMESTAMP_SLACK_MS) * 1_000_000n;

/**
 * Copies one file into the store and returns its blob, or undefined when the file changed while
 * it was copied (or is no longer a regular file): the caller leaves it to `git add`, as a file
 * being written is today. Throws on I/O failure of the store.
 */
export async function stagePending(storeDir: string, rel: Buffer, abs: Buffer, tmpName: string): Promise<PendingBlob | undefined> {
  const dir = join(storeDir, PENDING_DIR);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, tmpName);
  const startedWall = BigInt(Date.now()) * 1_000_000n;
  const before = await statBig(abs).catch(() => undefined);
  if (!before?.isFile()) return undefined;
  try {
    const hashed = await copyHashing(abs, tmp, Number(before.size));
    // Taken before the second look, so the file is known unchanged until at least this moment.
    const checkedWall = BigInt(Date.now()) * 1_000_000n;
    const after = await statBig(abs).catch(() => undefined);
    const copied = await stat(tmp, { bigint: true });
    if (!after || !sameStat(before, after) || copied.size !== before.size) {
      await rm(tmp, { force: true });
      return undefined;
    }
    const oid = hashed ?? (await blobId(tmp, Number(before.size)));
    await rename(tmp, join(dir, oid));
    const entry: PendingBlob = { path: rel, mode: isExecutable(before) ? '100755' : '100644', oid };
    if (settled(before, startedWall)) {
      entry.stat = entryStat(before);
      entry.vouched = vouched(before, checkedWall);
      entry.line = statLine(before);
    }
    return entry;
  } catch (e) {
    await rm(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    // The file went away or became unreadable: git add reports it as it does today.
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

function isExecutable(st: BigStats): boolean {
  return (Number(st.mode) & 0o100) !== 0;
}

/** The stat data git records for a regular file. */
export function entryStat(st: BigStats): EntryStat {
  return {
    ctimeSec: u32(st.ctimeNs / 1_000_000_000n),
    ctimeNsec: u32(st.ctimeNs % 1_000_000_000n),
    mtimeSec: u32(st.mtimeNs / 1_000_000_000n),
    mtimeNsec: u32(st.mtimeNs % 1_000_000_000n),
    dev: u32(st.dev),
    ino: u32(st.ino),
    mode: isExecutable(st) ? 0o100755 : 0o100644,
    uid: u32(st.uid),
    gid: u32(st.gid),
    size: u32(st.size),
  };
}

/**
 * Reads a workspace file and compares it with blob `oid`: 'differs', or the stat data to record
 * when it is that blob and its stat data is settled and vouched (below); undefined when that
 * cannot be told (gone, not a file, changing, changed too recently).
 */
export async function verifiedStat(abs: Buffer, oid: string): Promise<EntryStat | 'differs' | undefined> {
  const startedWall = BigInt(Date.now()) * 1_000_000n;
  const before = await statBig(abs).catch(() => undefined);
  if (!before?.isFile()) return undefined;
  const id = await blobId(abs, Number(before.size)).catch(() => undefined);
  const checkedWall = BigInt(Date.now()) * 1_000_000n;
  const after = await statBig(abs).catch(() => undefined);
  if (id === undefined || !after || !sameStat(before, after)) return undefined;
  if (id !== oid) return 'differs';
  // Its index is written in a later second than the check: only vouched stat data is safe there.
  return settled(before, startedWall) && vouched(before, checkedWall) ? entryStat(before) : undefined;
}

/**
 * Stat data `st` of a file read from `startedWall` on describes what was read only when the file
 * was last changed clearly before (a write during the read could keep the same timestamps). A
 * timestamp of a whole second is taken for a file system that keeps only seconds (ext3, FAT,
 * some network file systems): any write until that second ends may stamp it again.
 */
function settled(st: BigStats, startedWall: bigint): boolean {
  const latest = (ns: bigint) => (ns % 1_000_000_000n === 0n ? ns + 1_000_000_000n : ns);
  return latest(st.ctimeNs) + TIMESTAMP_SLACK_NS < startedWall && latest(st.mtimeNs) + TIMESTAMP_SLACK_NS < startedWall;
}

/**
 * Whether settled stat data `st`, seen unchanged until `checkedWall`, vouches for the file in any
 * index: git compares timestamps to the second, so only a check in a later second than the file's
 * last change rules out a same-size rewrite after it that git would take for the same file. Until
 * then the stat data is safe only in an index written in or before that second (git compares the
 * file by content there: racy git).
 */
export function vouched(st: BigStats, checkedWall: bigint): boolean {
  const changed = st.ctimeNs > st.mtimeNs ? st.ctimeNs : st.mtimeNs;
  return (changed / 1_000_000_000n + 1n) * 1_000_000_000n + TIMESTAMP_SLACK_NS <= checkedWall;
}

/**
 * Copies `abs` to `tmp` and returns the blob id of exactly the bytes copied (undefined: the
 * caller hashes the copy). Where the file system clones files (a reflink: btrfs, XFS, APFS) that
 * is the copy, and the caller hashes it. On Linux, where the kernel writes a copy in order
 * (copiesInOrder), the kernel copies and this reads the copy behind it (copyBehind). Elsewhere
 * the file is read once, a MiB at a time, and each chunk hashed and written. A file that changes
 * meanwhile is caught by the caller's stat check in every case.
 */
async function copyHashing(abs: Buffer, tmp: string, size: number): Promise<string | undefined> {
  try {
    await copyFile(abs, tmp, constants.COPYFILE_FICLONE_FORCE);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV' && code !== 'EINVAL' && code !== 'ENOSYS' && code !== 'ENOTTY') throw e;
  }
  if (await copiesInOrder(dirname(tmp))) return copyBehind(abs, tmp, size);
  const hash = createHash('sha1').update(`blob ${size}\0`);
  const input = await open(abs, 'r');
  try {
    const output = await open(tmp, 'w');
    try {
      const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
      let writing: Promise<void> = Promise.resolve();
      for (let i = 0; ; i ^= 1) {
        const { bytesRead } = await input.read(bufs[i]!, 0, CHUNK, null);
        if (bytesRead === 0) break;
        const chunk = bufs[i]!.subarray(0, bytesRead);
        hash.update(chunk);
        // The other buffer is read into next: its write must be done.
        await writing;
        writing = writeAll(output, chunk);
        writing.catch(() => undefined); // awaited above or below; not unhandled while the next chunk is read
      }
      // (A file whose size changed meanwhile: the header above is wrong, and the caller's check
      // of the copy's size against the stat data drops the copy.)
      await writing;
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
  return hash.digest('hex');
}

/**
 * File systems (statfs magic numbers) into which Linux's `copy_file_range` — what Node's
 * copyFile calls there, after truncating the new file — writes through the page cache from the
 * start to the end, so a reader of the copy sees only bytes already copied: ext2/3/4, XFS
 * (without reflinks), tmpfs, and overlayfs (which copies in its upper file system). Others (NFS
 * and SMB server-side copies, FUSE) copy in their own ways.
 */
const IN_ORDER_FILE_SYSTEMS = new Set([0xef53, 0x58465342, 0x01021994, 0x794c7630]);
const inOrder = new Map<string, Promise<boolean>>();

function copiesInOrder(dir: string): Promise<boolean> {
  if (process.platform !== 'linux') return Promise.resolve(false);
  let known = inOrder.get(dir);
  if (!known) {
    known = statfs(dir).then((s) => IN_ORDER_FILE_SYSTEMS.has(s.type), () => false);
    inOrder.set(dir, known);
  }
  return known;
}

/**
 * The kernel copies `abs` to `tmp` (no pass through this process) while this reads the copy
 * behind it, a MiB at a time, and hashes what it reads: the id is of the copy's own bytes, and
 * the copy overlaps the hash (SHA-1 on this thread). The report's two big files right after they
 * were written: 0.21–0.23 s here, against 0.30–0.41 s read, hashed and written by this process
 * (docs/snapshot.md, "Big files").
 */
async function copyBehind(abs: Buffer, tmp: string, size: number): Promise<string> {
  const hash = createHash('sha1').update(`blob ${size}\0`);
  // The copy is a new file (COPYFILE_EXCL), so whatever this opens under its name is the copy.
  await rm(tmp, { force: true });
  let done = false;
  const copying = copyFile(abs, tmp, constants.COPYFILE_EXCL).finally(() => (done = true));
  copying.catch(() => undefined); // awaited below
  let input: FileHandle | undefined;
  try {
    while (!input) {
      try {
        input = await open(tmp, 'r');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || done) throw e;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    const buf = Buffer.allocUnsafe(CHUNK);
    for (let at = 0; ; ) {
      // Known done before the read: a read that then finds nothing is at the copy's end.
      const finished = done;
      const { bytesRead } = await input.read(buf, 0, CHUNK, at);
      if (bytesRead > 0) {
        hash.update(buf.subarray(0, bytesRead));
        at += bytesRead;
      } else if (finished) break;
      else await new Promise((resolve) => setTimeout(resolve, 1));
    }
  } catch (e) {
    // The copy's own failure says more than this reader's (ENOENT when it never began).
    await copying;
    throw e;
  } finally {
    await input?.close();
  }
  await copying;
  return hash.digest('hex');
}

async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  for (let at = 0; at < chunk.length; ) at += (await fh.write(chunk, at, chunk.length - at, null)).bytesWritten;
}

/** git's blob id of a file of `size` bytes, streamed. */
async function blobId(file: string | Buffer, size: number): Promise<string> {
  const hash = createHash('sha1').update(`blob ${size}\0`);
  const read = await eachChunk(file, (chunk) => {
    hash.update(chunk);
  });
  if (read !== size) throw new Error(`${file}: read ${read} bytes of ${size}`);
  return hash.digest('hex');
}

/**
 * Calls `fn` with each MiB of a file, read into one reused buffer (a read stream's fresh buffer
 * per chunk made hashing 128 MiB take 0.77 s instead of 0.11 s here); returns the bytes read.
 * `fn` must be done with the chunk when its promise settles.
 */
async function eachChunk(file: string | Buffer, fn: (chunk: Buffer) => void | Promise<void>): Promise<number> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(CHUNK);
    let total = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) return total;
      total += bytesRead;
      await fn(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
}

/** Removes copies a killed track left half-made (call with the store lock held). */
export async function cleanPendingLeftovers(storeDir: string): Promise<void> {
  const dir = join(storeDir, PENDING_DIR);
  for (const name of await readdir(dir).catch(() => [] as string[])) if (name.startsWith('tmp-')) await rm(join(dir, name), { force: true });
}

/** The blob ids waiting to be sealed. */
export async function pendingBlobs(storeDir: string): Promise<string[]> {
  const names = await readdir(join(storeDir, PENDING_DIR)).catch(() => [] as string[]);
  return names.filter((n) => /^[0-9a-f]{40}$/.test(n));
}

/** A pending copy whose content is not the blob its name says (a damaged disk, or a hand edit). */
export class PendingBlobCorrupt extends Error {
  constructor(readonly file: string, readonly actual: string) {
    super(`${file}: content hashes to ${actual}, not to its name; moved aside as ${file}.bad`);
    this.name = 'PendingBlobCorrupt';
  }
}

/**
 * Turns every pending copy of the store into a loose object, holding the seal lock (a process
 * that finds a sealer at work waits for it). Returns how many it sealed. Cheap when nothing is
 * pending (one readdir).
 */
export async function sealPending(storeDir: string, wait: { timeoutMs: number; onWait?: WaitNotice }): Promise<number> {
  if ((await pendingBlobs(storeDir)).length === 0) return 0;
  const dir = join(storeDir, PENDING_DIR);
  return withLock(dir, { ...wait, name: 'the seal lock', what: 'sealing big files' }, async () => {
    let sealed = 0;
    for (const oid of await pendingBlobs(storeDir)) if (await sealOne(storeDir, oid)) sealed++;
    return sealed;
  });
}

/** Writes one pending copy as a loose object (temp file, verified, renamed) and removes the copy. */
async function sealOne(storeDir: string, oid: string): Promise<boolean> {
  // Loaded here: a track, which seals nothing, does not pay for zlib.
  const [{ createDeflate }, { loosePath }] = await Promise.all([import('node:zlib'), import('../git/loose.js')]);
  const copy = join(storeDir, PENDING_DIR, oid);
  const object = loosePath(join(storeDir, 'objects'), oid);
  const objectDir = dirname(object);
  if (await stat(object).then(() => true, () => false)) {
    await unlink(copy).catch(() => undefined);
    return false;
  }
  const size = await stat(copy).then((s) => s.size, () => -1);
  if (size < 0) return false; // sealed meanwhile by a process that did not wait (none of ours)
  await mkdir(objectDir, { recursive: true });
  const tmp = join(objectDir, `tmp_obj_snapline_${process.pid}_${Date.now()}`);
  try {
    const header = Buffer.from(`blob ${size}\0`);
    const hash = createHash('sha1').update(header);
    const deflate = createDeflate({ level: LOOSE_LEVEL });
    const out = createWriteStream(tmp, { flags: 'wx', mode: 0o444 });
    const done = new Promise<void>((resolve, reject) => {
      out.on('finish', resolve);
      out.on('error', reject);
      deflate.on('error', reject);
    });
    deflate.pipe(out);
    deflate.write(header);
    // deflate.write copies nothing: wait until it has consumed the chunk before reusing the buffer.
    const read = await eachChunk(copy, (chunk) => {
      hash.update(chunk);
      return new Promise<void>((resolve, reject) => deflate.write(chunk, (e) => (e ? reject(e) : resolve())));
    });
    deflate.end();
    await done;
    const actual = hash.digest('hex');
    if (actual !== oid || read !== size) {
      await rename(copy, `${copy}.bad`).catch(() => undefined);
      throw new PendingBlobCorrupt(copy, actual);
    }
    await chmod(tmp, 0o444);
    await rename(tmp, object);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await unlink(copy).catch(() => undefined);
  return true;
}

/** Stores whose sealer this process will start, and whether the start is scheduled. */
const toSeal = new Set<string>();
let scheduled = false;
let atExitOnly = false;

/**
 * This process exits once its work is done (a CLI command): its sealer starts only after it
 * exits. Started 500 ms after the track, it ran beside the command's own summary as its child
 * (`run`: 80 + 44 MiB at once, over idle + 64 MiB for the command).
 */
export function sealersAtExit(): void {
  atExitOnly = true;
}

/**
 * Starts a detached sealer for the store (`snapline snapshot seal`, internal): it outlives the
 * process that started it, and nobody waits for it. When this process exits first (a hook), the
 * sealer starts SEALER_START_AFTER_EXIT_S later: after the step is recorded, and after what the
 * agent does right after a hook, so neither competes with it for the CPU. A long-lived process
 * (serve, a library user) starts it SEALER_DELAY_MS after the track, unless sealersAtExit said
 * the process ends soon. Never throws.
 */
export function startSealer(storeDir: string): void {
  toSeal.add(storeDir);
  if (scheduled) return;
  scheduled = true;
  process.once('exit', spawnSealersLater);
  if (!atExitOnly) setTimeout(spawnSealers, SEALER_DELAY_MS).unref();
}

function spawnSealersLater(): void {
  spawnSealers(SEALER_START_AFTER_EXIT_S);
}

/**
 * For a process that lives on between an agent's events (the standby): the sealers it owes
 * start now, their Node SEALER_START_AFTER_EXIT_S later, as a hook's would after its exit.
 */
export function sealersNow(): void {
  if (scheduled) spawnSealersLater();
}

function spawnSealers(afterSeconds?: number): void {
  scheduled = false;
  process.removeListener('exit', spawnSealersLater);
  // The store travels in the environment: a store-lock takeover waits for processes naming
  // the store in their arguments, and must not wait for a sealer. Background work: on a small,
  // busy machine it must not slow the agent's own processes.
  for (const storeDir of toSeal) startBackground(['snapshot', 'seal'], { ...process.env, SNAPLINE_SEAL_STORE: storeDir }, { nice: SEALER_NICE, afterSeconds });
  toSeal.clear();
}
