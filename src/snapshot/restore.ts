import { closeSync, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, realpathSync, renameSync, rmdirSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { lstat, mkdir, open, rmdir, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, sep } from 'node:path';
import { openObjectReader, smallObjects } from '../git/objects.js';
import { isAbbreviatedId, isObjectId } from '../git/object-id.js';
import { UnknownPath } from '../errors.js';
import { decodePath, fsPath, hasEscapes } from '../git/path-bytes.js';
import { runGit, type GitContext } from '../git/run.js';
import { changedPaths, type TreeChange } from '../git/tree-diff.js';
import { PathOutsideWorkspace, RestoreFailed, UnknownSnapshot } from './errors.js';
import { withStore, type Store, type StoreOptions } from './store.js';
import { beginRestore, endRestore, tempName } from './journal.js';
import { trackLocked } from './track.js';
import { sealPending } from './pending.js';

export interface RestoreOptions extends StoreOptions {
  /** Called as files are written: how many so far, of how many. */
  onProgress?: (done: number, total: number) => void;
}

/** What a restore changed in the workspace (paths relative to it, `/`-separated). */
export interface RestoreResult {
  written: string[];
  deleted: string[];
}

/**
 * Puts paths of the workspace into their state in `tree`: files and symlinks are written
 * (content streamed to a temporary file, then renamed into place), the executable bit set,
 * paths absent from the tree deleted. Without `paths`, every path that differs between the
 * workspace now and the tree; with `paths`, only those (a directory means everything under it).
 * Nothing else is written. The workspace is tracked first, so its prior state stays recoverable.
 */
export async function restore(worktree: string, tree: string, paths?: readonly string[], opts: RestoreOptions = {}): Promise<RestoreResult> {
  const wanted = (paths ?? []).map(checkRelative);
  const wantedSet = new Set(wanted);
  return withStore(worktree, { ...opts, create: true }, async (store) => {
    for (const p of wanted) checkInside(store.worktree, p, wantedSet);
    const target = await treeInStore(store, tree);
    const { tree: current } = await trackLocked(store);
    // The track may have left blobs pending; the restore reads blobs.
    await sealPending(store.dir, { timeoutMs: store.config.snapshot.lockTimeoutMs, onWait: opts.onWait });
    const changes = await changesUnder(store.ctx, current, target, wanted);
    for (const c of changes) checkSnapshotPath(c.path);
    return applyChanges(store, target, changes, opts.onProgress);
  });
}

/**
 * The changes between two trees at or under `wanted` (all of them when it is empty). One
 * whole-tree diff filtered here: a pathspec per path would put 100,000 paths on one command
 * line. A wanted path in neither tree is UnknownPath.
 */
async function changesUnder(ctx: GitContext, from: string, to: string, wanted: readonly string[]): Promise<TreeChange[]> {
  const all = await changedPaths(ctx, from, to);
  if (wanted.length === 0) return all;
  const set = new Set(wanted);
  const covered = new Set<string>();
  const out: TreeChange[] = [];
  for (const c of all) {
    for (let p = c.path; ; ) {
      if (set.has(p)) {
        covered.add(p);
        out.push(c);
        break;
      }
      const slash = p.lastIndexOf('/');
      if (slash < 0) break;
      p = p.slice(0, slash);
    }
  }
  // (A name with bytes that are not UTF-8 cannot be asked about by name: git would get it re-encoded.)
  const rest = wanted.filter((p) => !covered.has(p) && !hasEscapes(p));
  if (rest.length) {
    // Unchanged paths need nothing, but a path in neither tree is a mistake worth saying.
    const input = rest.flatMap((p) => [`${from}:${p}`, `${to}:${p}`]).join('\n') + '\n';
    const out2 = (await runGit(ctx, ['cat-file', '--batch-check=%(objecttype)'], { input })).stdout.toString('utf8').split('\n');
    rest.forEach((p, i) => {
      if (p.includes('\n') || p.includes('\ufffd')) throw new UnknownPath(p);
      if (/missing$/.test(out2[2 * i] ?? 'missing') && /missing$/.test(out2[2 * i + 1] ?? 'missing')) throw new UnknownPath(p);
    });
  }
  return out;
}

/**
 * Refuses a path from a tree that could land outside the workspace or in a .git directory (a
 * crafted or damaged snapshot). Checked before anything is written. (A name that is not valid
 * UTF-8 is written with its own bytes: see git/path-bytes.ts.)
 */
function checkSnapshotPath(p: string): void {
  if (isAbsolute(p) || p.split('/').some((c) => c === '' || c === '.' || c === '..' || c.toLowerCase() === '.git')) throw new PathOutsideWorkspace(p, 'the snapshot names a path outside the workspace or inside .git');
}

/** The full id of `tree` if the store holds a tree by that name, else UnknownSnapshot. */
async function treeInStore(store: Store, tree: string): Promise<string> {
  if (!isAbbreviatedId(tree)) throw new UnknownSnapshot(tree);
  const r = await runGit(store.ctx, ['rev-parse', '--verify', '--quiet', `${tree}^{tree}`], { okStatus: [0, 1, 128] });
  const id = r.stdout.toString('utf8').trim();
  if (r.status !== 0 || !isObjectId(id) || !id.startsWith(tree)) throw new UnknownSnapshot(tree);
  return id;
}

/** A user-given path, normalised to `a/b` form; absolute paths and `..` are refused. */
function checkRelative(p: string): string {
  if (p === '' || isAbsolute(p) || /^[a-zA-Z]:/.test(p)) throw new PathOutsideWorkspace(p, 'paths must be relative to the workspace');
  const parts = p.split(/[\\/]+/).filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new PathOutsideWorkspace(p, "paths may not contain '..'");
  if (parts.length === 0) throw new PathOutsideWorkspace(p, 'name a path inside the workspace, not the workspace itself');
  if (parts.includes('.git')) throw new PathOutsideWorkspace(p, 'snapshots never contain .git directories');
  return parts.join('/');
}

/**
 * Refuses a path whose existing parent directories lead outside the workspace through symlinks.
 * A parent that is itself being restored is not followed (it is replaced first, and the writes
 * check their parents again just before writing).
 */
function checkInside(root: string, rel: string, restoring: ReadonlySet<string> = new Set()): void {
  const parts = rel.split('/');
  let dir = root;
  for (let i = 0; i < parts.length - 1; i++) {
    if (restoring.has(parts.slice(0, i + 1).join('/'))) return;
    dir = join(dir, parts[i]!);
    let real: string;
    try {
      real = realpathSync(fsPath(dir));
    } catch {
      return; // does not exist yet: nothing further can be a symlink
    }
    if (real !== root && !real.startsWith(root + sep)) throw new PathOutsideWorkspace(rel, `${dir} leads outside the workspace`);
  }
}

async function applyChanges(store: Store, target: string, changes: TreeChange[], onProgress?: (done: number, total: number) => void): Promise<RestoreResult> {
  const root = store.worktree;
  const deletions = changes.filter((c) => !c.after).map((c) => c.path);
  const writes = changes.filter((c) => c.after && c.after.mode !== '160000');
  const removing = new Set(deletions);
  // Check every write's parents before touching anything: a parent that is a symlink or a
  // file not being removed would make the write land somewhere else.
  for (const c of writes) {
    const parts = c.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (removing.has(prefix)) break;
      const st = lstatOrNull(fsPath(join(root, prefix)));
      if (!st || st.isDirectory()) continue;
      if (st.isSymbolicLink()) {
        checkInside(root, prefix + '/x');
        throw new RestoreFailed(c.path, `its parent ${prefix} is a symlink in the workspace; restore ${prefix} too`);
      }
      throw new RestoreFailed(c.path, `its parent ${prefix} is a file in the workspace; restore ${prefix} too`);
    }
  }

  const result: RestoreResult = { written: [], deleted: [] };
  for (const path of [...deletions].sort((a, b) => b.split('/').length - a.split('/').length)) {
    try {
      await unlink(fsPath(join(root, path)));
      result.deleted.push(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new RestoreFailed(path, (e as Error).message);
    }
  }
  await removeEmptyParents(store, target, deletions);

  // Files are written in the store's staging directory and renamed into place, so a kill leaves
  // nothing half-written in the workspace. Where the store is on another file system, a
  // temporary sibling is used instead; the journal lets the next process remove those.
  const staging = join(store.dir, STAGING);
  let stageIn: string | null = (await sameFileSystem(store.dir, root)) ? staging : null;
  if (stageIn) await mkdir(staging, { recursive: true });
  const journal = await beginRestore(store.dir, [staging, ...writes.map((c) => dirname(join(root, c.path)))]);
  const reader = openObjectReader(store.ctx);
  const made = new Set<string>();
  let n = 0;
  // Small files are read whole, their requests sent to git ahead, and written with direct
  // system calls (a thread-pool round trip per call cost more than the call); big ones stream.
  const small = smallObjects(store.ctx, writes.flatMap((c) => (c.after!.size <= SMALL_FILE ? [c.after!.oid] : [])), SMALL_FILE);
  try {
    for (const [i, c] of writes.entries()) {
      const { oid, size, mode } = c.after!;
      let content: Content;
      if (size <= SMALL_FILE) {
        const next = await small.next();
        if (next.done) throw new RestoreFailed(c.path, 'git answered fewer objects than asked');
        content = next.value;
      } else content = async () => (await reader.open(oid, size)).body;
      if (!(await writeEntry(root, c.path, mode, content, stageIn, tempName(journal, n++), made))) {
        stageIn = null; // rename across mounts (EXDEV): write beside the target from now on
        await writeEntry(root, c.path, mode, content, stageIn, tempName(journal, n++), made);
      }
      result.written.push(c.path);
      onProgress?.(i + 1, writes.length);
    }
  } finally {
    await small.return(undefined);
    reader.close();
    await endRestore(store.dir);
  }
  return result;
}

/** Removes directories emptied by deletions when the target tree has no directory there. */
async function removeEmptyParents(store: Store, target: string, deleted: string[]): Promise<void> {
  const dirs = new Set<string>();
  for (const p of deleted) {
    for (let d = dirname(p); d !== '.' && d !== ''; d = dirname(d)) dirs.add(d);
  }
  if (dirs.size === 0) return;
  const list = [...dirs].sort((a, b) => b.split('/').length - a.split('/').length);
  // One batch query for ordinary names; a name with a newline cannot go through the batch protocol.
  const plain = list.filter((d) => !d.includes('\n'));
  const input = plain.map((d) => `${target}:${d}`).join('\n') + '\n';
  const out = (await runGit(store.ctx, ['cat-file', '--batch-check=%(objecttype)'], { input })).stdout.toString('utf8').split('\n');
  const types = new Map(plain.map((d, i) => [d, out[i]]));
  for (const d of list) {
    const type = types.get(d) ?? (await runGit(store.ctx, ['cat-file', '-t', `${target}:${d}`], { okStatus: [0, 128] })).stdout.toString('utf8').trim();
    if (type === 'tree') continue;
    await rmdir(fsPath(join(store.worktree, d))).catch(() => undefined); // not empty or not there: leave it
  }
}

/** Directory in a store where restore writes files before renaming them into the workspace. */
const STAGING = 'restore-tmp';

async function sameFileSystem(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([lstat(a), lstat(b)]);
  return sa.dev === sb.dev;
}

/** A file's content: read already (small), or opened when the write starts (and again on a retry). */
type Content = Buffer | (() => Promise<AsyncIterable<Buffer>>);

/** Files up to this size are read whole (requested ahead) and written synchronously. */
const SMALL_FILE = 64 * 1024;

/**
 * Writes one blob or symlink at `path`: into a temporary file (in `stageIn`, else beside the
 * target) with its final mode, then renamed into place. False when the rename crossed file
 * systems (nothing was written; retry without `stageIn`). `made`: directories known to exist.
 */
async function writeEntry(root: string, path: string, mode: string, content: Content, stageIn: string | null, tmpName: string, made: Set<string>): Promise<boolean> {
  const abs = join(root, path);
  const dir = dirname(abs);
  try {
    if (!made.has(dir)) mkdirSync(fsPath(dir), { recursive: true });
    made.add(dir);
  } catch (e) {
    throw new RestoreFailed(path, (e as Error).message);
  }
  const tmp = fsPath(join(stageIn ?? dir, tmpName));
  try {
    if (mode === '120000') {
      const chunks: Buffer[] = [];
      for await (const c of Buffer.isBuffer(content) ? [content] : await content()) chunks.push(c);
      symlinkSync(Buffer.concat(chunks), tmp); // the target's bytes as stored, whatever their encoding
    } else if (Buffer.isBuffer(content)) {
      const fd = openSync(tmp, 'wx', mode === '100755' ? 0o777 : 0o666);
      try {
        for (let off = 0; off < content.length; ) off += writeSync(fd, content, off, content.length - off);
        setMode(fd, mode);
      } finally {
        closeSync(fd);
      }
    } else {
      const fh = await open(tmp, 'wx', mode === '100755' ? 0o777 : 0o666);
      try {
        for await (const c of await content()) {
          let off = 0;
          while (off < c.length) off += (await fh.write(c, off, c.length - off)).bytesWritten;
        }
        setMode(fh.fd, mode);
      } finally {
        await fh.close();
      }
    }
    try {
      renameSync(tmp, fsPath(abs));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EXDEV' && stageIn) {
        unlinkSync(tmp);
        return false;
      }
      // A directory in the way (git does not track empty ones): replaced only if empty.
      if (!lstatOrNull(fsPath(abs))?.isDirectory()) throw e;
      removeEmptyDirs(abs);
      renameSync(tmp, fsPath(abs));
    }
    return true;
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    if (e instanceof RestoreFailed) throw e;
    throw new RestoreFailed(path, (e as Error).message);
  }
}

/** The umask applied at creation; sets the final permission bits before the file appears. */
function setMode(fd: number, mode: string): void {
  const st = fstatSync(fd);
  const want = mode === '100755' ? st.mode | ((st.mode & 0o444) >> 2) : st.mode & ~0o111;
  if ((want & 0o777) !== (st.mode & 0o777)) fchmodSync(fd, want & 0o777);
}

/**
 * Removes a directory that holds nothing but (possibly nested) empty directories, which git
 * does not track; any file inside makes it fail with ENOTEMPTY, so nothing is lost.
 */
function removeEmptyDirs(abs: string): void {
  for (const e of readdirSync(fsPath(abs), { withFileTypes: true, encoding: 'buffer' })) {
    const name = decodePath(e.name);
    if (!e.isDirectory()) throw Object.assign(new Error(`directory ${abs} is in the way and holds files the snapshot does not (${name})`), { code: 'ENOTEMPTY' });
    removeEmptyDirs(join(abs, name));
  }
  rmdirSync(fsPath(abs));
}

function lstatOrNull(p: string | Buffer) {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}
