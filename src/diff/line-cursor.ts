/**
 * Walks a blob's lines in order without holding any line whole: lines are passed over or
 * copied to an output callback as bytes of the chunks they arrive in. Work per line is
 * synchronous and allocation-free; only a chunk boundary or a waiting consumer suspends.
 */

/**
 * Receives `b[start, end)`, copying the bytes before returning (`b` is reused); returns a
 * promise to wait on while the consumer is behind.
 */
export type Out = (b: Buffer, start: number, end: number) => Promise<void> | undefined;

/** Colours lines as they are copied (see color.ts); the cursor hands it each line in pieces. */
export interface LinePainter {
  begin(out: Out): Promise<void> | undefined;
  /** Bytes of the line, its newline excluded. */
  text(out: Out, b: Buffer, start: number, end: number): Promise<void> | undefined;
  end(out: Out): Promise<void> | undefined;
  readonly noNewline: Buffer;
}

const NO_NEWLINE = Buffer.from('\n\\ No newline at end of file\n');
const FUNC_MAX = 80;

export class LineCursor {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private done = false;
  /** Index of the next line. */
  line = 0;
  // The start of the line being read, and of the last line that qualifies as a function name.
  private readonly head: Buffer;
  private headLen = 0;
  private readonly func: Buffer;
  private funcLen = -1;

  constructor(
    private readonly it: AsyncIterator<Buffer>,
    private readonly trackFuncname = false,
  ) {
    this.head = Buffer.alloc(trackFuncname ? FUNC_MAX : 0);
    this.func = Buffer.alloc(trackFuncname ? FUNC_MAX : 0);
  }

  /** Start (up to 80 bytes) of the last line passed that qualifies as a hunk-header function name. */
  get funcname(): Buffer | null {
    return this.funcLen < 0 ? null : this.func.subarray(0, this.funcLen);
  }

  private async fill(): Promise<boolean> {
    while (this.pos >= this.buf.length) {
      if (this.done) return false;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return false;
      }
      this.buf = r.value;
      this.pos = 0;
    }
    return true;
  }

  /** Passes over lines up to (not including) line `to`. */
  async skipTo(to: number): Promise<void> {
    if (this.line < to) await this.lines(to - this.line, null, null);
  }

  /**
   * Copies `n` lines to `out`, each preceded by `prefix` (or coloured by `paint`), calling
   * `after` after each; with a null `out`, passes over them.
   */
  async lines(n: number, prefix: Buffer | null, out: Out | null, after?: () => void, paint?: LinePainter | null): Promise<void> {
    for (let k = 0; k < n; k++) {
      if (this.pos >= this.buf.length && !(await this.fill())) throw new Error(`blob ended before line ${this.line + 1}`);
      if (out && paint) {
        const wait = paint.begin(out);
        if (wait) await wait;
      } else if (out && prefix) {
        const wait = out(prefix, 0, prefix.length);
        if (wait) await wait;
      }
      this.headLen = 0;
      for (;;) {
        const nl = this.buf.indexOf(10, this.pos);
        const end = nl >= 0 ? nl + 1 : this.buf.length;
        const start = this.pos;
        if (this.trackFuncname && this.headLen < FUNC_MAX) this.headLen += this.buf.copy(this.head, this.headLen, start, Math.min(end, start + FUNC_MAX - this.headLen));
        this.pos = end;
        if (out && paint) {
          const wait = paint.text(out, this.buf, start, nl >= 0 ? nl : end);
          if (wait) await wait;
          const ended = nl >= 0 ? paint.end(out) : undefined;
          if (ended) await ended;
        } else {
          const wait = out?.(this.buf, start, end);
          if (wait) await wait;
        }
        if (nl >= 0) break;
        if (!(await this.fill())) {
          if (out && paint) {
            await paint.end(out);
            await out(paint.noNewline, 0, paint.noNewline.length);
          } else if (out) await out(NO_NEWLINE, 0, NO_NEWLINE.length);
          break;
        }
      }
      if (this.trackFuncname) this.noteFuncname();
      this.line++;
      after?.();
    }
  }

  /** git's default funcname rule (def_ff): the line starts with a letter, '_' or '$'. */
  private noteFuncname(): void {
    const c = this.head[0];
    if (this.headLen === 0 || c === undefined) return;
    const alpha = (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (!alpha && c !== 95 && c !== 36) return;
    let len = this.headLen;
    while (len > 0 && (this.head[len - 1] === 32 || (this.head[len - 1]! >= 9 && this.head[len - 1]! <= 13))) len--;
    this.head.copy(this.func, 0, 0, len);
    this.funcLen = len;
  }
}
