/**
 * Where a session's files and snapshots are on this machine. A session is at its recorded
 * directory when that directory exists here. One recorded on another machine (a shared session
 * database, snapshots through `snapshot.remote`), whose directory does not exist here, maps to
 * the clone of its repository you run from: the workspace around the current directory (or
 * --dir), when its project id (the repository's root commit) is the session's. Workspaces are
 * git top levels, so the clone's top level stands for the recorded directory. Sessions outside
 * a repository (project `global`) do not map.
 */
import { isAbsolute } from 'node:path';
import type { GitContext } from '../git/run.js';
import { isObjectId } from '../git/object-id.js';
import { WorkspaceNotFound } from '../snapshot/errors.js';
import { ensureTrees, publishSnapshots, type PublishOutcome } from '../snapshot/remote.js';
import { projectId, resolveWorkspace, storeContext } from '../snapshot/store.js';
import { CorruptRow, SessionElsewhere, SnapshotsMissing } from './errors.js';
import type { SessionInfo } from './store.js';

/**
 * The workspace a session belongs to on this machine. The row is checked like any external
 * input: a directory that is not absolute is a damaged row, and `/` or the home directory
 * (which `run` never records) is refused rather than snapshotted or restored. `here` (default:
 * the current directory) is where a clone of a session recorded elsewhere is looked for;
 * SessionElsewhere when there is none.
 */
export async function sessionWorkspace(s: SessionInfo, here: string = process.cwd()): Promise<string> {
  if (!isAbsolute(s.directory)) throw new CorruptRow('session', s.id, `directory '${s.directory}' is not an absolute path`);
  try {
    return await resolveWorkspace(s.directory, false);
  } catch (e) {
    if (!(e instanceof WorkspaceNotFound)) throw e;
  }
  if (s.projectID !== 'global') {
    const clone = await resolveWorkspace(here, false).catch(() => undefined);
    if (clone !== undefined && (await projectId(clone)) === s.projectID) return clone;
  }
  throw new SessionElsewhere(s.id, s.directory, s.projectID);
}

/**
 * The git context of the store holding a session's snapshots on this machine, with `trees`
 * present in it: fetched from `snapshot.remote` when missing (SnapshotNotOnRemote when the
 * remote lacks them too), SnapshotsMissing when there is no remote to ask.
 */
export async function sessionSnapshots(s: SessionInfo, trees: readonly (string | undefined)[], here?: string): Promise<{ worktree: string; ctx: GitContext }> {
  const worktree = await sessionWorkspace(s, here);
  return { worktree, ctx: await requireSnapshots(worktree, s.id, trees) };
}

/** requireSnapshots for a workspace already resolved: the store's context, with `trees` in it. */
export async function requireSnapshots(worktree: string, sessionId: string, trees: readonly (string | undefined)[]): Promise<GitContext> {
  const ids = [...new Set(trees.filter((t): t is string => typeof t === 'string'))];
  const bad = ids.find((t) => !isObjectId(t));
  if (bad !== undefined) throw new SnapshotsMissing(sessionId, bad, worktree);
  const missing = await ensureTrees(worktree, sessionId, ids);
  if (missing.length) throw new SnapshotsMissing(sessionId, missing[0]!, worktree);
  return storeContext(worktree);
}

/** Pushes a session's new snapshots to the remote, if one is configured (bounded wait; never throws). */
export function publish(worktree: string, onWarning?: (message: string) => void): Promise<PublishOutcome> {
  return publishSnapshots(worktree, { onWarning }).catch(() => 'failed' as const);
}
