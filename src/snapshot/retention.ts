import { mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { hostname } from 'node:os';
import { dataDir, loadConfig, snapshotRoot } from '../config.js';
import { UsageError } from '../errors.js';
import { gitText, runGit, type GitContext } from '../git/run.js';
import { isAbbreviatedId, isObjectId } from '../git/object-id.js';
import { looseType, parseTree, readLooseObject, writeLooseObject } from '../git/loose.js';
import { UnknownSnapshot } from './errors.js';
import { cleanRestoreLeftovers } from './journal.js';
import { markReleased, REMOTE_REFS } from './remote.js';
import { holderIsDead, LOCK_NAME, processesUsing, readLock, withStoreLock } from './lock.js';
import { sealPending } from './pending.js';
import { checkStore, COMPRESSION, openStore, packedRef, readIfExists, withStore, WORKTREE_FILE, type StoreOptions } from './store.js';

/** Sessions keep their trees reachable from this ref namespace, so git gc never prunes them. */
export const SESSION_REFS = 'refs/snapline/sessions/';

/** Identity on the commits that hold session trees (they never leave the shadow store). */
const IDENTITY = {
  GIT_AUTHOR_NAME: 'snapline',
  GIT_AUTHOR_EMAIL: 'snapline@localhost',
  GIT_COMMITTER_NAME: 'snapline',
  GIT_COMMITTER_EMAIL: 'snapline@localhost',
};

function sessionRef(sessionId: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/.test(sessionId) || sessionId.includes('..') || sessionId.endsWith('.lock') || sessionId.endsWith('.')) {
    throw new UsageError(`invalid session id '${sessionId}': use letters, digits, '_', '-' and '.'`);
  }
  return SESSION_REFS + sessionId;
}

/**
 * Keeps `trees` alive for a session. The ref `refs/snapline/sessions/<id>` points at one
 * commit whose tree has an entry per retained snapshot tree (named by its id); each call
 * replaces that commit with one listing the old trees plus the new ones, and the commit date
 * records when the session was last active.
 */
export async function retain(worktree: string, sessionId: string, trees: readonly string[], opts: StoreOptions = {}): Promise<void> {
  const ref = sessionRef(sessionId);
  // No sealing: retain reads trees only, and runs after every step's track (the agent waits).
  await withStore(worktree, { ...opts, create: true, seal: false }, async ({ ctx, dir }) => {
    await removeRefLocks(dir, ref);
    if (await keptAndActive(ctx, dir, ref, trees, false)) return;
    const made = await retainHere(dir, ref, sessionId, trees);
    if (made !== undefined) {
      if (trees.length === 1) await noteKept(dir, sessionId, made, trees[0]!);
      return;
    }
    if (await keptAndActive(ctx, dir, ref, trees, true)) return;
    const all = new Set<string>();
    const full: string[] = [];
    for (const t of trees) full.push(await fullTree(ctx, t));
    for (const t of full) all.add(t);
    const r = await runGit(ctx, ['rev-parse', '--verify', '--quiet', `${ref}^{tree}`], { okStatus: [0, 1] });
    const old = r.stdout.toString('utf8').trim();
    if (r.status === 0 && old) {
      // "040000 tree <oid>\t<oid>" records
      for (const rec of (await runGit(ctx, ['ls-tree', '-z', old])).stdout.toString('utf8').split('\0')) if (rec) all.add(rec.split(/[ \t]/)[2]!);
    }
    const input = [...all].sort().map((t) => `040000 tree ${t}\t${t}\n`).join('');
    const holder = await gitText(ctx, ['mktree'], { input });
    const commit = await gitText({ ...ctx, env: { ...ctx.env, ...IDENTITY } }, ['commit-tree', holder, '-m', `snapline session ${sessionId}`]);
    await runGit(ctx, ['update-ref', ref, commit]);
    if (full.length === 1 && isObjectId(commit)) await noteKept(dir, sessionId, commit, full[0]!);
  });
}

/** Largest holder tree retain reads itself (a session keeping ~350,000 snapshots); git reads larger ones. */
const HOLDER_MAX_BYTES = 16 * 1024 * 1024;

/**
 * retain without git, for the plain case a step meets: full tree ids stored loose, and the
 * session's ref (if any) a loose ref naming a loose holder commit (as the last retain left it).
 * Writes the holder tree and commit as loose objects and moves the ref as git does (a
 * `<ref>.lock` file renamed over it); returns the new commit. undefined when anything is in
 * another form (packed by gc, abbreviated, not a tree): git then does it all.
 */
async function recentlyMoved(dir: string, ref: string): Promise<boolean> {
  const moved = await stat(join(dir, ref)).then((s) => s.mtimeMs, () => 0);
  return Date.now() - moved <= ACTIVITY_RESOLUTION_MS;
}

async function retainHere(dir: string, ref: string, sessionId: string, trees: readonly string[]): Promise<string | undefined> {
  const objects = join(dir, 'objects');
  for (const t of trees) if ((await looseType(objects, t)) !== 'tree') return undefined;
  const all = new Set(trees);
  const refFile = join(dir, ref);
  const current = (await readIfExists(refFile)).trim();
  if (current !== '') {
    if (!isObjectId(current)) return undefined;
    const commit = await readLooseObject(objects, current, 64 * 1024);
    const holder = commit?.type === 'commit' ? /^tree ([0-9a-f]{40})\n/.exec(commit.body.toString('latin1', 0, 64))?.[1] : undefined;
    const tree = holder ? await readLooseObject(objects, holder, HOLDER_MAX_BYTES) : undefined;
    if (tree?.type !== 'tree') return undefined;
    const before = all.size;
    let known = 0;
    for (const e of parseTree(tree.body)) {
      if (e.mode !== '40000' || e.name.toString('latin1') !== e.oid) return undefined;
      if (all.has(e.oid)) known++;
      all.add(e.oid);
    }
    // Every tree is kept already and the ref moved lately: nothing to write.
    if (known === before && (await recentlyMoved(dir, ref))) return current;
  } else if ((await packedRef(dir, ref)) !== undefined) return undefined;
  const ids = [...all].sort();
  const holder = await writeLooseObject(objects, 'tree', Buffer.concat(ids.flatMap((id) => [Buffer.from(`40000 ${id}\0`, 'latin1'), Buffer.from(id, 'hex')])), Number(COMPRESSION));
  const who = `snapline <snapline@localhost> ${Math.floor(Date.now() / 1000)} +0000`;
  const commit = await writeLooseObject(objects, 'commit', Buffer.from(`tree ${holder}\nauthor ${who}\ncommitter ${who}\n\nsnapline session ${sessionId}\n`), Number(COMPRESSION));
  const lock = `${refFile}.lock`;
  await mkdir(dirname(refFile), { recursive: true });
  const fh = await open(lock, 'wx').catch(() => undefined);
  if (!fh) return undefined;
  try {
    await fh.writeFile(`${commit}\n`);
  } finally {
    await fh.close();
  }
  await rename(lock, refFile);
  return commit;
}

/**
 * The last tree retain kept for a session and the holder commit it made: a commit never
 * changes, so while the session's ref still names that commit, the tree is known to be kept
 * without asking git. (Written aside and renamed; read only to skip work, never trusted alone.)
 */
const KEPT_DIR = 'snapline-kept';

async function noteKept(dir: string, sessionId: string, commit: string, tree: string): Promise<void> {
  const file = join(dir, KEPT_DIR, sessionId);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, `${commit} ${tree}\n`);
  await rename(`${file}.tmp`, file);
}

/** A session ref moved less than this long ago is not moved again only to say the session is active. */
const ACTIVITY_RESOLUTION_MS = 60 * 60 * 1000;

/**
 * True when the session already keeps the one tree asked for and its ref moved within the last
 * ACTIVITY_RESOLUTION_MS (a loose ref's file time): then retain has nothing to do, for one git
 * process instead of six (a turn that starts where the last one ended asks exactly this).
 */
async function keptAndActive(ctx: GitContext, dir: string, ref: string, trees: readonly string[], askGit: boolean): Promise<boolean> {
  const [tree] = trees;
  if (trees.length !== 1 || !isObjectId(tree!)) return false;
  if (!(await recentlyMoved(dir, ref))) return false;
  // The ref still names the holder commit retain made for this very tree: kept, no git needed.
  const sessionId = ref.slice(SESSION_REFS.length);
  const [commit, kept] = (await readIfExists(join(dir, KEPT_DIR, sessionId))).trim().split(' ');
  const current = (await readIfExists(join(dir, ref))).trim();
  if (kept === tree && isObjectId(current) && current === commit) return true;
  if (!askGit) return false;
  const r = await runGit(ctx, ['rev-parse', '--verify', '--quiet', `${ref}:${tree}`], { okStatus: [0, 1, 128] });
  if (r.status !== 0 || r.stdout.toString('utf8').trim() !== tree) return false;
  // Asked git once for this commit and tree; the next turn starting here asks nobody.
  if (isObjectId(current) && (await readIfExists(join(dir, ref))).trim() === current) await noteKept(dir, sessionId, current, tree!);
  return true;
}

/**
 * Drops a session's hold on its trees; the next gc may prune those no other session keeps. With
 * `snapshot.remote` set, the session's refs on the remote are deleted by the next push.
 */
export async function release(worktree: string, sessionId: string, opts: StoreOptions = {}): Promise<boolean> {
  const ref = sessionRef(sessionId);
  return withStore(worktree, opts, async (store) => {
    const { ctx, dir } = store;
    await removeRefLocks(dir, ref);
    await rm(join(dir, KEPT_DIR, sessionId), { force: true });
    // With a remote, the session's refs there go too (at the next push).
    const fetched = await markReleased(store, sessionId);
    const r = await runGit(ctx, ['rev-parse', '--verify', '--quiet', ref], { okStatus: [0, 1] });
    if (r.status !== 0) return fetched > 0;
    await runGit(ctx, ['update-ref', '-d', ref]);
    return true;
  });
}

/**
 * Removes git's lock files for a ref (and packed-refs, with the new packed-refs git writes
 * before renaming it) left by a git killed mid-update: we hold the store lock, and a killed
 * holder's git children were waited for, so none is live. Without this, every later retain of
 * the session fails with "Unable to create '….lock': File exists".
 */
async function removeRefLocks(dir: string, ref: string): Promise<void> {
  await rm(join(dir, `${ref}.lock`), { force: true });
  await rm(join(dir, 'packed-refs.lock'), { force: true });
  await rm(join(dir, PACKED_REFS_NEW), { force: true });
}

/**
 * The file git writes the packed refs to before renaming it over packed-refs (created
 * exclusively: one left by a killed git makes every later rewrite fail with "File exists").
 */
const PACKED_REFS_NEW = 'packed-refs.new';

/** A session holding trees in a store, with when it last retained something (ms since epoch). */
export interface RetainedSession {
  id: string;
  updated: number;
}

/** Sessions retaining trees in the store of `worktree` (by git context). */
export async function sessionsIn(ctx: GitContext): Promise<RetainedSession[]> {
  const out = await gitText(ctx, ['for-each-ref', '--format=%(refname) %(committerdate:unix)', SESSION_REFS]);
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [ref, date] = l.split(' ');
      return { id: ref!.slice(SESSION_REFS.length), updated: Number(date) * 1000 };
    });
}

/**
 * Every session keeping trees in a store: by its own ref, or by copies of its remote refs
 * (snapshots of a session recorded elsewhere, fetched here), with the refs that keep them and
 * when the session was last active (the newest of their commit dates).
 */
async function heldSessions(ctx: GitContext): Promise<(RetainedSession & { refs: string[] })[]> {
  const out = await gitText(ctx, ['for-each-ref', '--format=%(refname) %(committerdate:unix)', SESSION_REFS, REMOTE_REFS]);
  const byId = new Map<string, RetainedSession & { refs: string[] }>();
  for (const line of out.split('\n').filter(Boolean)) {
    const [ref, date] = line.split(' ') as [string, string];
    const id = ref.startsWith(SESSION_REFS) ? ref.slice(SESSION_REFS.length) : ref.slice(REMOTE_REFS.length).split('/')[0]!;
    const s = byId.get(id) ?? { id, updated: 0, refs: [] };
    s.refs.push(ref);
    s.updated = Math.max(s.updated, Number(date) * 1000);
    byId.set(id, s);
  }
  return [...byId.values()];
}

/** Deletes refs of a store (gc releasing a session here only: its remote refs stay). */
async function dropRefs(ctx: GitContext, refs: readonly string[]): Promise<void> {
  await runGit(ctx, ['update-ref', '--stdin'], { input: refs.map((r) => `delete ${r}\n`).join('') });
}

async function fullTree(ctx: GitContext, tree: string): Promise<string> {
  if (!isAbbreviatedId(tree)) throw new UnknownSnapshot(tree);
  const r = await runGit(ctx, ['rev-parse', '--verify', '--quiet', `${tree}^{tree}`], { okStatus: [0, 1, 128] });
  const id = r.stdout.toString('utf8').trim();
  if (r.status !== 0 || !id.startsWith(tree)) throw new UnknownSnapshot(tree);
  return id;
}

/** Disk usage of one store, and of what each of its sessions keeps alive. */
export interface StoreUsage {
  store: string;
  worktree: string;
  bytes: number;
  sessions: { id: string; bytes: number }[];
}

/** Disk usage of the workspace's store, or of every store when no workspace is given. */
export async function du(worktree?: string, opts: StoreOptions = {}): Promise<StoreUsage[]> {
  const dirs = worktree ? [(await openStore(worktree, opts)).dir] : await allStores();
  const result: StoreUsage[] = [];
  for (const dir of dirs) {
    const ctx: GitContext = { gitDir: dir };
    // rev-list walks the sessions' blobs: the pending ones must be objects.
    await sealPending(dir, { timeoutMs: (opts.config ?? loadConfig()).snapshot.lockTimeoutMs, onWait: opts.onWait });
    const sessions: StoreUsage['sessions'] = [];
    for (const s of await sessionsIn(ctx).catch(() => [])) sessions.push({ id: s.id, bytes: await reachableBytes(ctx, SESSION_REFS + s.id) });
    result.push({ store: dir, worktree: (await readIfExists(join(dir, WORKTREE_FILE))).trim(), bytes: await dirBytes(dir), sessions });
  }
  return result;
}

/** On-disk bytes of the objects reachable from a ref (objects shared with others counted too). */
async function reachableBytes(ctx: GitContext, ref: string): Promise<number> {
  const r = await runGit(ctx, ['rev-list', '--objects', '--disk-usage', ref], { okStatus: [0, 128, 129] });
  if (r.status === 0) return Number(r.stdout.toString('utf8').trim()) || 0;
  // git < 2.38: list the objects, then ask for their sizes.
  const list = await runGit(ctx, ['rev-list', '--objects', '--no-object-names', ref], { maxStdout: 512 * 1024 * 1024 });
  const sizes = await runGit(ctx, ['cat-file', '--batch-check=%(objectsize:disk)'], { input: list.stdout, maxStdout: 512 * 1024 * 1024 });
  return sizes.stdout.toString('utf8').split('\n').reduce((sum, l) => sum + (Number(l) || 0), 0);
}

/** Every store under the data directory (`snapshot/<project>/<worktree-hash>`). */
export async function allStores(): Promise<string[]> {
  const root = snapshotRoot();
  const out: string[] = [];
  for (const project of await readdir(root).catch(() => [] as string[])) {
    for (const hash of await readdir(join(root, project)).catch(() => [] as string[])) {
      if (/^[0-9a-f]{40}$/.test(hash)) out.push(join(root, project, hash));
    }
  }
  return out.sort();
}

async function dirBytes(dir: string): Promise<number> {
  let sum = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) sum += await dirBytes(p);
    else sum += await stat(p).then((s) => s.blocks * 512 || s.size, () => 0);
  }
  return sum;
}

export interface GcOptions extends StoreOptions {
  /** Also release sessions past the retention limits (oldest first). */
  force?: boolean;
  /** Prune every unreachable object now instead of after the grace period. */
  pruneNow?: boolean;
}

/** What gc did to one store. */
export interface GcReport {
  store: string;
  /** Leftovers of killed runs that were removed (paths relative to the store). */
  removed: string[];
  /** Sessions released because they were past the limits (only with `force`). */
  released: string[];
  bytesBefore: number;
  bytesAfter: number;
}

/** Leftover temporary files younger than this may belong to a git still writing them. */
const LEFTOVER_AGE_MS = 5 * 60 * 1000;

/**
 * Cleans the workspace's store (or all stores): removes leftovers of killed runs (stale
 * `*.lock`, `tmp_pack_*`, `tmp_obj_*` older than 5 minutes), then prunes snapshots no session
 * retains once older than `snapshot.retention.maxAgeDays` (default 7), or right away when the
 * store is over `snapshot.retention.maxBytes`. Retained trees are only dropped with `force`,
 * which releases sessions idle past maxAgeDays, then oldest-first until under maxBytes.
 */
export async function gc(worktree?: string, opts: GcOptions = {}): Promise<GcReport[]> {
  const opened = worktree ? await openStore(worktree, opts) : undefined;
  const targets = opened ? [{ dir: opened.dir, config: opts.config ?? loadConfig(opened.worktree) }] : (await allStores()).map((dir) => ({ dir, config: opts.config ?? loadConfig() }));
  const reports: GcReport[] = [];
  for (const { dir, config } of targets) {
    await checkStore(dir);
    reports.push(await withStoreLock(dir, config.snapshot.lockTimeoutMs, opts.onWait, async () => {
      await sealPending(dir, { timeoutMs: config.snapshot.lockTimeoutMs, onWait: opts.onWait });
      return gcStore(dir, config.snapshot.retention, opts);
    }));
  }
  // Leftovers outside the stores: turn locks and half-built stores of processes that died.
  const turnLocks = join(dataDir(), 'locks');
  for (const hash of opened ? [createHash('sha1').update(opened.worktree).digest('hex')] : await readdir(turnLocks).catch(() => [] as string[])) {
    const file = join(turnLocks, hash, LOCK_NAME);
    const holder = await readLock(file);
    if (holder && holderIsDead(holder)) {
      await rm(file, { force: true });
      reports[0]?.removed.push(file);
    }
  }
  // Track tickets (src/snapshot/ticket.ts) of workspaces or stores that are gone.
  const { pruneTrackTickets } = await import('./ticket.js');
  for (const dir of await pruneTrackTickets(opened?.worktree)) reports[0]?.removed.push(dir);
  for (const dir of opened ? [dirname(opened.dir)] : await readdir(snapshotRoot()).then((ps) => ps.map((p) => join(snapshotRoot(), p)), () => [] as string[])) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const m = /^[0-9a-f]{40}\.tmp-(\d+)-\d+$/.exec(name);
      if (m && holderIsDead({ pid: Number(m[1]), hostname: hostname(), started: 0 })) {
        await rm(join(dir, name), { recursive: true, force: true });
        reports[0]?.removed.push(join(dir, name));
      }
    }
  }
  return reports;
}

async function gcStore(dir: string, limits: { maxAgeDays: number; maxBytes: number }, opts: GcOptions): Promise<GcReport> {
  const ctx: GitContext = { gitDir: dir };
  const report: GcReport = { store: dir, removed: [], released: [], bytesBefore: await dirBytes(dir), bytesAfter: 0 };
  // With no other process working on the store, a temporary file of any age is a leftover.
  const quiet = (await processesUsing(dir)).length === 0;
  await removeLeftovers(dir, '', report.removed, quiet);
  report.removed.push(...(await cleanRestoreLeftovers(dir)));
  const now = Date.now();
  const ageMs = limits.maxAgeDays * 86_400_000;
  if (opts.force && limits.maxAgeDays > 0) {
    for (const s of await heldSessions(ctx)) {
      if (now - s.updated > ageMs) {
        await dropRefs(ctx, s.refs);
        report.released.push(s.id);
      }
    }
  }
  const grace = opts.pruneNow || limits.maxAgeDays === 0 ? 'now' : `${limits.maxAgeDays}.days.ago`;
  await runGit(ctx, ['gc', '--quiet', `--prune=${grace}`]);
  let bytes = await dirBytes(dir);
  if (limits.maxBytes > 0 && bytes > limits.maxBytes) {
    if (grace !== 'now') {
      await runGit(ctx, ['gc', '--quiet', '--prune=now']);
      bytes = await dirBytes(dir);
    }
    if (opts.force) {
      const sessions = (await heldSessions(ctx)).sort((a, b) => a.updated - b.updated);
      while (bytes > limits.maxBytes && sessions.length) {
        const s = sessions.shift()!;
        await dropRefs(ctx, s.refs);
        report.released.push(s.id);
        await runGit(ctx, ['gc', '--quiet', '--prune=now']);
        bytes = await dirBytes(dir);
      }
    }
  }
  report.bytesAfter = bytes;
  return report;
}

/**
 * Removes `*.lock` files and packed-refs.new (we hold the store lock, so no git of ours is
 * running), `tmp_*` files (any age when `quiet`: no process works on the store; else only old
 * ones) and a stale gc.pid.
 */
async function removeLeftovers(root: string, rel: string, removed: string[], quiet: boolean): Promise<void> {
  for (const e of await readdir(join(root, rel), { withFileTypes: true }).catch(() => [])) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    const p = join(root, r);
    if (e.isDirectory()) {
      await removeLeftovers(root, r, removed, quiet);
      continue;
    }
    if (r === LOCK_NAME) continue;
    const isLock = e.name.endsWith('.lock') || r === PACKED_REFS_NEW;
    const isTmp = /^tmp_(pack|obj|idx|rev|mtimes)_?/.test(e.name) || /^tmp_/.test(e.name);
    // A killed `git gc` leaves gc.pid; once its pid is reused, every later gc says "already running".
    const isGcPid = r === 'gc.pid' && quiet;
    if (!isLock && !isTmp && !isGcPid) continue;
    const st = await stat(p).catch(() => null);
    if (!st) continue;
    if (isTmp && !quiet && Date.now() - st.mtimeMs < LEFTOVER_AGE_MS) continue;
    await rm(p, { force: true });
    removed.push(r);
  }
}
