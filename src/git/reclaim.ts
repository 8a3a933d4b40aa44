import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Pipe chunks from git are Buffers whose memory lives outside V8's heap; V8 only frees them at
 * its next collection, which a small heap rarely triggers. Streaming hundreds of MiB would then
 * leave tens of MiB of dead chunks resident. A young-generation collection every 4 MiB
 * streamed frees them at once (it costs well under a millisecond here).
 */
const EVERY = 4 * 1024 * 1024;

type Gc = (opts?: { type?: 'minor' | 'major' }) => void;

let collect: Gc | null | undefined;
let pending = 0;

function collector(): Gc | null {
  if (collect === undefined) {
    try {
      // Dead array buffers are otherwise freed by a background thread after the collection,
      // too late for the next phase's arrays to reuse their memory.
      setFlagsFromString('--no-concurrent-array-buffer-sweeping');
      setFlagsFromString('--expose-gc');
      collect = runInNewContext('gc') as Gc;
    } catch {
      collect = null;
    }
  }
  return collect;
}

/** Notes `bytes` of streamed chunks handed on; reclaims dead chunks every 4 MiB. */
export function noteStreamed(bytes: number): void {
  pending += bytes;
  if (pending < EVERY) return;
  pending = 0;
  collector()?.({ type: 'minor' });
}

/**
 * Frees large arrays a finished comparison or phase left behind: a full collection of a small
 * heap (about a millisecond). A plain gc() is needed: `{type: 'major'}` leaves unreferenced
 * array buffers in place.
 */
export function reclaimArrays(): void {
  collector()?.();
}
