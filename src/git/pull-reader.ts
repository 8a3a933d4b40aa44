import type { Readable } from 'node:stream';

/** Bytes read ahead of the consumer, so git keeps working while a chunk is being processed. */
const READ_AHEAD = 1024 * 1024;

/**
 * Pull-based reading of a byte stream with a bounded read-ahead: the producer runs up to 1 MiB
 * ahead of the consumer (a pipe alone holds 64 KiB, which would make git and us take turns),
 * and is paused beyond that, so a child writing a large object never fills our memory.
 */
export class PullReader {
  private readonly queue: Buffer[] = [];
  private head = 0; // offset into queue[0]
  private queued = 0;
  private ended = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(private readonly stream: Readable) {
    const notify = () => {
      const w = this.wake;
      this.wake = null;
      w?.();
    };
    stream.on('data', (b: Buffer) => {
      this.queue.push(b);
      this.queued += b.length;
      if (this.queued >= READ_AHEAD) stream.pause();
      notify();
    });
    stream.on('end', () => {
      this.ended = true;
      notify();
    });
    stream.on('error', (e: Error) => {
      this.failure = e;
      notify();
    });
  }

  /** Up to `max` bytes, or null at end of stream. */
  async chunk(max: number): Promise<Buffer | null> {
    for (;;) {
      const first = this.queue[0];
      if (first !== undefined) {
        const available = first.length - this.head;
        const take = Math.min(available, max);
        const out = first.subarray(this.head, this.head + take);
        if (take === available) {
          this.queue.shift();
          this.head = 0;
        } else {
          this.head += take;
        }
        this.queued -= take;
        if (this.queued < READ_AHEAD / 4 && this.stream.isPaused()) this.stream.resume();
        return out;
      }
      if (this.failure) throw this.failure;
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** One line without its newline (for short protocol lines), or null at end of stream. */
  async line(limit = 65536): Promise<Buffer | null> {
    const parts: Buffer[] = [];
    let size = 0;
    for (;;) {
      const c = await this.chunk(limit);
      if (c === null) return parts.length ? Buffer.concat(parts) : null;
      const nl = c.indexOf(10);
      if (nl >= 0) {
        parts.push(c.subarray(0, nl));
        this.unread(c.subarray(nl + 1));
        return Buffer.concat(parts);
      }
      parts.push(c);
      size += c.length;
      if (size > limit) throw new Error(`protocol line longer than ${limit} bytes`);
    }
  }

  /** Puts back the tail of the buffer the last call returned. */
  unread(b: Buffer): void {
    if (b.length === 0) return;
    if (this.head > 0) {
      this.queue[0] = this.queue[0]!.subarray(this.head);
      this.head = 0;
    }
    this.queue.unshift(b);
    this.queued += b.length;
  }
}
