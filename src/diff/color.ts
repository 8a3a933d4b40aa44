/**
 * git's default diff colours, applied to lines as they stream (a line is never held whole):
 * headers bold, hunk ranges cyan, removed lines red, added lines green, and on added lines
 * git's default whitespace errors (core.whitespace unset: blank-at-eol, space-before-tab,
 * blank-at-eof) on a red background — byte for byte what `git diff --color=always` prints.
 */
import type { LinePainter, Out } from './line-cursor.js';

export const COLOR = {
  meta: '\x1b[1m',
  frag: '\x1b[36m',
  old: '\x1b[31m',
  new: '\x1b[32m',
  whitespace: '\x1b[41m',
  reset: '\x1b[m',
} as const;

const RESET = Buffer.from(COLOR.reset);
const NEW = Buffer.from(COLOR.new);
const WHITESPACE = Buffer.from(COLOR.whitespace);
const NEWLINE = Buffer.from('\n');
const CR_NEWLINE = Buffer.from('\r\n');
const RESET_NEWLINE = Buffer.from(`${COLOR.reset}\n`);
const RESET_CR_NEWLINE = Buffer.from(`${COLOR.reset}\r\n`);

/** Longest whitespace run held back while it may turn out to be trailing (pathological lines only). */
const MAX_PENDING = 64 * 1024;

/** `text` wrapped line by line in `color` ... reset, as git paints header lines. */
export function paintLines(text: string, color: string): string {
  return text.replace(/([^\n]*)\n/g, `${color}$1${COLOR.reset}\n`);
}

/** The hunk header `@@ -a,b +c,d @@` in cyan, the function name after it uncoloured. */
export function paintHunkHeader(ranges: string, func: Buffer | null): Buffer {
  if (!func || func.length === 0) return Buffer.from(`${COLOR.frag}${ranges}${COLOR.reset}\n`);
  return Buffer.concat([Buffer.from(`${COLOR.frag}${ranges}${COLOR.reset} ${COLOR.reset}`), func, RESET_NEWLINE]);
}

const NO_NEWLINE = Buffer.from(`\\ No newline at end of file${COLOR.reset}\n`);

type Wait = Promise<void> | undefined;

/**
 * Hands `b[start, end)` to `out`. Several pieces of one line are handed over without waiting
 * in between (out copies them at once); the caller waits on the last wait returned.
 */
function put(out: Out, b: Buffer, start = 0, end = b.length, wait?: Wait): Wait {
  return end > start ? (out(b, start, end) ?? wait) : wait;
}

/**
 * Context, removed lines and blank lines added at the end of a file: `<colour><sign>text<reset>`,
 * a carriage return before the newline kept outside the colour (git's emit_line_0).
 */
export class PlainPaint implements LinePainter {
  readonly noNewline = NO_NEWLINE;
  private readonly start: Buffer;
  private cr = false;

  constructor(color: string, sign: string) {
    this.start = Buffer.from(color + sign);
  }

  begin(out: Out): Wait {
    this.cr = false;
    return put(out, this.start);
  }

  text(out: Out, b: Buffer, start: number, end: number): Wait {
    if (end <= start) return undefined;
    const w = this.cr ? put(out, CR_NEWLINE, 0, 1) : undefined;
    this.cr = b[end - 1] === 13;
    return put(out, b, start, this.cr ? end - 1 : end, w);
  }

  end(out: Out): Wait {
    const w = put(out, this.cr ? RESET_CR_NEWLINE : RESET_NEWLINE);
    this.cr = false;
    return w;
  }
}

/** git's isspace(): space, tab, LF and CR (not VT or FF). */
function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10;
}

/**
 * Added lines, as git's ws_check_emit() paints them: `+` in green, then the leading indent
 * (tabs uncoloured, spaces before a tab on red), the text in green, trailing whitespace on red.
 * Whitespace is held back only while it may still be trailing.
 */
export class AddedPaint implements LinePainter {
  readonly noNewline = NO_NEWLINE;
  private static readonly SIGN = Buffer.from(`${COLOR.new}+${COLOR.reset}`);
  /** Still in the leading whitespace (nothing else seen yet). */
  private leading = true;
  /** Whitespace not yet written: all of the leading run, or the run since the last text. */
  private pending: Buffer = Buffer.alloc(256);
  private pendingLen = 0;
  /** The green text segment is open. */
  private open = false;

  begin(out: Out): Wait {
    this.leading = true;
    this.pendingLen = 0;
    this.open = false;
    return put(out, AddedPaint.SIGN);
  }

  text(out: Out, b: Buffer, start: number, end: number): Wait {
    let w: Wait;
    let i = start;
    while (i < end) {
      // A run of whitespace is held back; text flushes it.
      let j = i;
      while (j < end && isSpace(b[j]!)) j++;
      if (j > i) {
        this.hold(b, i, j);
        if (this.pendingLen > MAX_PENDING) w = this.flushPending(out, w);
        i = j;
        continue;
      }
      while (j < end && !isSpace(b[j]!)) j++;
      w = this.flushPending(out, w);
      if (!this.open) {
        w = put(out, NEW, 0, NEW.length, w);
        this.open = true;
      }
      w = put(out, b, i, j, w);
      i = j;
    }
    return w;
  }

  end(out: Out): Wait {
    // What is still pending is trailing whitespace (or the whole line was whitespace).
    let w: Wait;
    if (this.open) w = put(out, RESET);
    if (this.pendingLen) {
      w = put(out, WHITESPACE, 0, WHITESPACE.length, w);
      w = put(out, this.pending, 0, this.pendingLen, w);
      w = put(out, RESET, 0, RESET.length, w);
    }
    this.pendingLen = 0;
    this.open = false;
    return put(out, NEWLINE, 0, 1, w);
  }

  private hold(b: Buffer, start: number, end: number): void {
    const need = this.pendingLen + end - start;
    if (need > this.pending.length) {
      const bigger = Buffer.alloc(Math.max(need, this.pending.length * 2));
      this.pending.copy(bigger, 0, 0, this.pendingLen);
      this.pending = bigger;
    }
    this.pendingLen += b.copy(this.pending, this.pendingLen, start, end);
  }

  /** Text follows the pending whitespace: it is not trailing, write it. */
  private flushPending(out: Out, w: Wait): Wait {
    let from = 0;
    if (this.leading) {
      this.leading = false;
      // The indent: each tab ends a stretch; spaces right before a tab are an error.
      let written = 0;
      for (let i = 0; i < this.pendingLen; i++) {
        const c = this.pending[i]!;
        if (c === 32) continue;
        if (c !== 9) break;
        if (written < i) {
          w = put(out, WHITESPACE, 0, WHITESPACE.length, w);
          w = put(out, this.pending, written, i, w);
          w = put(out, RESET, 0, RESET.length, w);
        }
        w = put(out, this.pending, i, i + 1, w);
        written = i + 1;
      }
      from = written;
    }
    if (from < this.pendingLen) {
      if (!this.open) {
        w = put(out, NEW, 0, NEW.length, w);
        this.open = true;
      }
      w = put(out, this.pending, from, this.pendingLen, w);
    }
    this.pendingLen = 0;
    if (this.pending.length > 4096) this.pending = Buffer.alloc(256);
    return w;
  }
}

/** One painter per kind of line, for one patch. */
export interface Painters {
  context: LinePainter;
  old: LinePainter;
  added: LinePainter;
  /** A blank line added at the end of the file (git's blank-at-eof): all on red. */
  blankAtEof: LinePainter;
}

export function painters(): Painters {
  return { context: new PlainPaint('', ' '), old: new PlainPaint(COLOR.old, '-'), added: new AddedPaint(), blankAtEof: new PlainPaint(COLOR.whitespace, '+') };
}
