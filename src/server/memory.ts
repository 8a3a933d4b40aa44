/**
 * Gives the memory of big answers back soon. A patch page passes through the server as Buffers
 * (the reads of the IPC channel, the JSON body), and V8 frees a dead Buffer's memory only when
 * it collects garbage, which it does for outside-the-heap memory only once tens of MiB of it
 * have piled up: paging through a big patch took the server from idle + 33 MiB to idle + 53 in
 * six 1 MiB pages, and idle + 33 with a collection after each page. So after each MiB of such
 * answers, one full collection (a few ms for the server's small heap), 50 ms after the last.
 */
import { reclaimArrays } from '../git/reclaim.js';

/** Answer bytes after which a collection is due. */
const DUE_BYTES = 1 << 20;

let pending = 0;
let timer: NodeJS.Timeout | undefined;

/** Notes that an answer of `bytes` was written; collects garbage soon when enough was. */
export function answered(bytes: number): void {
  pending += bytes;
  if (pending < DUE_BYTES) return;
  clearTimeout(timer);
  timer = setTimeout(() => {
    pending = 0;
    reclaimArrays(); // the full collection the diff engine uses between phases
  }, 50);
  timer.unref();
}
