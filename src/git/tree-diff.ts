import { UnknownPath } from '../errors.js';
import { GitError } from '../errors.js';
import { decodePath } from './path-bytes.js';
import { gitRecords, runGit, spawnGit, type GitContext } from './run.js';

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
  if (fromTree === toTree) return changes;
  const sizes = sizeLookup(ctx);
  let meta: string[] | null = null;
  try {
    for await (const rec of gitRecords(ctx, ['diff-tree', '-r', '-z', '--no-renames', '--raw', '--full-index', fromTree, toTree, '--', ...paths.map(literal)])) {
      if (meta === null) {
        // ":100644 100644 <old> <new> M"
        meta = rec.toString('latin1').slice(1).split(' ');
        continue;
      }
      const [oldMode, newMode, oldOid, newOid, code] = meta as [string, string, string, string, string];
      meta = null;
      const path = decodePath(rec);
      const before = ZERO.test(oldMode) ? undefined : { mode: oldMode, oid: oldOid, size: 0 };
      const after = ZERO.test(newMode) ? undefined : { mode: newMode, oid: newOid, size: 0 };
      const status: ChangeStatus = code.startsWith('A') ? 'added' : code.startsWith('D') ? 'deleted' : 'modified';
      changes.push({ path, status, before, after });
      for (const side of [before, after]) if (side && side.mode !== '160000') sizes.ask(side); // gitlinks have no size
    }
  } catch (e) {
    sizes.abort();
    throw e;
  }
  await sizes.done();
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

/**
 * Sizes of blobs from one `cat-file --batch-check`, started beside the tree comparison and fed
 * as changes are listed, so its start costs no time of its own. `done` fills every asked side.
 */
function sizeLookup(ctx: GitContext): { ask(side: Side): void; done(): Promise<void>; abort(): void } {
  const args = ['cat-file', '--batch-check=%(objectname) %(objectsize)'];
  const child = spawnGit(ctx, args);
  const sides: Side[] = [];
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  child.stdin!.on('error', () => {
    /* git may exit before reading all input; its exit status tells what happened */
  });
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', (e) => reject(new GitError(args, null, e.message)));
    child.on('close', (code) => resolve(code ?? 128));
  });
  exited.catch(() => undefined); // reported by done(); an aborted lookup is not waited for
  return {
    abort() {
      child.kill('SIGKILL');
    },
    ask(side) {
      sides.push(side);
      child.stdin!.write(side.oid + '\n');
    },
    async done() {
      child.stdin!.end();
      const code = await exited;
      if (code !== 0) throw new GitError(args, code, Buffer.concat(err).toString('utf8'));
      const lines = Buffer.concat(out).toString('latin1').split('\n');
      sides.forEach((s, i) => {
        const m = /^\S+ (\d+)$/.exec(lines[i] ?? '');
        s.size = m ? Number(m[1]) : 0;
      });
    },
  };
}
