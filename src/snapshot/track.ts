import { accessSync, constants, lstatSync } from 'node:fs';
import { lstat, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { snapshotRoot } from '../config.js';
import { GitError } from '../errors.js';
import { gitRecords, gitText, listRecordsTogether, runGit } from '../git/run.js';
import { isObjectId } from '../git/object-id.js';
import { cleanPendingLeftovers, entryStat, pendingBlobs, PENDING_MIN_BYTES, stagePending, startSealer, TIMESTAMP_SLACK_MS, verifiedStat, vouched, type EntryStat, type PendingBlob } from './pending.js';
import { withStoreLock } from './lock.js';
import { StagingFailed } from './errors.js';
import { cleanRestoreLeftovers } from './journal.js';
import { nearestDotGit, readIfExists, withStore, WORKTREE_FILE, type Store, type StoreOptions } from './store.js';
import { currentLine, readUnvouched, statLine, UNVOUCHED_FILE, writeUnvouched, type UnvouchedFile } from './unvouched.js';

/** Why a file is not in a snapshot. */
export type SkipReason = 'too-large' | 'unreadable' | 'vanished';

/** A file left out of a snapshot, with the reason (and its size when known). */
export interface SkippedFile {
  path: string;
  reason: SkipReason;
  size?: number;
}

/** The result of tracking: the snapshot's tree id and every file it could not include. */
export interface TrackResult {
  tree: string;
  skipped: SkippedFile[];
  /** What the tree was read from (when the index has a checksum): see TrackBasis. */
  basis?: TrackBasis;
}

/**
 * The state a no-change check needs: the tree is exactly the store's index whose fingerprint
 * is `index`, and the store's ignore rules were built from `excludeFrom` (the user's
 * repository's exclude file; absent when there is none) and the configuration. While the index
 * keeps that fingerprint and these inputs stay the same, a scan of the workspace that finds
 * nothing (`ls-files -o` and `diff-files`, as trackLocked runs them) means the workspace is this
 * tree — what a hook's no-change step relies on (src/session/fast-steps.ts).
 */
export interface TrackBasis {
  /** The store's git directory. */
  store: string;
  /** `<size>:<hex of the last 32 bytes>` of the store's index. */
  index: string;
  excludeFrom: string;
  /** The text of the store's `info/exclude` the scan read (what excludeFrom and the configuration made of it). */
  exclude: string;
}

export interface TrackOptions extends StoreOptions {
  /** Progress messages for long runs (the CLI shows them on a TTY). */
  onProgress?: (message: string) => void;
}

/**
 * Index entry that makes git walk into a nested repository as an ordinary directory: git
 * treats a directory with tracked entries as tracked and does not record it as a gitlink.
 * `git add -A` removes the entry again (the file does not exist), so it never reaches a tree.
 */
const PLACEHOLDER = '.snapline-nested-placeholder';
const EMPTY_BLOB = 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391';

/**
 * Snapshots the workspace into its shadow store and returns the tree id. Only files whose
 * stat data changed are read (git's index is the cache). Files over the size cap, unreadable
 * or vanishing during the scan are left out and listed in `skipped`; any other failure
 * throws StagingFailed, so a stale tree is never returned.
 */
export async function track(worktree: string, opts: TrackOptions = {}): Promise<TrackResult> {
  // No sealing first: a track reads no blob, and the agent waits for it.
  return withStore(worktree, { ...opts, create: true, seal: false }, (store) => trackLocked(store, opts.onProgress));
}

/** track() for a store whose lock the caller holds. */
export async function trackLocked(store: Store, onProgress?: (message: string) => void): Promise<TrackResult> {
  onProgress?.('scanning workspace…');
  // The scan's listings start at once, beside the cleanups below: they only read the index, the
  // workspace and the ignore rules. Where a cleanup changed what they read (a killed restore's
  // files removed from the workspace, info/exclude rewritten), they are listed again.
  // (Not in a store without its exclude file yet, new: writing it would drop their answer.)
  const early = exists(join(store.dir, 'info', 'exclude')) ? listChanges(store) : undefined;
  early?.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
  // And the tree last written of the index, read meanwhile: nothing writes the index before
  // staging, and a scan that finds nothing stages nothing.
  const known = treeOfUnchangedIndex(store);
  known.catch(() => undefined);
  // We hold the store lock and every git we run on the store runs under it: a leftover
  // index.lock can only come from a killed run (git's listings do not take it).
  await rm(join(store.dir, 'index.lock'), { force: true });
  // Temporary files of a restore that was killed are not the user's: remove them before scanning.
  const leftovers = await cleanRestoreLeftovers(store.dir);
  await cleanPendingLeftovers(store.dir);
  const { from: excludeFrom, text: exclude, rewritten } = await writeExcludes(store);
  let first: Promise<Listings> | undefined = early;
  if (early && (leftovers.length > 0 || rewritten)) {
    await early.catch(() => undefined);
    first = undefined;
  }
  const vanished: SkippedFile[] = [];
  for (let attempt = 0; ; attempt++) {
    if (attempt > 0) onProgress?.('scanning workspace…');
    const scan = await scanChanges(store, first);
    first = undefined;
    const skipped = [...vanished, ...scan.skipped];
    try {
      onProgress?.(`staging ${scan.changed} changed path${scan.changed === 1 ? '' : 's'}…`);
      // Nothing new, modified, deleted or included: the index already is the workspace (an
      // agent's no-change step then costs one scan, not two).
      const bytesOf = (p: string) => scan.raw.get(p) ?? Buffer.from(p);
      const skippedPaths = new Set(scan.skipped.map((s) => s.path));
      const big = scan.big.map(bytesOf);
      const skippedBytes = scan.skipped.map((s) => bytesOf(s.path));
      // git stages the rest beside the big files' copy (it leaves them, and the big files copied
      // earlier whose entries wait unvouched, to their own entries: unvouched.ts): on two cores
      // the copy and git's scan overlap. git's own staging comes before the big files' entries,
      // and their stat data only after write-tree: a git that writes the index compares every
      // racy entry (mtime in the index's second) with the file by content — with the big files'
      // stat data in the index, a step in the second the agent wrote them had `git add` hash them
      // all again (0.8 s for 224 MiB).
      const notBig = (keys: Set<string>) => (p: string) => !skippedPaths.has(p) && !keys.has(bytesOf(p).toString('hex'));
      const included = scan.included.filter(notBig(new Set(big.map((p) => p.toString('hex')))));
      const staging =
        scan.changed > big.length || scan.skipped.length > 0 || scan.placeholders || included.length > 0
          ? stage(store, skippedBytes, included.map(bytesOf), [...big, ...scan.unvouched.map((u) => u.path)])
          : undefined;
      const [copied, staged] = await Promise.allSettled([copyBig(store, big), staging]);
      if (copied.status === 'rejected') throw copied.reason;
      if (staged.status === 'rejected') throw staged.reason;
      const pending = copied.value;
      const byOwnCopy = new Set(pending.map((p) => p.path.toString('hex')));
      // Big files copied earlier, whose entries wait unvouched (unvouched.ts), unchanged since.
      const waiting = scan.unvouched.filter((u) => !byOwnCopy.has(u.path.toString('hex')));
      // A big file that changed while it was copied: git adds it, in a second staging that
      // leaves out only the files copied.
      if (pending.length < big.length) await stage(store, skippedBytes, scan.included.filter(notBig(byOwnCopy)).map(bytesOf), [...pending.map((p) => p.path), ...waiting.map((u) => u.path)]);
      await enterBig(store, pending);
      const unchanged = scan.changed === 0 && !scan.placeholders && (await (attempt === 0 ? known : treeOfUnchangedIndex(store)));
      const unvouched = [...waiting, ...pending.filter((p) => p.line && !p.vouched).map((p) => ({ path: p.path, line: p.line! }))];
      const { tree, fingerprint } = unchanged || (await writeTree(store, () => statBig(store, pending), unvouched));
      // The sealer also vouches for the big files waiting unvouched (refreshRacyEntries).
      if ((pending.length > 0 || unvouched.length > 0) && process.env.SNAPLINE_BACKGROUND_SEAL !== '0') startSealer(store.dir);
      return fingerprint ? { tree, skipped, basis: { store: store.dir, index: fingerprint, excludeFrom, exclude } } : { tree, skipped };
    } catch (e) {
      const gone = scan.untracked.filter((p) => !exists(inWorktree(store, scan.raw.get(p) ?? Buffer.from(p))));
      if (attempt < 2 && gone.length > 0) {
        // Files deleted while git read them: report them and take a fresh look.
        for (const path of gone) if (!vanished.some((v) => v.path === path)) vanished.push({ path, reason: 'vanished' });
        continue;
      }
      if (e instanceof StagingFailed) throw e;
      if (e instanceof GitError) throw new StagingFailed(e.message);
      throw e;
    }
  }
}

/**
 * The index's fingerprint and the tree `write-tree` made of it are kept in this file of the
 * store, so a track that stages nothing names the same tree without starting git again.
 */
const TREE_FILE = 'snapline-tree';

/**
 * `git write-tree`, then `afterwards` (which may rewrite the index's stat data), remembering the
 * tree under the index's fingerprint (taken last: write-tree may update the index too), and the
 * `unvouched` big files' record for that index (before the tree: see no-change.sh).
 */
async function writeTree(store: Store, afterwards?: () => Promise<void>, unvouched: UnvouchedFile[] = []): Promise<{ tree: string; fingerprint?: string }> {
  // Blobs still pending (see pending.ts) are not objects yet: the tree names them all the same.
  const missingOk = (await pendingBlobs(store.dir)).length > 0 ? ['--missing-ok'] : [];
  const tree = await gitText(store.ctx, ['write-tree', ...missingOk]);
  if (!isObjectId(tree)) throw new StagingFailed(`git write-tree printed '${tree}'`);
  await afterwards?.();
  const fingerprint = await indexFingerprint(store);
  await writeUnvouched(store.dir, fingerprint, unvouched);
  if (fingerprint) {
    // Written aside and renamed: a killed track leaves the old line or the new one, never half.
    const tmp = join(store.dir, `${TREE_FILE}.tmp`);
    await writeFile(tmp, `${fingerprint} ${tree}\n`);
    await rename(tmp, join(store.dir, TREE_FILE));
  }
  return { tree, fingerprint };
}

/**
 * Makes the index's racy entries plain again, as git would when it rewrites an index, but
 * hashing with node:crypto: an entry whose mtime is not older than the index file is compared
 * by content at every git scan (git's racy rule) — the big files a step just wrote, whose
 * index is written in the same second, cost a hash of each at every later step. Here each
 * racy or zero-stat regular file is read and compared with its blob: the same content gets
 * its stat data, anything else is smudged (size 0: git compares it), then the index is
 * written in a later second. Run by the background sealer; gives up at once if the store is
 * busy. Returns how many entries it changed.
 */
export async function refreshRacyEntries(storeDir: string): Promise<number> {
  const written = await indexSecond(storeDir);
  if (written === undefined) return 0;
  await secondAfter(written);
  return withStoreLock(storeDir, 0, undefined, () => refreshRacyLocked(storeDir)).catch(() => 0);
}

/** The second (since the epoch) the store's index was last written in. */
function indexSecond(storeDir: string): Promise<number | undefined> {
  return stat(join(storeDir, 'index')).then((s) => Math.floor(s.mtimeMs / 1000), () => undefined);
}

/**
 * Racy entries stay racy in an index written in their second: waits for the next one, and past
 * the timestamps' lag, so what is read from now on is vouched for (pending.ts).
 */
async function secondAfter(second: number): Promise<void> {
  const wait = (second + 1) * 1000 + TIMESTAMP_SLACK_MS + 10 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

/** refreshRacyEntries for a caller holding the store lock, in a second after the index's. */
async function refreshRacyLocked(storeDir: string): Promise<number> {
  const index = join(storeDir, 'index');
  const worktree = (await readIfExists(join(storeDir, WORKTREE_FILE))).replace(/\n$/, '');
  if (!isAbsolute(worktree)) return 0;
  const { rewriteIndexEntries, writeEntryStat } = await import('../git/index-stat.js');
  const written = await indexSecond(storeDir);
  if (written === undefined || Math.floor(Date.now() / 1000) <= written) return 0;
  const before = await indexFingerprint({ dir: storeDir });
  const recorded = await readUnvouched(storeDir, async () => before);
  const changed = await rewriteIndexEntries(index, async (e) => {
    const mtime = e.stat.readUInt32BE(8);
    const mode = e.stat.readUInt32BE(24);
    const size = e.stat.readUInt32BE(36);
    if ((mode & 0o170000) === 0o160000) return false; // a gitlink: git never reads it as racy
    const abs = Buffer.concat([Buffer.from(worktree + sep), e.path]);
    const waiting = size === 0 ? recorded.get(e.path.toString('hex')) : undefined;
    if (waiting) {
      // Copied in the second of its last change (unvouched.ts): unchanged to the nanosecond, and
      // looked at now, in a later second, it is vouched for without reading it again.
      const checkedWall = BigInt(Date.now()) * 1_000_000n;
      const st = await lstat(abs, { bigint: true }).catch(() => undefined);
      if (!st || statLine(st) !== waiting.line || !vouched(st, checkedWall)) return false;
      writeEntryStat(e.stat, entryStat(st));
      return true;
    }
    const racy = mtime >= written;
    if (!racy && (size !== 0 || (mode & 0o170000) !== 0o100000)) return false;
    const seen = (mode & 0o170000) === 0o100000 ? await verifiedStat(abs, e.oid) : undefined;
    if (seen !== undefined && seen !== 'differs') {
      writeEntryStat(e.stat, seen);
      return true;
    }
    if (!racy || size === 0) return false;
    // Not known to be the blob: once the index is no longer racy, only content can tell.
    e.stat.writeUInt32BE(0, 36);
    return true;
  }, true);
  if (changed > 0) {
    // The record named the old index (a file not vouched for above was written since its copy:
    // the next scan copies it again).
    await rm(join(storeDir, UNVOUCHED_FILE), { force: true });
    // The tree is the same (only stat data changed): keep it known under the new fingerprint.
    const [fingerprint, tree] = (await readIfExists(join(storeDir, TREE_FILE))).trim().split(' ');
    const after = await indexFingerprint({ dir: storeDir });
    if (before && after && fingerprint === before && tree && isObjectId(tree)) {
      const tmp = join(storeDir, `${TREE_FILE}.tmp`);
      await writeFile(tmp, `${after} ${tree}\n`);
      await rename(tmp, join(storeDir, TREE_FILE));
    }
  }
  return changed;
}

/**
 * The tree of the index when the index is byte for byte the one `write-tree` last wrote a tree
 * of (same size and trailing checksum, which git computes over the whole file), else undefined.
 */
async function treeOfUnchangedIndex(store: Store): Promise<{ tree: string; fingerprint: string } | undefined> {
  const [fingerprint, tree] = (await readIfExists(join(store.dir, TREE_FILE))).trim().split(' ');
  if (!fingerprint || !tree || !isObjectId(tree)) return undefined;
  return fingerprint === (await indexFingerprint(store)) ? { tree, fingerprint } : undefined;
}

/** `<size>:<last 32 bytes in hex>` of the store's index; undefined without an index or its checksum. */
async function indexFingerprint(store: Pick<Store, 'dir'>): Promise<string | undefined> {
  const file = join(store.dir, 'index');
  const size = await stat(file).then((s) => s.size, () => -1);
  if (size < 32) return undefined;
  const fh = await open(file, 'r');
  try {
    const tail = Buffer.alloc(32);
    const { bytesRead } = await fh.read(tail, 0, 32, size - 32);
    if (bytesRead !== 32 || tail.subarray(12).every((b) => b === 0)) return undefined; // index.skipHash: no checksum
    return `${size}:${tail.toString('hex')}`;
  } finally {
    await fh.close();
  }
}

interface Scan {
  skipped: SkippedFile[];
  /** Untracked paths seen (to tell vanished files from failures if staging fails). */
  untracked: string[];
  changed: number;
  /** The bytes of listed names that are not valid UTF-8 (their string form is lossy). */
  raw: Map<string, Buffer>;
  /** Untracked files matching snapshot.include (ignored or not): staged with `add -f`. */
  included: string[];
  /** Placeholder entries were added to the index (staging removes them again). */
  placeholders: boolean;
  /** Changed regular files of at least PENDING_MIN_BYTES (not skipped): staged by stageBig. */
  big: string[];
  /** Big files whose entries wait unvouched (unvouched.ts) and that were not written since: not changed. */
  unvouched: UnvouchedFile[];
}

/**
 * Lists what `git add -A` will look at (new and modified files) and checks each one's size and
 * readability first, because one unreadable file makes the whole `git add` fail. Nested
 * repositories (listed as `dir/`) get a placeholder entry, then the scan runs again so their
 * files are listed, and later staged, as ordinary files.
 */
async function scanChanges(store: Store, started?: Promise<Listings>): Promise<Scan> {
  const cap = store.config.snapshot.maxFileSize;
  let placeholders = false;
  // (Read once: the placeholders below change the index, not these entries.)
  const recorded = await readUnvouched(store.dir, () => indexFingerprint(store));
  for (let round = 0; round < 64; round++) {
    const unvouched: UnvouchedFile[] = [];
    const skipped: SkippedFile[] = [];
    const untracked: string[] = [];
    const nested: string[] = [];
    const raw = new Map<string, Buffer>();
    const big: string[] = [];
    let changed = 0;
    const listings = await ((round === 0 && started) || listChanges(store));
    const included = listings[2].map(([, path]) => path).filter((p) => !p.endsWith('/')); // nested repos: see below
    const seen = new Set<string>();
    for (const [tag, path, bytes] of listings.flat()) {
      if (seen.has(path)) continue; // an included file that is not ignored is listed twice
      seen.add(path);
      if (path.endsWith('/')) {
        if (tag === '?') nested.push(path);
        continue;
      }
      if (path === PLACEHOLDER || path.endsWith('/' + PLACEHOLDER)) continue;
      const waiting = tag === 'C' ? recorded.get(bytes.toString('hex')) : undefined;
      if (waiting && (await currentLine(inWorktree(store, bytes))) === waiting.line) {
        unvouched.push(waiting);
        continue;
      }
      changed++;
      if (tag === '?') untracked.push(path);
      // Stat the real name: a name that is not UTF-8 would otherwise look vanished.
      if (path.includes('\ufffd')) raw.set(path, bytes);
      const abs = inWorktree(store, bytes);
      let st;
      try {
        st = lstatSync(abs);
      } catch (e) {
        // A tracked file that is gone is a deletion; an untracked one vanished since git listed it.
        if (tag === '?') skipped.push({ path, reason: 'vanished' });
        else if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'ENOTDIR') skipped.push({ path, reason: 'unreadable' });
        continue;
      }
      if (!st.isFile()) continue;
      if (st.size > cap) {
        skipped.push({ path, reason: 'too-large', size: st.size });
        continue;
      }
      try {
        accessSync(abs, constants.R_OK);
        if (st.size >= PENDING_MIN_BYTES) big.push(path);
      } catch {
        skipped.push({ path, reason: 'unreadable', size: st.size });
      }
    }
    if (nested.length === 0) return { skipped, untracked, changed, raw, included, placeholders, big, unvouched };
    placeholders = true;
    const input = nested.map((dir) => `100644 ${EMPTY_BLOB}\t${dir}${PLACEHOLDER}\0`).join('');
    await runGit(store.ctx, ['update-index', '-z', '--add', '--index-info'], { input });
  }
  throw new StagingFailed('nested repositories more than 64 levels deep');
}

/** Listed paths, each tagged `?` (untracked) or `C` (stat data changed), as text and as git's bytes. */
type Listing = ['?' | 'C', string, Buffer][];
/** A scan's listings: untracked files, changed tracked files, untracked files snapshot.include names. */
type Listings = [Listing, Listing, Listing];

/**
 * Untracked files, and tracked files whose stat data changed (one child process starts both
 * gits), beside the snapshot.include listing. Not `ls-files -m`: for a same-size file with a
 * new mtime it hashes the content, doubling the cost of a big turn.
 */
async function listChanges(store: Store): Promise<Listings> {
  const [[untracked, changed], included] = await Promise.all([
    listRecordsTogether(store.ctx, ['ls-files', '-z', '-o', '--exclude-standard'], ['diff-files', '-z', '--name-only']),
    includedUntracked(store),
  ]);
  return [tagged(untracked, '?'), tagged(changed, 'C'), included];
}

/** Non-empty records as listing entries with `tag`. */
function tagged(records: Buffer[], tag: '?' | 'C'): Listing {
  return records.filter((rec) => rec.length > 0).map((rec) => [tag, rec.toString('utf8'), rec]);
}

/** Paths listed by a git command with NUL-separated output, each with `tag`. */
async function list(store: Store, args: string[], tag: '?' | 'C'): Promise<Listing> {
  const out: Listing = [];
  for await (const rec of gitRecords(store.ctx, args)) if (rec.length) out.push([tag, rec.toString('utf8'), Buffer.from(rec)]);
  return out;
}

/** Absolute path (as bytes, so any file name works) of a workspace-relative git path. */
function inWorktree(store: Store, rel: Buffer): Buffer {
  return Buffer.concat([Buffer.from(store.worktree + sep), rel]);
}

/**
 * `git add -A` of the whole workspace except the skipped paths (which also leave the index),
 * then `git add -f` of new files that snapshot.include names although they are ignored. Once in
 * the index they are tracked files to git: `add -A` follows their changes and deletions.
 */
async function stage(store: Store, skipped: Buffer[], included: Buffer[], ownCopies: Buffer[]): Promise<void> {
  const spec = (paths: Buffer[], magic: string) => Buffer.concat(paths.flatMap((p) => [Buffer.from(magic), p, Buffer.from([0])]));
  if (skipped.length) await runGit(store.ctx, ['rm', '--cached', '-q', '-r', '--ignore-unmatch', '--pathspec-from-file=-', '--pathspec-file-nul'], { input: spec(skipped, ':(literal)') });
  const input = Buffer.concat([Buffer.from('.\0'), spec([...skipped, ...ownCopies], ':(exclude,literal)')]);
  await runGit(store.ctx, ['add', '-A', '--pathspec-from-file=-', '--pathspec-file-nul'], { input });
  if (included.length) await runGit(store.ctx, ['add', '-f', '--pathspec-from-file=-', '--pathspec-file-nul'], { input: spec(included, ':(literal)') });
}

/**
 * Big changed files staged by snapline's own copy (pending.ts), step one: each is copied into the
 * store and hashed there; `git add` leaves them alone (enterBig, then statBig, put them in the
 * index). A file that changed while it was copied is not returned: git adds it.
 */
async function copyBig(store: Store, paths: Buffer[]): Promise<PendingBlob[]> {
  if (paths.length === 0) return [];
  // Two at a time: one file's copy overlaps the other's hashing, and memory stays at two
  // 1 MiB read buffers however many big files changed.
  const staged: (PendingBlob | undefined)[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < paths.length; i = next++) staged[i] = await stagePending(store.dir, paths[i]!, inWorktree(store, paths[i]!), `tmp-${process.pid}-${i}`);
  };
  await Promise.all([worker(), worker()]);
  return staged.filter((p): p is PendingBlob => p !== undefined);
}

/** Step two: the copied files' entries (`--index-info` leaves their stat data zero, which no git compares by content). */
async function enterBig(store: Store, pending: PendingBlob[]): Promise<void> {
  if (pending.length === 0) return;
  const input = Buffer.concat(pending.flatMap((p) => [Buffer.from(`${p.mode} blob ${p.oid}\t`), p.path, Buffer.from([0])]));
  await runGit(store.ctx, ['update-index', '-z', '--add', '--replace', '--index-info'], { input });
}

/**
 * Step three, after the last git that writes the index: the copied files' stat data, so a later
 * scan costs an lstat — where it is vouched for. The others keep zero stat data and are recorded
 * beside the index (unvouched.ts; writeTree): as racy entries, every git that reads the index
 * would hash them again (git's SHA-1, 0.8 s for 224 MiB here), where the step hook script's check
 * at the turn's end or the next step's scan now compares their stat data to the nanosecond. The
 * sealer vouches for them in a later second.
 */
async function statBig(store: Store, pending: PendingBlob[]): Promise<void> {
  const stats = new Map<string, EntryStat>();
  for (const p of pending) if (p.stat && p.vouched) stats.set(p.path.toString('hex'), p.stat);
  if (stats.size === 0) return;
  // Loaded here: a track that stages nothing big does not load it.
  const { setIndexStat } = await import('../git/index-stat.js');
  await setIndexStat(join(store.dir, 'index'), stats);
}

/**
 * Untracked files matching snapshot.include: `ls-files -o -i` with only those patterns as the
 * exclude rules lists exactly the files they match, whatever the workspace's ignore files say.
 * (git walks every untracked directory for this, so it runs only when patterns are set.)
 */
async function includedUntracked(store: Store): Promise<['?', string, Buffer][]> {
  const patterns = store.config.snapshot.include;
  if (patterns.length === 0) return [];
  const own = ownDataPattern(store);
  const listed = await list(store, ['ls-files', '-z', '-o', '-i', ...patterns.map((p) => `--exclude=${p}`)], '?');
  // snapline's own data is never snapshotted, whatever the patterns say.
  return listed.filter(([, path]) => !(own && ('/' + path).startsWith(own))) as ['?', string, Buffer][];
}

/** `/<dir>/` for snapline's data directory when it lies inside the workspace. */
function ownDataPattern(store: Store): string | null {
  const own = relative(store.worktree, snapshotRoot());
  return own && !own.startsWith('..') && !isAbsolute(own) ? `/${own.split(sep).join('/')}/` : null;
}

/**
 * Writes the store's info/exclude (only when its text changed: `rewritten`) and returns the
 * path of the user's exclude file it read from. The store's info/exclude: the user's repository's own info/exclude (the store is a different
 * repository, so git would not read it) plus snapline's configured ignore patterns. `.gitignore`
 * files in the workspace and the user's global excludes file are read by git directly.
 */
async function writeExcludes(store: Store): Promise<{ from: string; text: string; rewritten: boolean }> {
  let userExclude = '';
  const dotGit = join(store.worktree, '.git');
  // Where the user's exclude file is (or would appear: `git init` makes one).
  let from = join(dotGit, 'info', 'exclude');
  const kind = await stat(dotGit).then((s) => (s.isDirectory() ? 'dir' : 'other'), () => 'none');
  if (kind === 'dir' && !(await readIfExists(join(dotGit, 'commondir')))) {
    // The usual layout: the workspace's .git directory is the repository (no git to start).
    userExclude = await readIfExists(join(dotGit, 'info', 'exclude'));
  } else if (kind !== 'none' || (await nearestDotGit(store.worktree)) !== undefined) {
    try {
      const common = await gitText({ cwd: store.worktree, env: { GIT_OPTIONAL_LOCKS: '0' } }, ['rev-parse', '--git-common-dir']);
      if (common) {
        from = join(isAbsolute(common) ? common : join(store.worktree, common), 'info', 'exclude');
        userExclude = await readIfExists(from);
      }
    } catch {
      /* not a git repository: nothing to import */
    }
  }
  // Never snapshot snapline's own data (a workspace may contain the data directory).
  const own = ownDataPattern(store);
  const ownData = own ? [own] : [];
  const text = ['# written by snapline on every track; edit snapshot.ignore in snapline.json instead', userExclude, ...store.config.snapshot.ignore, ...ownData, ''].join('\n');
  const file = join(store.dir, 'info', 'exclude');
  const rewritten = (await readIfExists(file)) !== text;
  if (rewritten) await writeFile(file, text);
  return { from, text, rewritten };
}

function exists(p: string | Buffer): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

