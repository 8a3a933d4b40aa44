import { readFileSync } from 'node:fs';
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
  /** What the holder is doing, for whoever waits ("run \"fix the tests\"", "revert of ses_…"). */
  what?: string;
}

export const LOCK_NAME = 'snapline.lock';

/** Told when the lock is busy, before waiting for it, and again every NOTICE_EVERY_MS while waiting. */
export type WaitNotice = (message: string) => void;

/** How often a waiter repeats who it is waiting for. */
export const NOTICE_EVERY_MS = 10_000;

/** How to wait for a lock, and what to tell. */
export interface LockWait {
  /** Give up (StoreLocked) after waiting this long. */
  timeoutMs: number;
  onWait?: WaitNotice;
  /** Repeat the notice this often (default NOTICE_EVERY_MS). */
  noticeEveryMs?: number;
  /** The lock as notices name it (default "the snapshot store lock"). */
  name?: string;
  /** What we do while holding it, written into the lock file for whoever waits. */
  what?: string;
}

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
  return h.hostname === hostname() && !pidRunning(h.pid);
}

/**
 * Whether process `pid` on this machine runs. `kill(pid, 0)` also answers for a zombie — dead,
 * not yet reaped by its new parent, which in a container without an init can take a while — so
 * where Linux's /proc has the process, its state letter is read too.
 */
export function pidRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(') ') + 2));
  } catch {
    return true;
  }
}

/**
 * Runs `fn` holding the store's cross-process lock (`<store>/snapline.lock`, created with
 * O_EXCL). A lock left by a dead process on this host is taken over; a live one is waited
 * for up to `timeoutMs`, then StoreLocked is thrown.
 */
export function withStoreLock<T>(storeDir: string, timeoutMs: number, onWait: WaitNotice | undefined, fn: () => Promise<T>): Promise<T> {
  return withLock(storeDir, { timeoutMs, onWait }, fn);
}

/** The holder as a waiter reads it: "pid 12 on host (run "x", for 40 s)". */
function describeHolder(h: LockHolder | null): string {
  if (!h) return 'another process';
  const age = Math.max(0, Math.round((Date.now() - h.started) / 1000));
  return `pid ${h.pid} on ${h.hostname} (${h.what ? `${h.what}, ` : ''}for ${age} s)`;
}

/**
 * Runs `fn` holding the lock file `<dir>/snapline.lock` (created with O_EXCL, naming its holder
 * and what it does). A lock left by a dead process on this host is taken over; a live one is
 * waited for up to `wait.timeoutMs`, saying who holds it at once and every `noticeEveryMs`,
 * then StoreLocked is thrown.
 */
export async function withLock<T>(dir: string, wait: LockWait, fn: () => Promise<T>): Promise<T> {
  const file = join(dir, LOCK_NAME);
  const { timeoutMs, onWait } = wait;
  const name = wait.name ?? 'the snapshot store lock';
  const noticeEveryMs = wait.noticeEveryMs ?? NOTICE_EVERY_MS;
  const startedWaiting = Date.now();
  let noticed = false;
  let lastNotice = 0;
  let delay = 25;
  let tookOver = false;
  for (;;) {
    const me: LockHolder = { pid: process.pid, hostname: hostname(), started: Date.now() };
    if (wait.what) me.what = wait.what;
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
    const now = Date.now();
    const waited = now - startedWaiting;
    const who = describeHolder(holder);
    if (waited >= timeoutMs) throw new StoreLocked(dir, who, waited);
    if (!noticed) {
      onWait?.(`waiting for ${who} to release ${name} (up to ${Math.round(timeoutMs / 1000)} s)…`);
      noticed = true;
      lastNotice = now;
    } else if (now - lastNotice >= noticeEveryMs) {
      onWait?.(`still waiting for ${who} to release ${name} (${Math.round(waited / 1000)} s of ${Math.round(timeoutMs / 1000)} s)…`);
      lastNotice = now;
    }
    await new Promise((r) => setTimeout(r, Math.min(delay, timeoutMs - waited, Math.max(1, lastNotice + noticeEveryMs - now))));
    delay = Math.min(delay * 2, 250);
  }
  try {
    // A holder killed with SIGKILL leaves its git children running (an orphaned `git add` still
    // holds index.lock, an orphaned `git gc` its gc.pid): let them finish before we start.
    if (tookOver) await waitForOrphans(dir, startedWaiting, timeoutMs, onWait, noticed);
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
