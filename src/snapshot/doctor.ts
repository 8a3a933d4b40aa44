import { rename, stat } from 'node:fs/promises';
import { runGit } from '../git/run.js';
import { StoreMissing } from './errors.js';
import { withStoreLock } from './lock.js';
import { checkStore, createStore, resolveWorkspace, storeDir, type StoreOptions } from './store.js';
import { loadConfig } from '../config.js';

/** The health of a workspace's store, and what doctor did about it. */
export interface DoctorReport {
  store: string;
  ok: boolean;
  /** What is wrong (empty when ok). */
  problems: string[];
  /** Where the broken store was moved when rebuilt. */
  movedTo?: string;
}

/**
 * Checks a workspace's store: its layout, then `git fsck --connectivity-only`. With `rebuild`,
 * a broken store is moved aside (`<store>.broken-<time>`, kept for inspection) and a new empty
 * one is created; snapshots of the old store are no longer available to snapline.
 */
export async function doctor(worktree: string, opts: StoreOptions & { rebuild?: boolean } = {}): Promise<DoctorReport> {
  const real = await resolveWorkspace(worktree, opts.force ?? false);
  const dir = await storeDir(real);
  if (!(await stat(dir).then(() => true, () => false))) throw new StoreMissing(real);
  const config = opts.config ?? loadConfig(real);
  const problems: string[] = [];
  try {
    await checkStore(dir);
    const r = await runGit({ gitDir: dir }, ['fsck', '--connectivity-only', '--no-progress', '--no-dangling'], { okStatus: [0, 1, 2, 128] });
    if (r.status !== 0) problems.push(...(r.stderr.trim() || `git fsck exited with ${r.status}`).split('\n').slice(0, 20));
  } catch (e) {
    problems.push((e as Error).message);
  }
  const report: DoctorReport = { store: dir, ok: problems.length === 0, problems };
  if (report.ok || !opts.rebuild) return report;
  // A damaged store may have an unreadable lock too; take it by the usual rules.
  await withStoreLock(dir, config.snapshot.lockTimeoutMs, opts.onWait, async () => {
    report.movedTo = `${dir}.broken-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(dir, report.movedTo);
  }).catch(async (e: NodeJS.ErrnoException) => {
    // The lock file vanished with the rename; anything else is a real failure.
    if (e.code !== 'ENOENT') throw e;
  });
  await createStore(dir, real);
  return report;
}
