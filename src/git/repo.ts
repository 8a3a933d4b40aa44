import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { NotARepository, UnknownRevision, GitError } from '../errors.js';
import { gitText, runGit, type GitContext } from './run.js';
import { isObjectId } from './object-id.js';
import { knowObjectPlaces, OBJECT_PLACES } from './objects.js';

/** git's id of the empty tree (SHA-1 repositories). */
export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbe4904b';

/**
 * The repository around `dir` (or `gitDir` given explicitly), checked to exist. `trees`: revisions
 * the caller will resolve next (resolveTree); when they are full object ids, one git process
 * finds the repository and their trees together, and resolveTree then starts none.
 */
export async function openRepository(opts: { dir?: string; gitDir?: string; trees?: readonly string[] }): Promise<GitContext> {
  if (opts.gitDir) {
    const gitDir = resolve(opts.gitDir);
    if (!isDirectory(gitDir)) throw new NotARepository(gitDir);
    try {
      await gitText({ gitDir }, ['rev-parse', '--git-dir']);
    } catch {
      throw new NotARepository(gitDir);
    }
    return { gitDir };
  }
  const dir = resolve(opts.dir ?? process.cwd());
  if (!isDirectory(dir)) throw new NotARepository(dir);
  const ids = (opts.trees ?? []).filter((r) => isObjectId(r));
  if (ids.length) {
    // One git finds the repository, the ids' trees and where the objects are (objects.ts).
    // A failure here (an id not in the repository, no repository) is diagnosed below and by resolveTree.
    const r = await runGit({ cwd: dir }, ['rev-parse', '--absolute-git-dir', ...ids.map((id) => `${id}^{tree}`), ...OBJECT_PLACES, '--'], { okStatus: [0, 128] }).catch(() => undefined);
    // Printed: the git directory, the trees, the objects directory, any replace refs, then `--`.
    const lines = r && r.status === 0 ? r.stdout.toString('utf8').trim().split('\n') : [];
    const [gitDir, ...trees] = lines.splice(0, 1 + ids.length);
    if (gitDir && trees.length === ids.length && trees.every((t) => isObjectId(t)) && lines.at(-1) === '--' && lines.length >= 2) {
      ids.forEach((id, i) => remember(treeKey(gitDir, id), trees[i]!));
      const ctx = { gitDir, cwd: dir };
      knowObjectPlaces(ctx, lines.slice(0, -1));
      return ctx;
    }
  }
  try {
    const gitDir = await gitText({ cwd: dir }, ['rev-parse', '--absolute-git-dir']);
    return { gitDir, cwd: dir };
  } catch {
    throw new NotARepository(dir);
  }
}

/** Trees of full object ids already resolved, by repository: what an id names never changes. */
const knownTrees = new Map<string, string>();
const treeKey = (gitDir: string, id: string) => `${gitDir}\0${id}`;
function remember(key: string, tree: string): void {
  if (knownTrees.size >= 10_000) knownTrees.clear(); // a long-running server: bounded
  knownTrees.set(key, tree);
}

/** Resolves any tree-ish (commit, tag, tree id, `HEAD~2`) to a full tree id. */
export async function resolveTree(ctx: GitContext, rev: string): Promise<string> {
  if (rev === '' || rev.startsWith('-')) throw new UnknownRevision(rev);
  const known = ctx.gitDir && isObjectId(rev) ? knownTrees.get(treeKey(ctx.gitDir, rev)) : undefined;
  if (known) return known;
  try {
    const r = await runGit(ctx, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{tree}`], { okStatus: [0, 1] });
    const id = r.stdout.toString('utf8').trim();
    if (r.status !== 0 || !isObjectId(id)) throw new UnknownRevision(rev);
    if (ctx.gitDir && isObjectId(rev)) remember(treeKey(ctx.gitDir, rev), id);
    return id;
  } catch (e) {
    if (e instanceof GitError) throw new UnknownRevision(rev);
    throw e;
  }
}

/**
 * core.quotePath as git reads it where `ctx` runs (a repository's config, or only the user's
 * global config outside any repository): false keeps bytes above 0x7f in paths unquoted.
 */
export async function quotePathSetting(ctx: GitContext): Promise<boolean> {
  try {
    const r = await runGit(ctx, ['config', '--type=bool', '--get', 'core.quotePath'], { okStatus: [0, 1] });
    return r.stdout.toString('utf8').trim() !== 'false';
  } catch {
    return true; // a workspace that is gone, or unreadable config: git's default
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
