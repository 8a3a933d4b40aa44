import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { dataDir } from '../config.js';
import { withStoreLock, type WaitNotice } from '../snapshot/lock.js';

/** How long a turn, revert or delete waits for another one in the same workspace. */
export const TURN_LOCK_TIMEOUT_MS = 30_000;

/**
 * Runs `fn` holding the workspace's turn lock (`<dataDir>/locks/<sha1(worktree)>/snapline.lock`):
 * turns, reverts and deletes of sessions in one workspace run one at a time, for their whole
 * duration. It is separate from the snapshot store's lock, which track/restore/retain take
 * for each of their own steps. A lock left by a dead process is taken over.
 */
export async function withTurnLock<T>(worktree: string, fn: () => Promise<T>, opts: { timeoutMs?: number; onWait?: WaitNotice } = {}): Promise<T> {
  const dir = join(dataDir(), 'locks', createHash('sha1').update(worktree).digest('hex'));
  await mkdir(dir, { recursive: true });
  return withStoreLock(dir, opts.timeoutMs ?? TURN_LOCK_TIMEOUT_MS, opts.onWait, fn);
}
