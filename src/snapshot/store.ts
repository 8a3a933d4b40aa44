import { createHash } from 'node:crypto';
import { lstat, mkdir, open, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { dataDir, loadConfig, snapshotRoot, type Config } from '../config.js';
import { runGit, type GitContext } from '../git/run.js';
import { isObjectId } from '../git/object-id.js';
import { StoreCorrupt, StoreMissing, WorkspaceNotADirectory, WorkspaceNotFound, WorkspaceTooBroad } from './errors.js';
import { withStoreLock, type WaitNotice } from './lock.js';
import { pendingBlobs, sealPending } from './pending.js';

/** Options shared by every store operation. */
export interface StoreOptions {
  /** Allow `/` or the home directory as a workspace. */
  force?: boolean;
  /** Told once when another process holds the store lock and we wait for it. */
  onWait?: WaitNotice;
  /** Configuration to use instead of loading it for the workspace. */
  config?: Config;
}

/** One workspace's shadow store, resolved. */
export interface Store {
  /** Real path of the workspace. */
  worktree: string;
  /** The shadow git directory. */
  dir: string;
  /** git context for the store with the workspace as work tree. */
  ctx: GitContext;
  config: Config;
}

/**
 * zlib level for blobs: 1 costs about a third of the time of git's default (6) on text while
 * still shrinking it ~3x (see docs/snapshot.md for the measurements).
 */
export const COMPRESSION = '1';

/** Settings every shadow repository carries (written at creation, re-checked on open). */
export const STORE_CONFIG: Readonly<Record<string, string>> = {
  'core.bare': 'false',
  'core.bigFileThreshold': '1m',
  'core.compression': COMPRESSION,
  'core.looseCompression': COMPRESSION,
  'pack.compression': COMPRESSION,
  'core.autocrlf': 'false',
  'core.safecrlf': 'false',
  'core.symlinks': 'true',
  'core.fsmonitor': 'false',
  'core.untrackedCache': 'false',
  // The index is the stat cache that lets an unchanged file cost one lstat. These keep git
  // comparing every stat field (ctime and inode too), whatever the user's global config says,
  // so an edit that keeps size and mtime is still seen (docs/snapshot.md, "Change detection").
  'core.trustctime': 'true',
  'core.checkStat': 'default',
  'core.ignoreStat': 'false',
  'core.splitIndex': 'false',
  'index.version': '4',
  'index.skipHash': 'false',
  'core.quotePath': 'false',
  'core.hooksPath': '/dev/null',
  'core.logAllRefUpdates': 'false',
  'gc.auto': '0',
  'gc.autoDetach': 'false',
  'gc.cruftPacks': 'true',
  'maintenance.auto': 'false',
  'add.ignoreErrors': 'false',
  'advice.addEmbeddedRepo': 'false',
  'snapline.version': '2',
};

/** The `snapline.version` line of a store whose settings are all of STORE_CONFIG. */
const CURRENT_VERSION_LINE = /^\s*version\s*=\s*2\s*$/m;

/** File in a store naming the workspace it belongs to (for du and gc over all stores). */
export const WORKTREE_FILE = 'snapline-worktree';

/** Attributes that keep snapshots byte-exact: no eol conversion, filters or encodings. */
const INFO_ATTRIBUTES = '* -text -eol -filter -ident -working-tree-encoding\n';

/**
 * The workspace a directory belongs to, as a real path: inside a git work tree its top level (a
 * command run from `repo/lib` still records the whole project), elsewhere the directory itself.
 * Relative paths, `.`, trailing slashes and symlinks all come out the same. Refuses missing paths,
 * non-directories, and `/` or the home directory unless forced; a work tree whose top level is `/`
 * or home (a dotfiles repository) does not widen a subdirectory to it.
 */
export async function resolveWorkspace(dir: string, force = false): Promise<string> {
  const abs = resolve(dir);
  let st;
  try {
    st = await stat(abs);
  } catch {
    throw new WorkspaceNotFound(abs);
  }
  if (!st.isDirectory()) throw new WorkspaceNotADirectory(abs);
  const real = await realpath(abs);
  const home = await realpath(homedir()).catch(() => homedir());
  const tooBroad = (p: string) => p === '/' || p === home;
  const top = await gitTopLevel(real);
  const workspace = top !== undefined && (top === real || !tooBroad(top)) ? top : real;
  if (!force && tooBroad(workspace)) throw new WorkspaceTooBroad(workspace);
  return workspace;
}

/** The real path of the top level of the git work tree around `dir`, if it is in one. */
async function gitTopLevel(dir: string): Promise<string | undefined> {
  // No git to start in the common cases (a workspace, once resolved, is resolved again by every
  // step of a turn): a directory holding .git is its own top level, and without a .git at or
  // above it git finds no work tree either (a bare repository has none).
  const dotGit = await nearestDotGit(dir);
  if (dotGit === undefined) return undefined;
  if (dotGit === join(dir, '.git')) return dir;
  try {
    // Read-only, optional locks off: the user's repository is never written.
    const r = await runGit({ cwd: dir, env: { GIT_OPTIONAL_LOCKS: '0' } }, ['rev-parse', '--show-toplevel'], { okStatus: [0, 128] });
    const top = r.stdout.toString('utf8').replace(/\n$/, '');
    if (r.status !== 0 || !isAbsolute(top)) return undefined;
    return await realpath(top);
  } catch {
    // Not a work tree (a .git directory, a broken .git file, an unsafe owner): the directory itself.
    return undefined;
  }
}

/** The nearest `.git` entry (directory or file) at `dir` or above it; undefined when there is none. */
export async function nearestDotGit(dir: string): Promise<string | undefined> {
  for (let d = dir; ; d = dirname(d)) {
    const candidate = join(d, '.git');
    if (await lstat(candidate).then(() => true, () => false)) return candidate;
    if (dirname(d) === d) return undefined;
  }
}

/**
 * Root commit of the git repository around `worktree`, or "global" outside a repository. The
 * roots of a commit never change, so they are cached per workspace under the HEAD commit they
 * were computed for: walking a long history (`rev-list`) is paid once per HEAD, not per call.
 */
export async function projectId(worktree: string): Promise<string> {
  const dotGit = await nearestDotGit(worktree);
  if (dotGit === undefined) return 'global';
  const head = await headCommit(dotGit).catch(() => undefined);
  if (head === null) return 'global'; // no commit yet: what `rev-list` would say, without starting it
  const cache = join(dataDir(), 'cache', 'project-id', createHash('sha1').update(worktree).digest('hex'));
  if (head !== undefined) {
    const [cachedHead, root] = (await readIfExists(cache)).trim().split(' ');
    if (cachedHead === head && root) return root;
  }
  // Read-only commands with optional locks off: the user's repository is never written.
  const ctx: GitContext = { cwd: worktree, env: { GIT_OPTIONAL_LOCKS: '0' } };
  let root = 'global';
  try {
    const r = await runGit(ctx, ['rev-list', '--max-parents=0', head ?? 'HEAD', '--'], { okStatus: [0, 128] });
    root = r.stdout.toString('utf8').split('\n').filter(isObjectId).sort()[0] ?? 'global';
  } catch {
    return 'global';
  }
  if (head !== undefined && root !== 'global') {
    // Written aside and renamed: a concurrent reader sees the old line or the new one.
    const tmp = `${cache}.${process.pid}`;
    await mkdir(dirname(cache), { recursive: true })
      .then(() => writeFile(tmp, `${head} ${root}\n`))
      .then(() => rename(tmp, cache))
      .catch(() => rm(tmp, { force: true }));
  }
  return root;
}

/**
 * The commit HEAD names, read from the files of a plain `.git` directory (HEAD, a loose ref or
 * packed-refs, streamed); null when HEAD names a branch with no commit yet. undefined for
 * anything else — a `.git` file (linked worktree, submodule), another ref storage — which then
 * goes to git.
 */
async function headCommit(dotGit: string): Promise<string | undefined | null> {
  if (!(await stat(dotGit)).isDirectory()) return undefined;
  const head = (await readIfExists(join(dotGit, 'HEAD'))).trim();
  if (isObjectId(head)) return head;
  const ref = /^ref: (refs\/[^\s]+)$/.exec(head)?.[1];
  if (ref === undefined || ref.split('/').some((c) => c === '..' || c === '.' || c === '')) return undefined;
  const loose = (await readIfExists(join(dotGit, ref))).trim();
  if (loose !== '') return isObjectId(loose) ? loose : undefined;
  if (!(await exists(join(dotGit, 'packed-refs')))) return (await exists(join(dotGit, 'reftable'))) || (await exists(join(dotGit, ref))) ? undefined : null;
  return packedRef(dotGit, ref);
}

/** The id `ref` has in a git directory's packed-refs (streamed: it can be long); undefined when not there. */
export async function packedRef(gitDir: string, ref: string): Promise<string | undefined> {
  const fh = await open(join(gitDir, 'packed-refs'), 'r').catch(() => undefined);
  if (!fh) return undefined;
  const { createInterface } = await import('node:readline');
  const lines = createInterface({ input: fh.createReadStream(), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      const [oid, name] = line.split(' ');
      if (name === ref && oid !== undefined && isObjectId(oid)) return oid;
    }
  } finally {
    lines.close();
    await fh.close().catch(() => undefined);
  }
  return undefined;
}

/** Directory of the shadow store for a workspace (already resolved to its real path). */
export async function storeDir(worktree: string): Promise<string> {
  const hash = createHash('sha1').update(worktree).digest('hex');
  return join(snapshotRoot(), await projectId(worktree), hash);
}

function contextFor(dir: string, worktree: string): GitContext {
  return { gitDir: dir, workTree: worktree, cwd: worktree, env: { GIT_INDEX_FILE: join(dir, 'index') } };
}

/**
 * The git context of a workspace's store (shadow git dir + the workspace as work tree), for
 * reading trees and diffs. Does not create the store.
 */
export async function storeContext(worktree: string, opts: { force?: boolean; onWait?: WaitNotice } = {}): Promise<GitContext> {
  const real = await resolveWorkspace(worktree, opts.force ?? true);
  const dir = await storeDir(real);
  // Whoever reads objects gets every blob a track left pending (docs/snapshot.md, "Big files").
  if ((await pendingBlobs(dir)).length > 0) await sealPending(dir, { timeoutMs: loadConfig(real).snapshot.lockTimeoutMs, onWait: opts.onWait });
  return contextFor(dir, real);
}

/** Checks the layout git needs; throws StoreCorrupt naming what is wrong. */
export async function checkStore(dir: string): Promise<void> {
  for (const [name, kind] of [['HEAD', 'file'], ['config', 'file'], ['objects', 'dir'], ['refs', 'dir']] as const) {
    const st = await stat(join(dir, name)).catch(() => null);
    if (!st) throw new StoreCorrupt(dir, `${name} is missing`);
    if (kind === 'dir' ? !st.isDirectory() : !st.isFile()) throw new StoreCorrupt(dir, `${name} is not a ${kind === 'dir' ? 'directory' : 'file'}`);
  }
}

/** Creates a shadow repository at `dir` (atomically: built aside, then renamed into place). */
export async function createStore(dir: string, worktree: string): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(tmp, { recursive: true });
  try {
    await runGit({}, ['init', '--quiet', '--bare', '--template=', tmp]);
    await writeStoreConfig(tmp);
    await mkdir(join(tmp, 'info'), { recursive: true });
    await writeFile(join(tmp, 'info', 'attributes'), INFO_ATTRIBUTES);
    await writeFile(join(tmp, WORKTREE_FILE), worktree + '\n');
    await rename(tmp, dir).catch(async (e: NodeJS.ErrnoException) => {
      // Another process created it first: theirs is as good as ours.
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
      await rm(tmp, { recursive: true, force: true });
    });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Resolves a workspace and its store, creating the store on first use when `create` is set.
 * A store that exists but is damaged is reported as StoreCorrupt.
 */
export async function openStore(worktree: string, opts: StoreOptions & { create?: boolean } = {}): Promise<Store> {
  const real = await resolveWorkspace(worktree, opts.force ?? false);
  const dir = await storeDir(real);
  const exists = await stat(dir).then(() => true, () => false);
  if (!exists) {
    if (!opts.create) throw new StoreMissing(real);
    await mkdir(join(dir, '..'), { recursive: true });
    await createStore(dir, real);
  }
  await checkStore(dir);
  await upgradeStore(dir);
  return { worktree: real, dir, ctx: contextFor(dir, real), config: opts.config ?? loadConfig(real) };
}

/**
 * Applies STORE_CONFIG to the config file `git init` just wrote, in one write: `git config`
 * would start a process per setting, and processes are what a first snapshot waits for. Any
 * line not in git's plain `key = value` form, or a value needing quotes, goes to git instead.
 */
async function writeStoreConfig(dir: string): Promise<void> {
  const file = join(dir, 'config');
  const sections = new Map<string, Map<string, string>>();
  let section: Map<string, string> | undefined;
  const plain = (v: string) => /^[A-Za-z0-9_./-]+$/.test(v);
  const viaGit = async () => {
    for (const [k, v] of Object.entries(STORE_CONFIG)) await runGit({ gitDir: dir }, ['config', k, v]);
  };
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    if (line.trim() === '') continue;
    const head = /^\[([a-z]+)\]$/.exec(line);
    const entry = /^\t([A-Za-z]+) = (\S+)$/.exec(line);
    if (head) sections.set(head[1]!, (section = sections.get(head[1]!) ?? new Map()));
    else if (entry && section && plain(entry[2]!)) section.set(entry[1]!.toLowerCase(), entry[2]!);
    else return viaGit();
  }
  for (const [key, value] of Object.entries(STORE_CONFIG)) {
    const [name, item, ...more] = key.split('.');
    if (!name || !item || more.length || !plain(value)) return viaGit();
    const entries = sections.get(name.toLowerCase()) ?? new Map<string, string>();
    sections.set(name.toLowerCase(), entries);
    entries.set(item.toLowerCase(), value);
  }
  const text = [...sections].map(([name, entries]) => `[${name}]\n${[...entries].map(([k, v]) => `\t${k} = ${v}\n`).join('')}`).join('');
  await writeFile(file, text);
}

/** Applies STORE_CONFIG to a store made by an older snapline (once: its version line says so). */
async function upgradeStore(dir: string): Promise<void> {
  if (CURRENT_VERSION_LINE.test(await readIfExists(join(dir, 'config')))) return;
  for (const [k, v] of Object.entries(STORE_CONFIG)) await runGit({ gitDir: dir }, ['config', k, v]);
}

/**
 * Runs `fn` on a workspace's store while holding its lock, every pending blob sealed first
 * (`seal: false` only for track, which reads no blob).
 */
export async function withStore<T>(worktree: string, opts: StoreOptions & { create?: boolean; seal?: boolean }, fn: (s: Store) => Promise<T>): Promise<T> {
  const store = await openStore(worktree, opts);
  const timeoutMs = store.config.snapshot.lockTimeoutMs;
  return withStoreLock(store.dir, timeoutMs, opts.onWait, async () => {
    if (opts.seal !== false) await sealPending(store.dir, { timeoutMs, onWait: opts.onWait });
    return fn(store);
  });
}

/** Contents of a file, or '' if it does not exist. */
export async function readIfExists(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

function exists(path: string): Promise<boolean> {
  return lstat(path).then(() => true, () => false);
}
