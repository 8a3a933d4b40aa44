/**
 * Walks a blob's lines in order without holding any line whole: lines are skipped or copied
 * to an output callback in the chunks they arrive in.
 */
export type Out = (b: Buffer) => void;

const NO_NEWLINE = Buffer.from('\n\\ No newline at end of file\n');
const FUNC_MAX = 80;

export class LineCursor {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private done = false;
  /** Index of the next line. */
  line = 0;
  /** Start (up to 80 bytes) of the last line that qualifies as a hunk-header function name. */
  funcname: Buffer | null = null;

  constructor(
    private readonly it: AsyncIterator<Buffer>,
    private readonly trackFuncname = false,
  ) {}

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
    while (this.line < to) await this.copyLine(null, null);
  }

  /** Copies `n` lines, each preceded by `prefix`, to `out`. */
  async emit(n: number, prefix: Buffer, out: Out): Promise<void> {
    for (let k = 0; k < n; k++) await this.copyLine(prefix, out);
  }

  private async copyLine(prefix: Buffer | null, out: Out | null): Promise<void> {
    if (!(await this.fill())) throw new Error(`blob ended before line ${this.line + 1}`);
    if (prefix && out) out(prefix);
    let head: Buffer | null = this.trackFuncname ? Buffer.alloc(0) : null;
    for (;;) {
      const nl = this.buf.indexOf(10, this.pos);
      const end = nl >= 0 ? nl + 1 : this.buf.length;
      const piece = this.buf.subarray(this.pos, end);
      if (out) out(piece);
      if (head !== null && head.length < FUNC_MAX) head = Buffer.concat([head, piece.subarray(0, FUNC_MAX - head.length)]);
      this.pos = end;
      if (nl >= 0) break;
      if (!(await this.fill())) {
        if (out) out(NO_NEWLINE);
        break;
      }
    }
    if (head !== null) this.noteFuncname(head);
    this.line++;
  }

  /** git's default funcname rule (def_ff): the line starts with a letter, '_' or '$'. */
  private noteFuncname(head: Buffer): void {
    const c = head[0];
    if (c === undefined) return;
    const alpha = (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (!alpha && c !== 95 && c !== 36) return;
    let len = head.length;
    while (len > 0 && (head[len - 1] === 32 || head[len - 1] === 9 || head[len - 1] === 10 || head[len - 1] === 13 || head[len - 1] === 11 || head[len - 1] === 12)) len--;
    this.funcname = Buffer.from(head.subarray(0, len));
  }
}
