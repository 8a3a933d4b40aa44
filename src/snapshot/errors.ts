import { SnaplineError } from '../errors.js';

/** The workspace given does not exist. */
export class WorkspaceNotFound extends SnaplineError {
  constructor(path: string) {
    super('workspace-not-found', `no such directory: ${path} (check --dir)`, 2);
  }
}

/** The workspace given exists but is not a directory. */
export class WorkspaceNotADirectory extends SnaplineError {
  constructor(path: string) {
    super('workspace-not-a-directory', `not a directory: ${path} (--dir must name the workspace directory)`, 2);
  }
}

/** Snapshotting `/` or the home directory is almost always a mistake. */
export class WorkspaceTooBroad extends SnaplineError {
  constructor(path: string) {
    super('workspace-too-broad', `refusing to snapshot ${path}: it is the root or home directory (pass --force if you mean it)`, 2);
  }
}

/** The shadow store exists but git cannot use it. */
export class StoreCorrupt extends SnaplineError {
  constructor(path: string, detail: string) {
    super('store-corrupt', `snapshot store ${path} is damaged (${detail}); run 'snapline snapshot doctor --rebuild' to set it aside and start a new one`);
  }
}

/** Nothing was ever tracked in this workspace, so it has no store. */
export class StoreMissing extends SnaplineError {
  constructor(worktree: string) {
    super('store-missing', `no snapshots for ${worktree} yet (run 'snapline snapshot track --dir ${worktree}' first)`, 2);
  }
}

/** Another process holds the store's lock and did not release it in time. */
export class StoreLocked extends SnaplineError {
  /** Who holds the lock ("pid N on HOST"), and how long we waited for it. */
  readonly holder: string;
  readonly waitedMs: number;
  constructor(path: string, holder: string, waitedMs: number) {
    super('store-locked', `snapshot store ${path} is locked by ${holder}; gave up after ${waitedMs} ms (raise snapshot.lockTimeoutMs or stop that process)`);
    this.holder = holder;
    this.waitedMs = waitedMs;
  }
}

/** `git add`/`write-tree` failed: no tree is returned, because a stale one would lose data. */
export class StagingFailed extends SnaplineError {
  constructor(detail: string) {
    super('staging-failed', `snapshot failed, nothing recorded: ${detail}`);
  }
}

/** A tree id that the workspace's store does not hold. */
export class UnknownSnapshot extends SnaplineError {
  constructor(tree: string) {
    super('unknown-snapshot', `no snapshot ${tree} in this workspace's store (ids come from 'snapline snapshot track')`, 2);
  }
}

/** A restore path that is absolute, climbs out with `..`, or leads outside through a symlink. */
export class PathOutsideWorkspace extends SnaplineError {
  constructor(path: string, why: string) {
    super('path-outside-workspace', `refusing path '${path}': ${why}; nothing was written`, 2);
  }
}

/** restore could not put a path into the snapshot's state (for example a directory holding other files). */
export class RestoreFailed extends SnaplineError {
  constructor(path: string, detail: string) {
    super('restore-failed', `could not restore '${path}': ${detail}`);
  }
}

/** A snapshot a session names is in neither the local store nor the snapshot remote. */
export class SnapshotNotOnRemote extends SnaplineError {
  constructor(tree: string, remote: string, fetchError?: string) {
    super('snapshot-not-on-remote', `snapshot ${tree} not found locally or on remote ${remote}${fetchError ? ` (fetch failed: ${fetchError})` : " (the machine that recorded it may not have pushed it yet: 'snapline sync --push' there)"}`);
  }
}
