/**
 * Line hashing on a second core: one worker thread (line-thread.ts) reads a big blob straight
 * from its object file, inflates and hashes it, and posts the per-line hashes back in batches
 * while this thread works on the other side of the pair. The worker starts on first use (only
 * for big blobs: starting one costs tens of milliseconds), serves one blob at a time, and keeps
 * the process alive only while a blob is being hashed; `close` ends it.
 *
 * Memory: batches are handed back and reused, and at most `MAX_AHEAD_LINES` lines' worth exist,
 * so the worker runs at most that far ahead of the comparison.
 */
import { Worker } from 'node:worker_threads';
import type { ObjectPlace } from '../git/object-files.js';
import { MissingObject } from '../errors.js';
import { estimateLines, LineHasher } from './lines.js';
import { noteStreamed } from '../git/reclaim.js';

/** Lines a batch holds (at most CHUNK_SIZE + 1, the size of the comparison's batch arrays). */
const BATCH_LINES = 32 * 1024;
/** Lines hashed ahead of the comparison at most: 12 MiB of hashes (13.5 with indents). */
export const MAX_AHEAD_LINES = Number(process.env.SNAPLINE_LINE_AHEAD ?? 48) * BATCH_LINES;

export interface BatchArrays {
  hi: Int32Array;
  lo: Int32Array;
  indent: Uint8Array;
}

export interface HashJob {
  kind: 'job';
  id: number;
  place: ObjectPlace;
  oid: string;
  indent: boolean;
  batchLines: number;
  maxBatches: number;
}

export type ToThread = HashJob | { kind: 'give-back'; id: number; arrays: BatchArrays } | { kind: 'cancel'; id: number };

export type FromThread =
  | { kind: 'head'; id: number; expect: number }
  | { kind: 'batch'; id: number; arrays: BatchArrays; n: number }
  | { kind: 'end'; id: number; lines: number; binary: boolean }
  | { kind: 'error'; id: number; message: string; missing: boolean }
  | { kind: 'unavailable'; id: number };

/** A batch of hashed lines: `n` entries of `arrays` (indents only when they were asked for). */
export interface LineBatch {
  arrays: BatchArrays;
  n: number;
}

/** One blob's lines, hashed on the worker, read in order. */
export interface OffThreadLines {
  /** Expected line count, or null when the worker cannot read the blob (read it here instead). */
  head(): Promise<number | null>;
  /** The next batch, or null at the end (then `lines` and `binary` hold the totals). */
  next(): Promise<LineBatch | null>;
  /** Returns a batch's arrays for reuse, once its lines have been used. */
  giveBack(batch: LineBatch): void;
  readonly lines: number;
  readonly binary: boolean;
  /** Stops the worker's reading early; a finished or cancelled job ignores it. */
  cancel(): void;
}

interface Job {
  id: number;
  queue: FromThread[];
  wake: (() => void) | null;
  done: boolean;
}

export class LineOffload {
  private worker: Worker | null = null;
  private job: Job | null = null;
  private ids = 0;

  /** Starts hashing the blob `oid` found at `place`; indents too when `indent` (patches). */
  hash(place: ObjectPlace, oid: string, indent: boolean): OffThreadLines {
    this.job?.done === false && this.stop(this.job);
    const worker = this.start();
    const job: Job = { id: ++this.ids, queue: [], wake: null, done: false };
    this.job = job;
    worker.ref();
    const msg: HashJob = { kind: 'job', id: job.id, place, oid, indent, batchLines: BATCH_LINES, maxBatches: MAX_AHEAD_LINES / BATCH_LINES };
    worker.postMessage(msg);
    const take = async (): Promise<FromThread> => {
      while (job.queue.length === 0) await new Promise<void>((resolve) => (job.wake = resolve));
      return job.queue.shift()!;
    };
    const failed = (m: FromThread & { kind: 'error' }) => {
      this.finish(job);
      const prefix = `object ${oid} is `;
      return m.missing && m.message.startsWith(prefix) ? new MissingObject(oid, m.message.slice(prefix.length)) : new Error(m.message);
    };
    const finish = (j: Job) => this.finish(j);
    let headSeen = false;
    const lines = {
      lines: 0,
      binary: false,
      async head(): Promise<number | null> {
        const m = await take();
        headSeen = true;
        if (m.kind === 'head') return m.expect;
        if (m.kind === 'unavailable') {
          finish(job);
          return null;
        }
        if (m.kind === 'error') throw failed(m);
        // A blob that is binary from its first chunk ends before its head.
        if (m.kind === 'end') job.queue.unshift(m);
        return 0;
      },
      next: async (): Promise<LineBatch | null> => {
        if (!headSeen) await lines.head();
        if (job.done) return null;
        const m = await take();
        if (m.kind === 'batch') return { arrays: m.arrays, n: m.n };
        if (m.kind === 'error') throw failed(m);
        if (m.kind === 'end') {
          lines.lines = m.lines;
          lines.binary = m.binary;
        }
        this.finish(job);
        return null;
      },
      giveBack: (batch: LineBatch) => {
        if (job.done || this.worker !== worker) return;
        const { hi, lo, indent } = batch.arrays;
        worker.postMessage({ kind: 'give-back', id: job.id, arrays: batch.arrays } satisfies ToThread, [hi.buffer as ArrayBuffer, lo.buffer as ArrayBuffer, indent.buffer as ArrayBuffer]);
      },
      cancel: () => {
        if (!job.done) this.stop(job);
      },
    };
    return lines;
  }

  /** Ends the worker (a job in progress is abandoned). */
  close(): void {
    const w = this.worker;
    this.worker = null;
    if (this.job && !this.job.done) this.fail(this.job, new Error('line hashing stopped: the reader was closed'));
    void w?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./line-thread.js', import.meta.url), {
      // Its own heap holds little: batches and chunks live outside it.
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 },
      stdout: false,
      stderr: false,
    });
    worker.unref();
    worker.on('message', (m: FromThread) => {
      const job = this.job;
      if (!job || job.id !== m.id || job.done) return;
      job.queue.push(m);
      job.wake?.();
      job.wake = null;
    });
    const lost = (e: Error) => {
      if (this.worker !== worker) return;
      this.worker = null;
      if (this.job && !this.job.done) this.fail(this.job, e);
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`line hashing thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private stop(job: Job): void {
    this.worker?.postMessage({ kind: 'cancel', id: job.id } satisfies ToThread);
    this.finish(job);
  }

  private finish(job: Job): void {
    job.done = true;
    job.queue.length = 0;
    if (this.job === job) this.worker?.unref();
  }

  private fail(job: Job, e: Error): void {
    job.queue.push({ kind: 'error', id: job.id, message: e.message, missing: false });
    job.wake?.();
    job.wake = null;
    if (this.job === job) this.worker?.unref();
  }
}

/**
 * The same, on this thread: the blob is inflated on the thread pool (a thread of its own, beside
 * the old side's) and hashed here between the old side's chunks, up to MAX_AHEAD_LINES ahead.
 */
export function hashAhead(body: AsyncGenerator<Buffer>, size: number, indent: boolean, maxChunk: number): OffThreadLines {
  const hasher = new LineHasher(maxChunk, indent);
  const ready: LineBatch[] = [];
  const free: BatchArrays[] = [];
  let made = 0;
  let wake: (() => void) | null = null;
  let space: (() => void) | null = null;
  let expect: number | null = null;
  let ended = false;
  let failure: unknown = null;
  let stopped = false;
  const notify = () => {
    wake?.();
    wake = null;
  };
  const arrays = async (): Promise<BatchArrays | null> => {
    while (free.length === 0 && made * BATCH_LINES >= MAX_AHEAD_LINES && !stopped) await new Promise<void>((r) => (space = r));
    if (stopped) return null;
    if (free.length > 0) return free.pop()!;
    made++;
    return { hi: new Int32Array(BATCH_LINES), lo: new Int32Array(BATCH_LINES), indent: new Uint8Array(indent ? BATCH_LINES : 0) };
  };
  let out: BatchArrays | null = null;
  let fill = 0;
  const flush = () => {
    if (out === null || fill === 0) return;
    ready.push({ arrays: out, n: fill });
    out = null;
    fill = 0;
    notify();
  };
  const take = async (n: number): Promise<boolean> => {
    for (let k = 0; k < n; ) {
      out ??= await arrays();
      if (out === null) return false;
      const m = Math.min(n - k, out.hi.length - fill);
      out.hi.set(hasher.hi.subarray(k, k + m), fill);
      out.lo.set(hasher.lo.subarray(k, k + m), fill);
      if (indent) out.indent.set(hasher.indent.subarray(k, k + m), fill);
      fill += m;
      k += m;
      if (fill === out.hi.length) flush();
    }
    return true;
  };
  const pump = async () => {
    try {
      for await (const chunk of body) {
        noteStreamed(chunk.length);
        if (expect === null) {
          expect = estimateLines(size, chunk);
          notify();
        }
        const n = hasher.push(chunk);
        if (hasher.binary) break;
        if (!(await take(n)) || stopped) return;
      }
      if (!hasher.binary && !(await take(hasher.end()))) return;
      flush();
    } catch (e) {
      failure = e;
    } finally {
      await body.return(undefined);
      expect ??= 16;
      ended = true;
      notify();
    }
  };
  void pump();
  const until = async (cond: () => boolean) => {
    while (!cond()) await new Promise<void>((r) => (wake = r));
  };
  return {
    get lines() {
      return hasher.binary ? 0 : hasher.lines;
    },
    get binary() {
      return hasher.binary;
    },
    async head() {
      await until(() => expect !== null || ended);
      if (failure) throw failure;
      return expect ?? 16;
    },
    async next() {
      await until(() => ready.length > 0 || ended);
      if (ready.length > 0) return ready.shift()!;
      if (failure) throw failure;
      return null;
    },
    giveBack(batch) {
      free.push(batch.arrays);
      space?.();
      space = null;
    },
    cancel() {
      stopped = true;
      space?.();
      space = null;
    },
  };
}
