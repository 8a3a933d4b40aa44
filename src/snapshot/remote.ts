/**
 * Snapshots through a git remote (`snapshot.remote`): sessions' refs pushed to the remote, and
 * fetched back on demand by a store on another machine that needs their trees.
 *
 * Refs, on the remote: `refs/snapline/<session>/<origin>` — one per store that recorded for the
 * session (`origin` names the store: its host and a random tag), so two machines never
 * overwrite each other's ref. In a store: `refs/snapline/sessions/<session>` (what the session
 * keeps here, see retention.ts), `refs/snapline/remote/<session>/<origin>` (the remote's refs
 * as last pushed or fetched: they keep fetched trees alive here too), and
 * `refs/snapline/release/<session>` (a session released here whose remote refs are still to
 * be deleted). A push is pending while a session's ref differs from its remote copy.
 *
 * git push and fetch stream objects between the stores: nothing here reads an object.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_MAIN } from '../background.js';
import { SnaplineError, UsageError } from '../errors.js';
import { gitText, runGit, STREAMING_GIT, type GitContext } from '../git/run.js';
import { loadConfig } from '../config.js';
import { SnapshotNotOnRemote, StoreMissing } from './errors.js';
import { openStore, readIfExists, resolveWorkspace, withStore, type Store, type StoreOptions } from './store.js';
import { sealPending } from './pending.js';

/** The remote's name in every shadow store's config. */
const REMOTE = 'snapline';
/** A store's copies of the remote's refs. */
export const REMOTE_REFS = 'refs/snapline/remote/';
/** Sessions released in a store whose remote refs are still to be deleted. */
export const RELEASE_REFS = 'refs/snapline/release/';
const LOCAL_SESSION_REFS = 'refs/snapline/sessions/';
/** Names under refs/snapline/ a store uses itself: a session id equal to one could not have remote refs. */
const RESERVED = new Set(['sessions', 'remote', 'release']);
/** Present in a store while pushes to the remote fail (holds the error): the warning is given once. */
const FAILING_FILE = 'snapline-remote-failing';
/** The line FAILING_FILE gets once the user has been told. */
const WARNED = 'told';
/** Output of the last background sync of a store. */
export const SYNC_LOG = 'snapline-sync.log';
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/**
 * git settings for the pack-objects and index-pack a push or fetch runs (ours, and a local
 * remote's receive-pack / upload-pack): the reader's small pack windows (by default git maps up
 * to 1 GiB of a pack at a time, and every page a big blob's copy touches counts as resident: a
 * 224 MiB turn's push had pack-objects at 64 MiB), one delta-search thread with a bounded window
 * and delta cache (big blobs are never delta-searched: core.bigFileThreshold), one index-pack
 * thread.
 */
const PACK_MEMORY: Readonly<Record<string, string>> = {
  ...STREAMING_GIT,
  'pack.threads': '1',
  'pack.windowMemory': '16m',
  'pack.deltaCacheSize': '8m',
};

/** `ctx` with PACK_MEMORY's settings. */
function packing(ctx: GitContext): GitContext {
  return { ...ctx, config: { ...(ctx.config ?? {}), ...PACK_MEMORY } };
}

/** PACK_MEMORY as `-c` options of a command line. */
const PACK_MEMORY_ARGS = Object.entries(PACK_MEMORY)
  .map(([k, v]) => `-c ${k}=${v}`)
  .join(' ');

/** What a push or pull did. */
export interface SyncReport {
  remote: string;
  /** Sessions whose refs were pushed. */
  pushed: string[];
  /** Sessions whose remote refs were deleted (released here). */
  deleted: string[];
  /** Sessions whose refs were fetched. */
  fetched: string[];
  /** Sessions whose push failed, with git's reason. */
  failed: { session: string; message: string }[];
}

/** The configured remote of a store, or a UsageError saying how to set one. */
function remoteOf(store: Store): string {
  const url = store.config.snapshot.remote;
  if (!url) throw new UsageError(`no snapshot remote configured for ${store.worktree}: set "snapshot": {"remote": URL} in snapline.json or the user config`);
  return url;
}

function checkSessionId(id: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/.test(id) || id.includes('..') || id.endsWith('.lock') || RESERVED.has(id)) {
    throw new UsageError(`invalid session id '${id}' for a remote ref`);
  }
}

/**
 * Points the store's remote at `url` (written when it differs) and returns the store's origin
 * name, made on first use: the host name (ref-safe) and a random tag.
 */
async function configureRemote(ctx: GitContext, url: string): Promise<string> {
  const get = async (key: string) => (await runGit(ctx, ['config', '--get', key], { okStatus: [0, 1] })).stdout.toString('utf8').trim();
  if ((await get(`remote.${REMOTE}.url`)) !== url) await runGit(ctx, ['config', `remote.${REMOTE}.url`, url]);
  const fetchSpec = `+refs/snapline/*:${REMOTE_REFS}*`;
  if ((await get(`remote.${REMOTE}.fetch`)) !== fetchSpec) await runGit(ctx, ['config', `remote.${REMOTE}.fetch`, fetchSpec]);
  // A remote on this machine runs its git as our child (without our -c settings: git clears them
  // for a local transport): give it the store's streaming settings (big blobs stored and sent
  // undeltified, small pack windows, packs kept rather than exploded into loose objects), so its
  // memory stays flat too. A server's own settings are its administrator's.
  const local = isLocalUrl(url);
  for (const [key, value] of [
    [`remote.${REMOTE}.receivepack`, local ? `git ${PACK_MEMORY_ARGS} -c receive.unpackLimit=1 receive-pack` : ''],
    [`remote.${REMOTE}.uploadpack`, local ? `git ${PACK_MEMORY_ARGS} upload-pack` : ''],
  ] as const) {
    if ((await get(key)) === value) continue;
    if (value) await runGit(ctx, ['config', key, value]);
    else await runGit(ctx, ['config', '--unset', key], { okStatus: [0, 5] });
  }
  let origin = await get('snapline.origin');
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(origin)) {
    const host = hostname().replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^[-_]+/, '').slice(0, 40) || 'host';
    origin = `${host}-${randomBytes(4).toString('hex')}`;
    await runGit(ctx, ['config', 'snapline.origin', origin]);
  }
  return origin;
}

/** A path or file:// URL (git's rule: no scheme, and no `host:` before the first slash). */
function isLocalUrl(url: string): boolean {
  if (url.startsWith('file://')) return true;
  return !url.includes('://') && !/^[^/]*:/.test(url);
}

/** The store's refs under refs/snapline/, as name → object id. */
async function snaplineRefs(ctx: GitContext): Promise<Map<string, string>> {
  const out = await gitText(ctx, ['for-each-ref', '--format=%(objectname) %(refname)', 'refs/snapline/']);
  const refs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf(' ');
    if (i > 0) refs.set(line.slice(i + 1), line.slice(0, i));
  }
  return refs;
}

/**
 * Pushes what the remote lacks: each session whose ref here differs from its remote copy (all,
 * or only `sessions`), and the deletion of the remote refs of sessions released here. Objects
 * stream through `git push`; the store lock is held only to configure the remote, so turns go
 * on meanwhile. A failure of git (remote unreachable, refused) is thrown; one refused ref is
 * reported in `failed`.
 */
export async function pushSnapshots(worktree: string, opts: StoreOptions & { sessions?: readonly string[] } = {}): Promise<SyncReport> {
  const store = await openStore(worktree, opts);
  const url = remoteOf(store);
  const ctx = store.ctx;
  const origin = await withStore(worktree, opts, () => configureRemote(ctx, url));
  const report: SyncReport = { remote: url, pushed: [], deleted: [], fetched: [], failed: [] };
  try {
    const refs = await snaplineRefs(ctx);
    // Every blob of the trees these refs name is an object or a pending copy by now (a step
    // retains its tree after its track): sealed, the push finds them all.
    await sealPending(store.dir, { timeoutMs: store.config.snapshot.lockTimeoutMs, onWait: opts.onWait });
    const wanted = opts.sessions ? new Set(opts.sessions) : undefined;
    const specs: string[] = [];
    const bySpec = new Map<string, string>();
    for (const [ref, oid] of refs) {
      if (!ref.startsWith(LOCAL_SESSION_REFS)) continue;
      const sid = ref.slice(LOCAL_SESSION_REFS.length);
      if (RESERVED.has(sid) || (wanted && !wanted.has(sid))) continue;
      if (refs.get(`${REMOTE_REFS}${sid}/${origin}`) === oid) continue;
      const spec = `+${ref}:refs/snapline/${sid}/${origin}`;
      specs.push(spec);
      bySpec.set(`${ref}:refs/snapline/${sid}/${origin}`, sid);
    }
    if (specs.length) {
      const r = await runGit(packing(ctx), ['push', '--porcelain', '--no-verify', REMOTE, ...specs], { okStatus: [0, 1, 128] });
      const seen = porcelain(r.stdout.toString('utf8'));
      for (const [spec, sid] of bySpec) {
        const line = seen.get(spec);
        if (line && line.ok) report.pushed.push(sid);
        else report.failed.push({ session: sid, message: line?.summary ?? (r.stderr.trim().split('\n').pop() || 'not pushed') });
      }
      if (r.status !== 0 && seen.size === 0) throw new RemoteFailed(url, r.stderr);
    }
    for (const ref of refs.keys()) {
      if (!ref.startsWith(RELEASE_REFS)) continue;
      const sid = ref.slice(RELEASE_REFS.length);
      if (wanted && !wanted.has(sid)) continue;
      const listed = (await remoteGit(ctx, url, ['ls-remote', '--refs', REMOTE, `refs/snapline/${sid}/*`])).trim();
      const remoteRefs = listed.split('\n').map((l) => l.split('\t')[1]).filter((r): r is string => r !== undefined && r.startsWith(`refs/snapline/${sid}/`));
      if (remoteRefs.length) await remoteGit(ctx, url, ['push', '--porcelain', '--no-verify', REMOTE, ...remoteRefs.map((r) => `:${r}`)]);
      await deleteRefs(ctx, [ref, ...[...refs.keys()].filter((r) => r.startsWith(`${REMOTE_REFS}${sid}/`))]);
      report.deleted.push(sid);
    }
  } catch (e) {
    await writeFile(join(store.dir, FAILING_FILE), (e instanceof Error ? e.message : String(e)).split('\n')[0] + '\n', { flag: 'wx' }).catch(() => undefined);
    throw e;
  }
  await rm(join(store.dir, FAILING_FILE), { force: true });
  return report;
}

/** git push --porcelain lines, by "src:dst": ok unless flagged `!` (rejected or failed). */
function porcelain(out: string): Map<string, { ok: boolean; summary: string }> {
  const seen = new Map<string, { ok: boolean; summary: string }>();
  for (const line of out.split('\n')) {
    const m = /^(.)\t([^\t]+)\t(.*)$/.exec(line);
    if (m) seen.set(m[2]!, { ok: m[1] !== '!', summary: m[3]! });
  }
  return seen;
}

/** A push or fetch that failed as a whole (remote unreachable, not a repository, refused). */
export class RemoteFailed extends SnaplineError {
  constructor(url: string, stderr: string) {
    const why = stderr.trim().split('\n').filter((l) => l.trim() !== '').pop() ?? 'git failed';
    super('remote-failed', `snapshot remote ${url}: ${why.replace(/^(fatal|error): /, '')}`);
  }
}

/** Runs a git command that talks to the remote; any failure is RemoteFailed with git's reason. */
async function remoteGit(ctx: GitContext, url: string, args: string[]): Promise<string> {
  const r = await runGit(ctx, args, { okStatus: [0, 1, 128] });
  if (r.status !== 0) throw new RemoteFailed(url, r.stderr);
  return r.stdout.toString('utf8');
}

async function deleteRefs(ctx: GitContext, refs: readonly string[]): Promise<void> {
  if (refs.length === 0) return;
  await runGit(ctx, ['update-ref', '--stdin'], { input: refs.map((r) => `delete ${r}\n`).join('') });
}

/**
 * Fetches the remote refs of `sessions` (every store's) into the workspace's store, creating
 * the store on first use; refs deleted on the remote are dropped here. Objects stream from the
 * remote into the store's packs.
 */
export async function fetchSnapshots(worktree: string, sessions: readonly string[], opts: StoreOptions = {}): Promise<SyncReport> {
  const store = await openStore(worktree, { ...opts, create: true });
  const url = remoteOf(store);
  for (const sid of sessions) checkSessionId(sid);
  const report: SyncReport = { remote: url, pushed: [], deleted: [], fetched: [], failed: [] };
  if (sessions.length === 0) return report;
  await withStore(worktree, opts, async ({ ctx }) => {
    await configureRemote(ctx, url);
    const specs = sessions.map((sid) => `+refs/snapline/${sid}/*:${REMOTE_REFS}${sid}/*`);
    await remoteGit(packing(ctx), url, ['fetch', '--quiet', '--no-tags', '--prune', '--no-write-fetch-head', REMOTE, ...specs]);
  });
  report.fetched.push(...sessions);
  return report;
}

/**
 * The ids among `trees` the workspace's store does not hold; with a remote configured, the
 * session's refs are fetched first when any is missing. Throws SnapshotNotOnRemote when a tree
 * is on neither (or the remote cannot be reached). Without a remote, returns the missing ids
 * for the caller to report.
 */
export async function ensureTrees(worktree: string, sessionId: string, trees: readonly string[], opts: StoreOptions = {}): Promise<string[]> {
  const ids = [...new Set(trees)];
  if (ids.length === 0) return [];
  const config = opts.config ?? loadConfig(await resolveWorkspace(worktree, opts.force ?? true));
  // A store is made only to receive a remote's snapshots; without a remote, a missing store holds nothing.
  const store = await openStore(worktree, { ...opts, force: opts.force ?? true, config, create: Boolean(config.snapshot.remote) }).catch((e: unknown) => {
    if (e instanceof StoreMissing) return undefined;
    throw e;
  });
  if (!store) return ids;
  let missing = await missingTrees(store.ctx, ids);
  const url = store.config.snapshot.remote;
  if (missing.length === 0 || !url) return missing;
  try {
    await fetchSnapshots(store.worktree, [sessionId], { ...opts, config: store.config });
  } catch (e) {
    throw new SnapshotNotOnRemote(missing[0]!, url, e instanceof Error ? e.message : String(e));
  }
  missing = await missingTrees(store.ctx, missing);
  if (missing.length) throw new SnapshotNotOnRemote(missing[0]!, url);
  return [];
}

/** The ids among `ids` that are not trees in the store. */
async function missingTrees(ctx: GitContext, ids: readonly string[]): Promise<string[]> {
  const r = await runGit(ctx, ['cat-file', '--batch-check=%(objecttype)'], { input: ids.join('\n') + '\n' });
  const types = r.stdout.toString('utf8').split('\n');
  return ids.filter((_, i) => types[i] !== 'tree');
}

/**
 * Deletes a session's refs (every store's) on the remote at `url` from a machine with no store
 * for it (no clone of its repository here): through a temporary empty repository, since git
 * pushes only from one — deleting refs sends no objects. Returns how many were deleted;
 * RemoteFailed when the remote cannot be reached or refuses.
 */
export async function deleteRemoteSession(url: string, sessionId: string): Promise<number> {
  checkSessionId(sessionId);
  const tmp = await mkdtemp(join(tmpdir(), 'snapline-release-'));
  try {
    const ctx: GitContext = { gitDir: tmp };
    await runGit({}, ['init', '-q', '--bare', tmp]);
    const listed = await remoteGit(ctx, url, ['ls-remote', '--refs', url, `refs/snapline/${sessionId}/*`]);
    const found = listed.split('\n').map((l) => l.split('\t')[1]).filter((r): r is string => r !== undefined && r.startsWith(`refs/snapline/${sessionId}/`));
    if (found.length) await remoteGit(ctx, url, ['push', '--porcelain', '--no-verify', url, ...found.map((r) => `:${r}`)]);
    return found.length;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * When a session is released in a store (the caller holds its lock): drops the store's copies
 * of its remote refs and, with a remote configured, records that the refs on the remote are to
 * be deleted (the next push does it). Returns how many copies were dropped.
 */
export async function markReleased(store: Store, sessionId: string): Promise<number> {
  const ctx = store.ctx;
  const copies = [...(await snaplineRefs(ctx)).keys()].filter((r) => r.startsWith(`${REMOTE_REFS}${sessionId}/`));
  if (store.config.snapshot.remote && !RESERVED.has(sessionId)) {
    await runGit(ctx, ['hash-object', '-t', 'tree', '-w', '--stdin'], { input: '' });
    await runGit(ctx, ['update-ref', RELEASE_REFS + sessionId, EMPTY_TREE]);
  }
  await deleteRefs(ctx, copies);
  return copies.length;
}

/** How a push after a turn went. */
export type PublishOutcome = 'pushed' | 'background' | 'failed' | 'off';


/**
 * Pushes the workspace's pending snapshots (`snapline sync --push` in a detached process),
 * waiting for it at most `snapshot.pushWaitMs`; past that it goes on in the background and a
 * later sync finishes what it could not. Never throws: a failing remote is told to `onWarning`
 * once (until a push succeeds again), and its snapshots stay pending.
 */
export async function publishSnapshots(worktree: string, opts: StoreOptions & { onWarning?: (message: string) => void } = {}): Promise<PublishOutcome> {
  let store: Store;
  try {
    // Without a remote (most users) no store is opened: this runs after every turn.
    if (!(opts.config ?? loadConfig(worktree)).snapshot.remote) return 'off';
    store = await openStore(worktree, opts);
  } catch {
    return 'off';
  }
  const url = store.config.snapshot.remote;
  if (!url) return 'off';
  let log: number;
  try {
    log = openSync(join(store.dir, SYNC_LOG), 'w');
  } catch {
    return 'failed';
  }
  let child;
  try {
    child = spawn(process.execPath, [CLI_MAIN, 'sync', '--push', '--dir', store.worktree], { detached: true, stdio: ['ignore', log, log], env: process.env });
  } finally {
    closeSync(log);
  }
  const exited = new Promise<number>((resolve) => {
    child.once('error', () => resolve(-1));
    child.once('exit', (code) => resolve(code ?? -1));
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), store.config.snapshot.pushWaitMs);
  });
  const first = await Promise.race([exited, timeout]);
  clearTimeout(timer);
  if (first === 0) return 'pushed';
  if (first === 'timeout') child.unref();
  // Told once per outage: pushSnapshots keeps the first error in FAILING_FILE until a push works.
  const failing = join(store.dir, FAILING_FILE);
  const state = await readIfExists(failing);
  if (first !== 'timeout' || state !== '') {
    if (!state.split('\n').includes(WARNED)) {
      const why = state.trim() || (await readIfExists(join(store.dir, SYNC_LOG))).trim().split('\n').pop() || 'push failed';
      await writeFile(failing, `${why}\n${WARNED}\n`).catch(() => undefined);
      opts.onWarning?.(`snapshots not pushed to ${url} (${why.replace(/^snapline: /, '').replace(`snapshot remote ${url}: `, '')}); they stay pending: 'snapline sync --push' sends them`);
    }
  }
  return first === 'timeout' ? 'background' : 'failed';
}
