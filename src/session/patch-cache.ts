/**
 * Patch pages for a long-running reader (the server): the source of a file's patch is kept
 * between pages, so the next page goes on where the last one ended instead of comparing the
 * file pair again and skipping to the cursor. A source is a producer in this process or a patch
 * process (src/session/patch-process.ts) holding one. Bounded: a few sources, least recently
 * used closed first, each closed after a while unused; and one page is produced at a time, so
 * two big comparisons never run together.
 */
import type { PatchProducer } from '../diff/patch.js';
import { SnaplineError, UsageError } from '../errors.js';

/** One page of a patch (its bytes: the server passes them on without making a string of them), and the cursor of the next one when the patch goes on. */
export interface PatchPage {
  bytes: Buffer;
  next?: string;
}

/** Where a patch's pages come from, one after the other. */
export interface PageSource {
  /** The next page: about `maxBytes`, ending at a line end. */
  page(maxBytes: number): Promise<PatchPage>;
  /** The cursor the next page starts at, while the source can go on (undefined once ended or failed). */
  readonly position: string | undefined;
  /** Bytes this process holds for it between pages beyond fixed buffers. */
  readonly heldBytes: number;
  close(): void;
}

/** A source ended before it answered (its process killed, or crashed). */
export class PageSourceLost extends SnaplineError {
  constructor(detail: string) {
    super('patch-process', `the process producing this patch ${detail}; ask for the page again`);
  }
}

/** How far one long line may run past a page's size: a longer line would have to be held whole. */
export const PAGE_SLACK = 4 << 20;

/** Reads one page of `p` (bounded by maxBytes plus one line's tail, at most PAGE_SLACK). */
export async function readPage(p: PatchProducer, maxBytes: number): Promise<PatchPage> {
  const page = p.page(maxBytes);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const b of page.chunks) {
    size += b.length;
    if (size > maxBytes + PAGE_SLACK) throw new UsageError(`a line of this patch is longer than ${PAGE_SLACK} bytes; read it with 'snapline session diff --patch'`);
    parts.push(b);
  }
  const bytes = Buffer.concat(parts, size);
  const next = page.next();
  return next === undefined ? { bytes } : { bytes, next };
}

/** A producer in this process as a page source (a page read only in part closes it). */
export function producerSource(p: PatchProducer): PageSource {
  return {
    page: (maxBytes) => readPage(p, maxBytes),
    get position() {
      return p.resumable ? p.position : undefined;
    },
    get heldBytes() {
      return p.heldBytes;
    },
    close: () => p.close(),
  };
}

export interface PatchCacheOptions {
  /** Sources kept between pages (default 2: each holds a comparison's results and read buffers). */
  entries?: number;
  /** The change lists they hold in this process together at most this many bytes (default 16 MiB). */
  heldBytes?: number;
  /** A source unused this long is closed (default 2 minutes). */
  idleMs?: number;
}

interface Kept {
  source: PageSource;
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

  /** Sources kept now (for tests). */
  get size(): number {
    return this.kept.size;
  }

  /**
   * The page of patch `key` at `cursor` (its start when absent), from the source kept at that
   * cursor when there is one, else from `open()`. Pages are produced one at a time (callers
   * queue). A source that can go on is kept for the next page.
   */
  page(key: string, cursor: string | undefined, open: () => PageSource | Promise<PageSource>, maxBytes: number): Promise<PatchPage> {
    const job = async (): Promise<PatchPage> => {
      const id = `${key}\n${cursor ?? ''}`;
      const kept = this.kept.get(id);
      if (kept) {
        this.kept.delete(id);
        clearTimeout(kept.timer);
        // A kept source that died meanwhile (its process killed) is replaced by a new one.
        try {
          if (kept.source.position === cursor) return await this.read(key, kept.source, maxBytes);
        } catch (e) {
          if (!(e instanceof PageSourceLost)) throw e;
        }
        kept.source.close();
      }
      return await this.read(key, await open(), maxBytes);
    };
    const run = this.queue.then(job, job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async read(key: string, source: PageSource, maxBytes: number): Promise<PatchPage> {
    try {
      return await source.page(maxBytes);
    } finally {
      this.keep(key, source);
    }
  }

  close(): void {
    this.closed = true;
    for (const k of this.kept.values()) {
      clearTimeout(k.timer);
      k.source.close();
    }
    this.kept.clear();
  }

  private keep(key: string, source: PageSource): void {
    const position = source.position;
    if (this.closed || position === undefined || source.heldBytes > this.heldBytes) return source.close();
    const id = `${key}\n${position}`;
    this.kept.get(id)?.source.close();
    this.kept.delete(id);
    const timer = setTimeout(() => this.evict(id), this.idleMs);
    timer.unref();
    this.kept.set(id, { source, timer });
    let held = 0;
    for (const k of this.kept.values()) held += k.source.heldBytes;
    for (const [oldest, k] of this.kept) {
      if (this.kept.size <= this.entries && held <= this.heldBytes) break;
      held -= k.source.heldBytes;
      this.evict(oldest);
    }
  }

  private evict(id: string): void {
    const k = this.kept.get(id);
    if (!k) return;
    this.kept.delete(id);
    clearTimeout(k.timer);
    k.source.close();
  }
}
