import { UnknownPath } from '../errors.js';
import { gitRecords, runGit, type GitContext } from './run.js';

export type ChangeStatus = 'added' | 'deleted' | 'modified';

/** One side of a changed path: its mode (octal string), blob id and size in bytes. */
export interface Side {
  mode: string;
  oid: string;
  size: number;
}

/** A path that differs between two trees. */
export interface TreeChange {
  path: string;
  status: ChangeStatus;
  before?: Side;
  after?: Side;
}

const ZERO = /^0+$/;

/**
 * Paths that differ between two trees (recursively, renames not detected), in git's order,
 * with modes, blob ids and sizes. `paths` limits the comparison like a git pathspec; a path
 * that names nothing in either tree is an error.
 */
export async function changedPaths(ctx: GitContext, fromTree: string, toTree: string, paths: readonly string[] = []): Promise<TreeChange[]> {
  if (paths.length) await checkPathsExist(ctx, [fromTree, toTree], paths);
  const changes: TreeChange[] = [];
  let meta: string[] | null = null;
  for await (const rec of gitRecords(ctx, ['diff-tree', '-r', '-z', '--no-renames', '--raw', '--full-index', fromTree, toTree, '--', ...paths.map(literal)])) {
    if (meta === null) {
      // ":100644 100644 <old> <new> M"
      meta = rec.toString('latin1').slice(1).split(' ');
      continue;
    }
    const [oldMode, newMode, oldOid, newOid, code] = meta as [string, string, string, string, string];
    meta = null;
    const path = rec.toString('utf8');
    const before = ZERO.test(oldMode) ? undefined : { mode: oldMode, oid: oldOid, size: 0 };
    const after = ZERO.test(newMode) ? undefined : { mode: newMode, oid: newOid, size: 0 };
    const status: ChangeStatus = code.startsWith('A') ? 'added' : code.startsWith('D') ? 'deleted' : 'modified';
    changes.push({ path, status, before, after });
  }
  await fillSizes(ctx, changes);
  return changes;
}

/** Pathspecs taken literally, so `*` or `:` in a file name means itself. */
function literal(p: string): string {
  return `:(literal)${p}`;
}

async function checkPathsExist(ctx: GitContext, trees: string[], paths: readonly string[]): Promise<void> {
  for (const p of paths) {
    let found = false;
    for (const t of trees) {
      const r = await runGit(ctx, ['ls-tree', '--name-only', t, '--', literal(p)]);
      if (r.stdout.length > 0) {
        found = true;
        break;
      }
    }
    if (!found) throw new UnknownPath(p);
  }
}

/** Sizes of all blobs in one `cat-file --batch-check` run (gitlinks have none). */
async function fillSizes(ctx: GitContext, changes: TreeChange[]): Promise<void> {
  const sides: Side[] = [];
  for (const c of changes) {
    for (const s of [c.before, c.after]) if (s && s.mode !== '160000') sides.push(s);
  }
  if (sides.length === 0) return;
  const input = sides.map((s) => s.oid).join('\n') + '\n';
  const out = (await runGit(ctx, ['cat-file', '--batch-check=%(objectname) %(objectsize)'], { input })).stdout.toString('latin1').split('\n');
  sides.forEach((s, i) => {
    const m = /^\S+ (\d+)$/.exec(out[i] ?? '');
    s.size = m ? Number(m[1]) : 0;
  });
}
