import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { dataDir, loadConfig } from '../config.js';
import { StoreLocked } from '../snapshot/errors.js';
import { withStoreLock, type WaitNotice } from '../snapshot/lock.js';
import { WorkspaceBusy } from './errors.js';

/**
 * Runs `fn` holding the workspace's turn lock (`<dataDir>/locks/<sha1(worktree)>/snapline.lock`):
 * turns, reverts and deletes of sessions in one workspace run one at a time, for their whole
 * duration. It is separate from the snapshot store's lock, which track/restore/retain take
 * for each of their own steps. A lock left by a dead process is taken over. A live holder is
 * waited for up to `timeoutMs` (default: the workspace's snapshot.lockTimeoutMs), telling the
 * user once through `onWait`; then WorkspaceBusy.
 */
export async function withTurnLock<T>(worktree: string, fn: () => Promise<T>, opts: { timeoutMs?: number; onWait?: WaitNotice } = {}): Promise<T> {
  const dir = join(dataDir(), 'locks', createHash('sha1').update(worktree).digest('hex'));
  await mkdir(dir, { recursive: true });
  const timeoutMs = opts.timeoutMs ?? loadConfig(worktree).snapshot.lockTimeoutMs;
  let entered = false;
  try {
    return await withStoreLock(dir, timeoutMs, opts.onWait && ((m) => opts.onWait!(m.replace('the snapshot store lock', `the workspace (another turn, revert or delete runs in ${worktree})`))), () => {
      entered = true;
      return fn();
    });
  } catch (e) {
    if (!entered && e instanceof StoreLocked) throw new WorkspaceBusy(worktree, e.holder, e.waitedMs);
    throw e;
  }
}
