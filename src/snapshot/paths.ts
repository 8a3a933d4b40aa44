import { isAbsolute, relative, resolve, sep } from 'node:path';
import { PathOutsideWorkspace } from './errors.js';

/**
 * A path the user typed, as the workspace-relative `a/b` path snapshots use. Like git: from a
 * current directory inside the workspace, relative paths start there; from outside it, they
 * start at the workspace root. Absolute paths must lie inside the workspace. Anything that
 * resolves outside the workspace (`..`, another absolute path), the workspace itself, or a path
 * in `.git` is PathOutsideWorkspace naming the path and the workspace.
 */
export function workspacePath(worktree: string, path: string, cwd: string = process.cwd()): string {
  const root = resolve(worktree);
  if (path === '') throw new PathOutsideWorkspace(path, `an empty path names nothing in the workspace ${root}`);
  const here = resolve(cwd);
  const base = here === root || here.startsWith(root + sep) ? here : root;
  const abs = resolve(base, path);
  const rel = relative(root, abs);
  if (rel === '' || rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel)) {
    throw new PathOutsideWorkspace(path, rel === '' ? `it is the workspace ${root} itself, not a path in it` : `it is outside the workspace ${root}`);
  }
  const parts = rel.split(sep);
  if (parts.some((p) => p.toLowerCase() === '.git')) throw new PathOutsideWorkspace(path, 'snapshots never contain .git directories');
  return parts.join('/');
}
