import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { NotARepository, UnknownRevision, GitError } from '../errors.js';
import { gitText, runGit, type GitContext } from './run.js';
import { isObjectId } from './object-id.js';

/** git's id of the empty tree (SHA-1 repositories). */
export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbe4904b';

/** The repository around `dir` (or `gitDir` given explicitly), checked to exist. */
export async function openRepository(opts: { dir?: string; gitDir?: string }): Promise<GitContext> {
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
  try {
    const gitDir = await gitText({ cwd: dir }, ['rev-parse', '--absolute-git-dir']);
    return { gitDir, cwd: dir };
  } catch {
    throw new NotARepository(dir);
  }
}

/** Resolves any tree-ish (commit, tag, tree id, `HEAD~2`) to a full tree id. */
export async function resolveTree(ctx: GitContext, rev: string): Promise<string> {
  if (rev === '' || rev.startsWith('-')) throw new UnknownRevision(rev);
  try {
    const r = await runGit(ctx, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{tree}`], { okStatus: [0, 1] });
    const id = r.stdout.toString('utf8').trim();
    if (r.status !== 0 || !isObjectId(id)) throw new UnknownRevision(rev);
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
