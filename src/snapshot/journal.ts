/**
 * The restore journal: which directories a restore is writing temporary files into, so that
 * the next process working on the store removes what a killed restore left in the workspace.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsPath } from '../git/path-bytes.js';

const JOURNAL = 'restore-journal';

/** A restore in progress: its temporary files are `.<token>.<n>.snapline-tmp` in `dirs`. */
export interface RestoreJournal {
  token: string;
  dirs: string[];
}

/** Records a restore's temporary-file directories (absolute) before it writes anything. */
export async function beginRestore(storeDir: string, dirs: Iterable<string>): Promise<RestoreJournal> {
  const journal: RestoreJournal = { token: randomBytes(6).toString('hex'), dirs: [...new Set(dirs)] };
  await writeFile(join(storeDir, JOURNAL), JSON.stringify(journal));
  return journal;
}

/** The name of the n-th temporary file of a restore. */
export function tempName(journal: RestoreJournal, n: number): string {
  return `.${journal.token}.${n}.snapline-tmp`;
}

/** Ends a restore that finished (or failed and cleaned up after itself). */
export async function endRestore(storeDir: string): Promise<void> {
  await unlink(join(storeDir, JOURNAL)).catch(() => undefined);
}

/**
 * Removes the temporary files a killed restore left in the workspace (call with the store lock
 * held). Returns their paths.
 */
export async function cleanRestoreLeftovers(storeDir: string): Promise<string[]> {
  let journal: RestoreJournal;
  try {
    journal = JSON.parse(await readFile(join(storeDir, JOURNAL), 'utf8')) as RestoreJournal;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    await endRestore(storeDir); // half-written: the restore had not started writing yet
    return [];
  }
  const removed: string[] = [];
  if (typeof journal.token === 'string' && /^[0-9a-f]{12}$/.test(journal.token) && Array.isArray(journal.dirs)) {
    const prefix = `.${journal.token}.`;
    for (const dir of journal.dirs) {
      if (typeof dir !== 'string') continue;
      for (const name of await readdir(fsPath(dir)).catch(() => [] as string[])) {
        if (name.startsWith(prefix) && name.endsWith('.snapline-tmp')) {
          await rm(fsPath(join(dir, name)), { force: true });
          removed.push(join(dir, name));
        }
      }
    }
  }
  await endRestore(storeDir);
  return removed;
}
