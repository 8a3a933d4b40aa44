import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { rename, stat } from 'node:fs/promises';
import { gitRecords, runGit, spawnGit, type GitContext } from '../git/run.js';
import { GitError } from '../errors.js';
import { StoreMissing } from './errors.js';
import { withStoreLock } from './lock.js';
import { PENDING_DIR, sealPending } from './pending.js';
import { SESSION_REFS, sessionsIn } from './retention.js';
import { checkStore, createStore, resolveWorkspace, storeDir, type StoreOptions } from './store.js';
import { loadConfig } from '../config.js';

/** An object the store should hold intact but does not. */
export interface DamagedObject {
  oid: string;
  /** missing: not in the store; corrupt: present but unreadable or not matching its id. */
  kind: 'missing' | 'corrupt';
  /** The sessions whose snapshots reach the object, with those snapshot trees. */
  uses: { session: string; snapshots: string[] }[];
}

/** The health of a workspace's store, and what doctor did about it. */
export interface DoctorReport {
  store: string;
  ok: boolean;
  /** What is wrong beyond the objects listed in `damaged` (empty when ok). */
  problems: string[];
  /** Damaged objects (at most MAX_DAMAGED; `damagedTotal` counts them all). */
  damaged: DamagedObject[];
  damagedTotal: number;
  /** Where the broken store was moved when rebuilt. */
  movedTo?: string;
}

export interface DoctorOptions extends StoreOptions {
  /** Move a damaged store aside and start a new one. */
  rebuild?: boolean;
  /**
   * Snapshots that sessions name (from the session database): checked to be present, and
   * mapped to the objects they reach, besides what the store's session refs retain.
   */
  expected?: readonly { session: string; snapshots: readonly string[] }[];
}

/** Damaged objects listed in a report; more are counted (a wrecked store must not fill memory). */
export const MAX_DAMAGED = 1000;

/** Problem lines kept in a report. */
const MAX_PROBLEMS = 20;

const OID = '[0-9a-f]{40}(?:[0-9a-f]{24})?';

/**
 * Checks a workspace's store: its layout; then `git fsck --full`, which rehashes every object
 * (loose or packed) and walks everything reachable from the session refs (and the index), so an
 * overwritten, truncated or deleted object is found; then that every snapshot in `expected` is
 * present. Each damaged object is mapped to the session snapshots that reach it. With `rebuild`,
 * a broken store is moved aside (`<store>.broken-<time>`, kept for inspection) and a new empty
 * one is created; snapshots of the old store are no longer available to snapline.
 */
export async function doctor(worktree: string, opts: DoctorOptions = {}): Promise<DoctorReport> {
  const real = await resolveWorkspace(worktree, opts.force ?? false);
  const dir = await storeDir(real);
  if (!(await stat(dir).then(() => true, () => false))) throw new StoreMissing(real);
  const config = opts.config ?? loadConfig(real);
  const problems: string[] = [];
  const damage = new Damage();
  try {
    await checkStore(dir);
    const ctx: GitContext = { gitDir: dir };
    // Blobs a track left pending are checked as the objects they become (a copy whose content
    // is not its name is reported here).
    await sealPending(dir, { timeoutMs: config.snapshot.lockTimeoutMs, onWait: opts.onWait });
    await fsck(ctx, damage, problems);
    await checkExpected(ctx, opts.expected ?? [], damage, problems);
  } catch (e) {
    problems.push((e as Error).message);
  }
  const report: DoctorReport = { store: dir, ok: problems.length === 0 && damage.total === 0, problems: problems.slice(0, MAX_PROBLEMS), damaged: [], damagedTotal: damage.total };
  if (damage.total > 0) report.damaged = await mapUses({ gitDir: dir }, damage, opts.expected ?? [], report.problems);
  if (report.ok || !opts.rebuild) return report;
  // A damaged store may have an unreadable lock too; take it by the usual rules.
  await withStoreLock(dir, config.snapshot.lockTimeoutMs, opts.onWait, async () => {
    report.movedTo = `${dir}.broken-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(dir, report.movedTo);
  }).catch(async (e: NodeJS.ErrnoException) => {
    // The lock file vanished with the rename; anything else is a real failure.
    if (e.code !== 'ENOENT') throw e;
  });
  await createStore(dir, real);
  return report;
}

/** Damaged object ids found so far (the first MAX_DAMAGED kept), corrupt winning over missing. */
class Damage {
  readonly kinds = new Map<string, DamagedObject['kind']>();
  total = 0;
  add(oid: string, kind: DamagedObject['kind']): void {
    const had = this.kinds.get(oid);
    if (had === undefined) {
      this.total++;
      if (this.kinds.size >= MAX_DAMAGED) return;
    }
    if (had !== 'corrupt') this.kinds.set(oid, kind);
  }
}

/** True when `oid` is a pending copy of a track (pending.ts) or has become a loose object since. */
function pendingOrSealed(dir: string, oid: string): boolean {
  return existsSync(join(dir, PENDING_DIR, oid)) || existsSync(join(dir, 'objects', oid.slice(0, 2), oid.slice(2)));
}

/** The object id of a loose object path (`…/objects/ab/cdef…`). */
function oidOfPath(line: string): string | undefined {
  const m = new RegExp(`objects/([0-9a-f]{2})/([0-9a-f]{38}(?:[0-9a-f]{24})?)\\b`).exec(line);
  return m ? m[1]! + m[2]! : undefined;
}

/** What an fsck stdout line says is missing. */
function missingIn(line: string): string | undefined {
  return (new RegExp(`^missing \\w+ (${OID})`).exec(line) ?? new RegExp(`^\\s*to\\s+\\w+\\s+(${OID})`).exec(line))?.[1];
}

/** What an fsck stderr line says is corrupt: loose object paths, packed object ids, bad objects. */
function corruptIn(line: string): string | undefined {
  if (/hash-path mismatch|unable to unpack|bad sha1 file|garbage at end of loose object|sha1 mismatch|hash mismatch/.test(line)) {
    const fromPath = oidOfPath(line);
    if (fromPath) return fromPath;
  }
  const patterns = [
    `packed (${OID}) from .* is corrupt`,
    `CRC mismatch for object (${OID})`,
    `cannot unpack (${OID})`,
    `\\(expected (${OID})\\)`,
    `^error in \\w+ (${OID})`,
    `^error: (${OID}): `,
  ];
  for (const p of patterns) {
    const m = new RegExp(p).exec(line);
    if (m) return m[1];
  }
  return oidOfPath(line);
}

/**
 * Pack windows for fsck: by default git maps up to 1 GiB of a pack at a time, so checking a
 * store holding a 200 MiB blob peaked at 300 MiB RSS; with these it stays near 37 MiB
 * (measured in docs/snapshot.md), for about 15% more time.
 */
const FSCK_MEMORY: Readonly<Record<string, string>> = { 'core.packedGitWindowSize': '8m', 'core.packedGitLimit': '32m', 'core.deltaBaseCacheLimit': '8m' };

/** Runs `git fsck --full`, reading its output a line at a time (its listings can be long). */
async function fsck(ctx: GitContext, damage: Damage, problems: string[]): Promise<void> {
  const args = ['fsck', '--full', '--no-dangling', '--no-progress'];
  const child = spawnGit({ ...ctx, config: { ...ctx.config, ...FSCK_MEMORY } }, args);
  child.stdin!.end();
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', (e) => reject(new GitError(args, null, e.message)));
    child.on('close', (code) => resolve(code ?? 128));
  });
  const unexplained: string[] = [];
  const out = (async () => {
    for await (const line of createInterface({ input: child.stdout!, crlfDelay: Infinity })) {
      const oid = missingIn(line);
      // A blob a track staged while fsck ran (named by the index) is pending, not missing.
      if (oid) {
        if (!pendingOrSealed(ctx.gitDir!, oid)) damage.add(oid, 'missing');
      }
      else if (line.trim() && unexplained.length < MAX_PROBLEMS) unexplained.push(line.trim());
    }
  })();
  const err = (async () => {
    for await (const line of createInterface({ input: child.stderr!, crlfDelay: Infinity })) {
      if (!/^(error|fatal)/.test(line)) continue; // notices (an unborn HEAD) and warnings
      const oid = corruptIn(line);
      if (oid) damage.add(oid, 'corrupt');
      // inflate errors come with the object they belong to on the next line
      else if (!/inflate/.test(line) && unexplained.length < MAX_PROBLEMS) unexplained.push(line.trim());
    }
  })();
  const [status] = await Promise.all([exited, out, err]);
  if (status !== 0 && damage.total === 0 && unexplained.length === 0) problems.push(`git fsck exited with ${status}`);
  if (status !== 0 || damage.total > 0) problems.push(...unexplained);
}

/** Every snapshot the sessions name must be a tree in the store. */
async function checkExpected(ctx: GitContext, expected: DoctorOptions['expected'] & object, damage: Damage, problems: string[]): Promise<void> {
  const trees = [...new Set(expected.flatMap((e) => e.snapshots))];
  const valid = trees.filter((t) => new RegExp(`^${OID}$`).test(t));
  for (const t of trees) if (!valid.includes(t)) problems.push(`a session names snapshot '${t}', which is not an object id`);
  if (valid.length === 0) return;
  const r = await runGit(ctx, ['cat-file', '--batch-check=%(objecttype)'], { input: valid.join('\n') + '\n' });
  const types = r.stdout.toString('utf8').split('\n');
  valid.forEach((t, i) => {
    if (types[i] === `${t} missing`) damage.add(t, 'missing');
    else if (types[i] !== 'tree') problems.push(`snapshot ${t} is a ${types[i]}, not a tree`);
  });
}

/**
 * For each damaged object, the session snapshots that reach it: the snapshot trees each session
 * ref retains plus those the sessions name, each listed once with `ls-tree -r -t` (streamed;
 * only ids that are in the damaged set are kept).
 */
async function mapUses(ctx: GitContext, damage: Damage, expected: DoctorOptions['expected'] & object, problems: string[]): Promise<DamagedObject[]> {
  const bySession = new Map<string, Set<string>>();
  const snapshotsOf = (session: string) => bySession.get(session) ?? bySession.set(session, new Set()).get(session)!;
  for (const e of expected) for (const t of e.snapshots) snapshotsOf(e.session).add(t);
  for (const s of await sessionsIn(ctx).catch(() => [])) {
    const held = snapshotsOf(s.id);
    try {
      for await (const entry of treeEntries(ctx, `${SESSION_REFS}${s.id}^{tree}`, false)) held.add(entry);
    } catch (e) {
      problems.push(`session ${s.id}: its retained snapshots cannot be listed (${(e as Error).message})`);
    }
  }
  const reached = new Map<string, string[]>();
  for (const tree of new Set([...bySession.values()].flatMap((s) => [...s]))) {
    const hits: string[] = damage.kinds.has(tree) ? [tree] : [];
    if (hits.length === 0) {
      try {
        for await (const oid of treeEntries(ctx, tree, true)) if (damage.kinds.has(oid)) hits.push(oid);
      } catch (e) {
        // A damaged subtree was listed before git failed on it; anything else is worth saying.
        if (hits.length === 0) problems.push(`snapshot ${tree} cannot be read (${(e as Error).message})`);
      }
    }
    reached.set(tree, hits);
  }
  const uses = new Map<string, DamagedObject['uses']>();
  for (const [session, trees] of bySession) {
    for (const tree of [...trees].sort()) {
      for (const oid of reached.get(tree) ?? []) {
        const list = uses.get(oid) ?? uses.set(oid, []).get(oid)!;
        const use = list.find((u) => u.session === session) ?? (list.push({ session, snapshots: [] }), list[list.length - 1]!);
        use.snapshots.push(tree);
      }
    }
  }
  return [...damage.kinds].sort(([a], [b]) => (a < b ? -1 : 1)).map(([oid, kind]) => ({ oid, kind, uses: uses.get(oid) ?? [] }));
}

/** Object ids of a tree's entries (recursively, subtrees included, with `recursive`), streamed. */
async function* treeEntries(ctx: GitContext, tree: string, recursive: boolean): AsyncGenerator<string> {
  // "<mode> <type> <oid>\t<path>" records
  for await (const rec of gitRecords(ctx, ['ls-tree', ...(recursive ? ['-r', '-t'] : []), '-z', tree])) {
    const head = rec.subarray(0, rec.indexOf(9)).toString('latin1');
    const oid = head.slice(head.lastIndexOf(' ') + 1);
    if (oid) yield oid;
  }
}
