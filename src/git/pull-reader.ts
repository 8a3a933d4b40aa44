import type { Readable } from 'node:stream';

/**
 * Pull-based reading of a byte stream: the producer is read only as fast as the consumer asks,
 * so a child process writing a large object blocks on its pipe instead of filling our memory.
 */
export class PullReader {
  private pending: Buffer | null = null;
  private ended = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;

  constructor(private readonly stream: Readable) {
    const notify = () => {
      const w = this.wake;
      this.wake = null;
      w?.();
    };
    stream.on('readable', notify);
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
      const p = this.pending;
      if (p !== null && p.length > 0) {
        if (p.length <= max) {
          this.pending = null;
          return p;
        }
        this.pending = p.subarray(max);
        return p.subarray(0, max);
      }
      const next = this.stream.read() as Buffer | null;
      if (next !== null) {
        this.pending = next;
        continue;
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

  /** Puts bytes back in front of the stream (only what the last call returned). */
  unread(b: Buffer): void {
    if (b.length === 0) return;
    this.pending = this.pending && this.pending.length ? Buffer.concat([b, this.pending]) : b;
  }
}
