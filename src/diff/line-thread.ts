/**
 * The worker thread of line-offload.ts: reads one blob at a time from its object file, inflates
 * it (on the thread pool) and hashes its lines here, and posts the hashes back in batches.
 * Batch arrays circulate: the main thread hands each one back once it has used it, and at most
 * `maxBatches` exist, so this thread runs at most that far ahead of its reader.
 */
import { parentPort } from 'node:worker_threads';
import { CHUNK_SIZE } from '../git/objects.js';
import { readPlace } from '../git/object-files.js';
import { noteStreamed, reclaimArrays } from '../git/reclaim.js';
import { MissingObject } from '../errors.js';
import { estimateLines, LineHasher } from './lines.js';
import type { BatchArrays, FromThread, ToThread, HashJob } from './line-offload.js';

const port = parentPort!;
const free: BatchArrays[] = [];
let made = 0;
let wake: (() => void) | null = null;
let cancelled = -1;
let current = -1;
let jobs: Promise<void> = Promise.resolve();

const post = (m: FromThread, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

port.on('message', (m: ToThread) => {
  if (m.kind === 'job') jobs = jobs.then(() => run(m));
  else if (m.kind === 'give-back') m.id === current && free.push(m.arrays);
  else cancelled = m.id;
  wake?.();
  wake = null;
});

/** Batch arrays to fill: a returned set, a new one while fewer than `max` exist, or the next returned. */
async function arrays(job: HashJob): Promise<BatchArrays | null> {
  while (free.length === 0 && made >= job.maxBatches) {
    if (cancelled === job.id) return null;
    await new Promise<void>((resolve) => (wake = resolve));
  }
  if (free.length > 0) return free.pop()!;
  made++;
  return { hi: new Int32Array(job.batchLines), lo: new Int32Array(job.batchLines), indent: new Uint8Array(job.indent ? job.batchLines : 0) };
}

async function run(job: HashJob): Promise<void> {
  const { id } = job;
  // Arrays of an earlier job may differ in shape: they are dropped, and come back no more.
  current = id;
  free.length = 0;
  made = 0;
  let obj;
  try {
    obj = await readPlace(job.place, job.oid, CHUNK_SIZE);
  } catch (e) {
    return fail(id, e);
  }
  if (obj === null) return post({ kind: 'unavailable', id });
  const hasher = new LineHasher(CHUNK_SIZE, job.indent);
  let out: BatchArrays | null = null;
  let fill = 0;
  const flush = () => {
    if (out === null || fill === 0) return;
    const a = out;
    post({ kind: 'batch', id, arrays: a, n: fill }, [a.hi.buffer as ArrayBuffer, a.lo.buffer as ArrayBuffer, a.indent.buffer as ArrayBuffer]);
    out = null;
    fill = 0;
  };
  /** Moves the hasher's last `n` lines into batches; false when the job was cancelled. */
  const take = async (n: number): Promise<boolean> => {
    for (let k = 0; k < n; ) {
      out ??= await arrays(job);
      if (out === null) return false;
      const m = Math.min(n - k, out.hi.length - fill);
      out.hi.set(hasher.hi.subarray(k, k + m), fill);
      out.lo.set(hasher.lo.subarray(k, k + m), fill);
      if (job.indent) out.indent.set(hasher.indent.subarray(k, k + m), fill);
      fill += m;
      k += m;
      if (fill === out.hi.length) flush();
    }
    return true;
  };
  const body = obj.body;
  try {
    let first = true;
    for await (const chunk of body) {
      noteStreamed(chunk.length);
      if (first) post({ kind: 'head', id, expect: estimateLines(obj.size, chunk) });
      first = false;
      const n = hasher.push(chunk);
      if (hasher.binary) return post({ kind: 'end', id, lines: 0, binary: true });
      if (!(await take(n)) || cancelled === id) return post({ kind: 'end', id, lines: 0, binary: false });
    }
    if (first) post({ kind: 'head', id, expect: estimateLines(0) });
    if (!(await take(hasher.end()))) return post({ kind: 'end', id, lines: 0, binary: false });
    flush();
    post({ kind: 'end', id, lines: hasher.lines, binary: false });
  } catch (e) {
    fail(id, e);
  } finally {
    await body.return(undefined);
    free.length = 0;
    reclaimArrays();
  }
}

function fail(id: number, e: unknown): void {
  const missing = e instanceof MissingObject;
  post({ kind: 'error', id, message: e instanceof Error ? e.message : String(e), missing });
}
