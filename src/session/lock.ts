import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { dataDir, loadConfig } from '../config.js';
import { StoreLocked } from '../snapshot/errors.js';
import { withLock, type WaitNotice } from '../snapshot/lock.js';
import { WorkspaceBusy } from './errors.js';

/** How a turn, revert or delete waits for a busy workspace. */
export interface TurnLockOptions {
  /** Give up after this many seconds (default: the workspace's session.waitSeconds). */
  waitSeconds?: number;
  /** Told who holds the workspace, at once and every `noticeEveryMs` (default 10 s) while waiting. */
  onWait?: WaitNotice;
  noticeEveryMs?: number;
  /** What this process does while holding the workspace, told to whoever waits for it. */
  what?: string;
}

/** The directory of a workspace's turn lock; the lock file in it exists while someone holds the lock. */
export function turnLockDir(worktree: string): string {
  return join(dataDir(), 'locks', createHash('sha1').update(worktree).digest('hex'));
}

/**
 * Runs `fn` holding the workspace's turn lock (`<dataDir>/locks/<sha1(worktree)>/snapline.lock`):
 * turns, reverts and deletes of sessions in one workspace run one at a time, for their whole
 * duration. It is separate from the snapshot store's lock, which track/restore/retain take
 * for each of their own steps (bounded by snapshot.lockTimeoutMs). A lock left by a dead process
 * is taken over. A live holder is waited for up to `waitSeconds` — agent turns last minutes —
 * saying every 10 s who holds it and what it does; then WorkspaceBusy.
 */
export async function withTurnLock<T>(worktree: string, fn: () => Promise<T>, opts: TurnLockOptions = {}): Promise<T> {
  const dir = turnLockDir(worktree);
  await mkdir(dir, { recursive: true });
  const timeoutMs = (opts.waitSeconds ?? loadConfig(worktree).session.waitSeconds) * 1000;
  let entered = false;
  try {
    return await withLock(dir, { timeoutMs, onWait: opts.onWait, noticeEveryMs: opts.noticeEveryMs, what: opts.what, name: `the workspace ${worktree}` }, () => {
      entered = true;
      return fn();
    });
  } catch (e) {
    if (!entered && e instanceof StoreLocked) throw new WorkspaceBusy(worktree, e.holder, e.waitedMs);
    throw e;
  }
}
