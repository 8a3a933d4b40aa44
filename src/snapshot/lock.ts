import { open, readdir, readFile, readlink, unlink, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StoreLocked } from './errors.js';

/** Who holds a store lock, as written into the lock file. */
export interface LockHolder {
  pid: number;
  hostname: string;
  /** When the holder took the lock (ms since the epoch). */
  started: number;
}

export const LOCK_NAME = 'snapline.lock';

/** Called once when the lock is busy, before waiting for it. */
export type WaitNotice = (message: string) => void;

/** The holder recorded in a lock file, or null if it is missing or unreadable. */
export async function readLock(file: string): Promise<LockHolder | null> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as Partial<LockHolder>;
    if (typeof v.pid === 'number' && typeof v.hostname === 'string' && typeof v.started === 'number') return v as LockHolder;
  } catch {
    /* half-written or missing */
  }
  return null;
}

/** True when the holder is a process on this machine that no longer exists. */
export function holderIsDead(h: LockHolder): boolean {
  if (h.hostname !== hostname()) return false;
  try {
    process.kill(h.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Runs `fn` holding the store's cross-process lock (`<store>/snapline.lock`, created with
 * O_EXCL). A lock left by a dead process on this host is taken over; a live one is waited
 * for up to `timeoutMs`, then StoreLocked is thrown.
 */
export async function withStoreLock<T>(storeDir: string, timeoutMs: number, onWait: WaitNotice | undefined, fn: () => Promise<T>): Promise<T> {
  const file = join(storeDir, LOCK_NAME);
  const startedWaiting = Date.now();
  let noticed = false;
  let delay = 25;
  let tookOver = false;
  for (;;) {
    const me: LockHolder = { pid: process.pid, hostname: hostname(), started: Date.now() };
    try {
      const fh = await open(file, 'wx');
      try {
        await fh.writeFile(JSON.stringify(me));
      } finally {
        await fh.close();
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = await readLock(file);
    if (holder && holderIsDead(holder)) {
      await unlink(file).catch(() => undefined);
      tookOver = true;
      continue;
    }
    if (!holder) {
      // Unreadable: a holder between create and write, or a crash right there. Give it a moment.
      const age = await stat(file).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 10_000) {
        await unlink(file).catch(() => undefined);
        continue;
      }
    }
    const waited = Date.now() - startedWaiting;
    const who = holder ? `pid ${holder.pid} on ${holder.hostname}` : 'another process';
    if (waited >= timeoutMs) throw new StoreLocked(storeDir, who, waited);
    if (!noticed) {
      onWait?.(`waiting for ${who} to release the snapshot store lock (up to ${Math.round(timeoutMs / 1000)} s)…`);
      noticed = true;
    }
    await new Promise((r) => setTimeout(r, Math.min(delay, timeoutMs - waited)));
    delay = Math.min(delay * 2, 250);
  }
  try {
    // A holder killed with SIGKILL leaves its git children running (an orphaned `git add` still
    // holds index.lock, an orphaned `git gc` its gc.pid): let them finish before we start.
    if (tookOver) await waitForOrphans(storeDir, startedWaiting, timeoutMs, onWait, noticed);
    return await fn();
  } finally {
    await unlink(file).catch(() => undefined);
  }
}

/**
 * Other processes working on `dir`: an argument naming it or a path inside it (git gets
 * `--git-dir <store>`), or it as working directory. Linux only (reads /proc); [] elsewhere.
 */
export async function processesUsing(dir: string): Promise<number[]> {
  const names = await readdir('/proc').catch(() => [] as string[]);
  const out: number[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const args = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0');
      const cwd = await readlink(`/proc/${name}/cwd`).catch(() => '');
      if (cwd === dir || args.some((a) => a === dir || a.startsWith(dir + '/'))) out.push(Number(name));
    } catch {
      /* exited, or not ours to read */
    }
  }
  return out;
}

async function waitForOrphans(dir: string, startedWaiting: number, timeoutMs: number, onWait: WaitNotice | undefined, noticed: boolean): Promise<void> {
  const deadline = startedWaiting + timeoutMs;
  let delay = 10;
  for (;;) {
    const pids = await processesUsing(dir);
    if (pids.length === 0) return;
    const who = `pid ${pids.join(', ')} (left running by a killed snapline)`;
    if (Date.now() >= deadline) throw new StoreLocked(dir, who, Date.now() - startedWaiting);
    if (!noticed) {
      onWait?.(`waiting for ${who} to finish with the snapshot store…`);
      noticed = true;
    }
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(1, deadline - Date.now()))));
    delay = Math.min(delay * 2, 250);
  }
}
