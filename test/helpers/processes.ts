import { readFileSync } from 'node:fs';

/** Whether process `pid` still runs on this machine (a zombie waiting for its parent counts as gone). */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
