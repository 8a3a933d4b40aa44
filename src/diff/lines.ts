/**
 * Streaming line hashing. Each line (its bytes including the newline, if any) is reduced to a
 * 64-bit hash made of two independently mixed 32-bit halves, computed chunk by chunk so a line
 * may span chunks and no line or blob is ever held whole.
 */

/** git treats a blob as binary when a NUL appears in its first 8000 bytes. */
export const BINARY_SNIFF_BYTES = 8000;

/** Per-line callback: 64-bit hash as two int32 halves, the line's indent (255 = blank), its length. */
export type LineSink = (h1: number, h2: number, indent: number) => void;

/** Indent value for a line holding only whitespace (git's get_indent() returns -1). */
export const BLANK = 255;
const MAX_INDENT = 200;

const P1 = 0x9e3779b1 | 0;
const P2 = 0x85ebca77 | 0;
const P3 = 0xc2b2ae3d | 0;
const P4 = 0x27d4eb2f | 0;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * Splits a byte stream into lines and reports each line's hash to the sink. Feed chunks in
 * order with `push`, then call `end`. Also tracks git's binary test on the first 8000 bytes.
 */
export class LineHasher {
  /** Lines reported so far. */
  lines = 0;
  /** Bytes seen so far. */
  bytes = 0;
  /** A NUL byte was seen within the first 8000 bytes. */
  binary = false;
  /** The stream ended with a line that has no newline. */
  missingNewlineAtEnd = false;

  // State of the line in progress (it may span chunks).
  private h1 = 0;
  private h2 = 0;
  private len = 0;
  private indent = 0;
  private inIndent = true;
  private carry = 0; // up to 3 bytes not yet folded into the hash, little-endian
  private carryLen = 0;

  constructor(private readonly sink: LineSink) {
    this.reset();
  }

  private reset(): void {
    this.h1 = 0x165667b1;
    this.h2 = 0x2f1b3c4d;
    this.len = 0;
    this.indent = 0;
    this.inIndent = true;
    this.carry = 0;
    this.carryLen = 0;
  }

  push(chunk: Uint8Array): void {
    if (this.bytes < BINARY_SNIFF_BYTES && !this.binary) {
      const end = Math.min(chunk.length, BINARY_SNIFF_BYTES - this.bytes);
      if (chunk.subarray(0, end).indexOf(0) >= 0) this.binary = true;
    }
    this.bytes += chunk.length;
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const n = chunk.length;
    let s = 0;
    while (s < n) {
      let e = chunk.indexOf(10, s);
      const complete = e >= 0;
      e = complete ? e + 1 : n;
      this.feed(chunk, view, s, e);
      if (complete) this.finishLine();
      s = e;
    }
  }

  /** Signals end of stream; reports a last line without newline, if any. */
  end(): void {
    if (this.len > 0) {
      this.missingNewlineAtEnd = true;
      this.finishLine();
    }
  }

  /** Hashes bytes [s, e) of the current line. */
  private feed(buf: Uint8Array, view: DataView, s: number, e: number): void {
    if (s === e) return;
    if (this.inIndent) this.scanIndent(buf, s, e);
    this.len += e - s;
    let h1 = this.h1;
    let h2 = this.h2;
    let i = s;
    // Complete a word left over from the previous chunk byte by byte.
    if (this.carryLen > 0) {
      while (this.carryLen < 4 && i < e) this.carry |= buf[i++]! << (8 * this.carryLen++);
      if (this.carryLen < 4) return;
      const w = this.carry;
      h1 = Math.imul(h1 ^ w, P1);
      h1 = (h1 << 13) | (h1 >>> 19);
      h2 = Math.imul(h2 + w, P3) ^ (h2 >>> 15);
      this.carry = 0;
      this.carryLen = 0;
    }
    for (; i + 4 <= e; i += 4) {
      const w = view.getInt32(i, true);
      h1 = Math.imul(h1 ^ w, P1);
      h1 = (h1 << 13) | (h1 >>> 19);
      h2 = Math.imul(h2 + w, P3) ^ (h2 >>> 15);
    }
    this.h1 = h1;
    this.h2 = h2;
    while (i < e) this.carry |= buf[i++]! << (8 * this.carryLen++);
  }

  private scanIndent(buf: Uint8Array, s: number, e: number): void {
    let ind = this.indent;
    for (let i = s; i < e; i++) {
      const c = buf[i]!;
      if (c === 32) ind += 1;
      else if (c === 9) ind += 8 - (ind % 8);
      else if (c === 10 || c === 13 || c === 11 || c === 12) {
        /* other whitespace: no width */
      } else {
        this.inIndent = false;
        break;
      }
      if (ind >= MAX_INDENT) {
        ind = MAX_INDENT;
        this.inIndent = false;
        break;
      }
    }
    this.indent = ind;
  }

  private finishLine(): void {
    let h1 = this.h1;
    let h2 = this.h2;
    if (this.carryLen > 0) {
      const w = this.carry;
      h1 = Math.imul(h1 ^ w, P2);
      h2 = Math.imul(h2 + w, P4) ^ (h2 >>> 15);
    }
    h1 = fmix(h1 ^ this.len);
    h2 = fmix(Math.imul(h2 ^ (this.len * 0x9e37 + this.carryLen), P2));
    this.sink(h1, h2, this.inIndent ? BLANK : this.indent);
    this.lines++;
    this.reset();
  }
}
