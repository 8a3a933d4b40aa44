/**
 * Patch pages for a long-running reader (the server): the producer of a file's patch is kept
 * between pages, so the next page goes on where the last one ended instead of comparing the
 * file pair again and skipping to the cursor. Bounded: a few producers, least recently used
 * closed first, each closed after a while unused; and one page is produced at a time, so two
 * big comparisons never run together.
 */
import { PatchProducer } from '../diff/patch.js';

export interface PatchCacheOptions {
  /** Producers kept between pages (default 2: each holds about 8 MiB of blob-reading buffers). */
  entries?: number;
  /** Their change lists together at most this many bytes (default 16 MiB). */
  heldBytes?: number;
  /** A producer unused this long is closed (default 2 minutes). */
  idleMs?: number;
}

interface Kept {
  producer: PatchProducer;
  timer: NodeJS.Timeout;
}

export class PatchCache {
  /** By patch and cursor, least recently used first. */
  private readonly kept = new Map<string, Kept>();
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly entries: number;
  private readonly heldBytes: number;
  private readonly idleMs: number;

  constructor(o: PatchCacheOptions = {}) {
    this.entries = o.entries ?? 2;
    this.heldBytes = o.heldBytes ?? 16 << 20;
    this.idleMs = o.idleMs ?? 120_000;
  }

  /** Producers kept now (for tests). */
  get size(): number {
    return this.kept.size;
  }

  /**
   * Runs `use` with the producer of patch `key` positioned at `cursor` (the start when absent):
   * a kept one when there is, else `open()`. Pages are produced one at a time (callers queue).
   * A producer `use` left at a page end is kept for the next page.
   */
  page<T>(key: string, cursor: string | undefined, open: () => PatchProducer, use: (p: PatchProducer) => Promise<T>): Promise<T> {
    const job = async (): Promise<T> => {
      const id = `${key}\n${cursor ?? ''}`;
      const kept = this.kept.get(id);
      let producer: PatchProducer;
      if (kept) {
        this.kept.delete(id);
        clearTimeout(kept.timer);
        producer = kept.producer;
      } else producer = open();
      try {
        return await use(producer);
      } finally {
        this.keep(key, producer);
      }
    };
    const run = this.queue.then(job, job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.closed = true;
    for (const k of this.kept.values()) {
      clearTimeout(k.timer);
      k.producer.close();
    }
    this.kept.clear();
  }

  private keep(key: string, producer: PatchProducer): void {
    const position = producer.position;
    if (this.closed || !producer.resumable || position === undefined || producer.heldBytes > this.heldBytes) return producer.close();
    const id = `${key}\n${position}`;
    this.kept.get(id)?.producer.close();
    this.kept.delete(id);
    const timer = setTimeout(() => this.evict(id), this.idleMs);
    timer.unref();
    this.kept.set(id, { producer, timer });
    let held = 0;
    for (const k of this.kept.values()) held += k.producer.heldBytes;
    for (const [oldest, k] of this.kept) {
      if (this.kept.size <= this.entries && held <= this.heldBytes) break;
      held -= k.producer.heldBytes;
      this.evict(oldest);
    }
  }

  private evict(id: string): void {
    const k = this.kept.get(id);
    if (!k) return;
    this.kept.delete(id);
    clearTimeout(k.timer);
    k.producer.close();
  }
}
