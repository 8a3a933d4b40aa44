/**
 * Streaming line hashing. Each line (its bytes including the newline, if any) is reduced to a
 * 64-bit hash made of two independently mixed 32-bit halves, computed chunk by chunk so a line
 * may span chunks and no line or blob is ever held whole. A line's 4-byte words go to two
 * lanes in turn (even and odd words), each with both halves, joined at the line's end: two
 * independent chains of multiplications run side by side, twice as fast as one. Hashes of the lines completed by a
 * chunk are returned in reusable batch arrays, so callers run tight loops over integers.
 */

/** git treats a blob as binary when a NUL appears in its first 8000 bytes. */
export const BINARY_SNIFF_BYTES = 8000;

/** Indent value for a line holding only whitespace (git's get_indent() returns -1). */
export const BLANK = 255;
const MAX_INDENT = 200;

const P1 = 0x9e3779b1 | 0;
const P2 = 0x85ebca77 | 0;
const P3 = 0xc2b2ae3d | 0;
const P4 = 0x27d4eb2f | 0;
const SEED1 = 0x165667b1;
const SEED2 = 0x2f1b3c4d;
const SEED3 = 0x5bd1e995;
const SEED4 = 0x1b873593;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

export class LineHasher {
  /** Lines completed so far. */
  lines = 0;
  /** Bytes seen so far. */
  bytes = 0;
  /** A NUL byte was seen within the first 8000 bytes. */
  binary = false;
  /** The stream ended with a line that has no newline. */
  missingNewlineAtEnd = false;
  /** Batch output of the last push/end: hash halves and indents of `count` lines. */
  hi: Int32Array;
  lo: Int32Array;
  indent: Uint8Array;

  // The line in progress (it may span chunks): the even words' lane (a), the odd words' (b).
  private a1 = SEED1;
  private a2 = SEED2;
  private b1 = SEED3;
  private b2 = SEED4;
  private len = 0;
  private ind = 0;
  private inIndent = true;
  private carry = 0; // up to 3 bytes not yet folded into the hash, little-endian
  private carryLen = 0;
  /** Where the last whole line of the current chunk ended. */
  private next = 0;

  constructor(
    maxChunk: number,
    private readonly wantIndent: boolean,
  ) {
    this.hi = new Int32Array(maxChunk + 1);
    this.lo = new Int32Array(maxChunk + 1);
    this.indent = new Uint8Array(wantIndent ? maxChunk + 1 : 0);
  }

  /** Starts over for another stream, keeping the batch arrays. */
  reset(): void {
    this.lines = 0;
    this.bytes = 0;
    this.binary = false;
    this.missingNewlineAtEnd = false;
    this.a1 = SEED1;
    this.a2 = SEED2;
    this.b1 = SEED3;
    this.b2 = SEED4;
    this.len = 0;
    this.ind = 0;
    this.inIndent = true;
    this.carry = 0;
    this.carryLen = 0;
  }

  /**
   * Consumes a chunk of any size, maxChunk bytes at a time, handing each batch's line count
   * to `take` (which reads the batch arrays before the next one overwrites them).
   */
  pushEach(chunk: Uint8Array, take: (lines: number) => void): void {
    const max = this.hi.length - 1;
    if (chunk.length <= max) take(this.push(chunk));
    else for (let o = 0; o < chunk.length; o += max) take(this.push(chunk.subarray(o, o + max)));
  }

  /** Consumes a chunk (at most maxChunk bytes); returns how many lines it completed. */
  push(chunk: Uint8Array): number {
    if (this.bytes < BINARY_SNIFF_BYTES && !this.binary) {
      const end = Math.min(chunk.length, BINARY_SNIFF_BYTES - this.bytes);
      if (chunk.subarray(0, end).indexOf(0) >= 0) this.binary = true;
    }
    this.bytes += chunk.length;
    const n = chunk.length;
    let count = 0;
    let s = 0;
    if (this.len > 0) {
      // The line the previous chunk left open.
      const nl = chunk.indexOf(10);
      s = nl >= 0 ? nl + 1 : n;
      this.feed(chunk, 0, s);
      if (nl < 0) return 0;
      this.emit(0);
      count = 1;
    }
    count = this.wholeLines(chunk, s, count);
    // The open line at the end: its state is carried into the next chunk.
    if (this.next < n) this.feed(chunk, this.next, n);
    this.lines += count;
    return count;
  }

  /**
   * Hashes the lines that start at `s` and end inside the chunk, into the batch from `count`
   * on; returns the batch's new count. Kept apart from the lines that span chunks so that
   * this loop, where nearly all the time goes, has no carried state and stays one shape.
   * Sets `next` to where the open line at the end starts.
   */
  private wholeLines(chunk: Uint8Array, s: number, count: number): number {
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const hi = this.hi;
    const lo = this.lo;
    const indent = this.wantIndent ? this.indent : null;
    this.next = s;
    for (let nl = chunk.indexOf(10, s); nl >= 0; nl = chunk.indexOf(10, s)) {
      const e = nl + 1;
      let a1 = SEED1;
      let a2 = SEED2;
      let b1 = SEED3;
      let b2 = SEED4;
      let i = s;
      for (; i + 8 <= e; i += 8) {
        const w = view.getInt32(i, true);
        const v = view.getInt32(i + 4, true);
        a1 = Math.imul(a1 ^ w, P1);
        a1 = (a1 << 13) | (a1 >>> 19);
        a2 = Math.imul((a2 + w) | 0, P3) ^ (a2 >>> 15);
        b1 = Math.imul(b1 ^ v, P1);
        b1 = (b1 << 13) | (b1 >>> 19);
        b2 = Math.imul((b2 + v) | 0, P3) ^ (b2 >>> 15);
      }
      if (i + 4 <= e) {
        const w = view.getInt32(i, true);
        a1 = Math.imul(a1 ^ w, P1);
        a1 = (a1 << 13) | (a1 >>> 19);
        a2 = Math.imul((a2 + w) | 0, P3) ^ (a2 >>> 15);
        i += 4;
      }
      let h1 = a1 ^ ((b1 << 7) | (b1 >>> 25));
      let h2 = (a2 + Math.imul(b2, P4)) | 0;
      const tail = e - i;
      if (tail > 0) {
        let carry = 0;
        for (let c = 0; i < e; c += 8) carry |= chunk[i++]! << c;
        h1 = Math.imul(h1 ^ carry, P2);
        h2 = Math.imul((h2 + carry) | 0, P4) ^ (h2 >>> 15);
      }
      const len = e - s;
      hi[count] = fmix(h1 ^ len);
      lo[count] = fmix(Math.imul(h2 ^ ((Math.imul(len, 0x9e37) + tail) | 0), P2));
      if (indent !== null) indent[count] = indentOf(chunk, s, e);
      count++;
      s = e;
      this.next = e; // set here, not after the loop: code after a hot loop may have no type feedback yet
    }
    return count;
  }

  /** Adds bytes [s, e) to the open line, a word at a time, carrying up to 3 bytes over. */
  private feed(chunk: Uint8Array, s: number, e: number): void {
    if (this.wantIndent && this.inIndent) this.scanIndent(chunk, s, e);
    let a1 = this.a1;
    let a2 = this.a2;
    let b1 = this.b1;
    let b2 = this.b2;
    let carry = this.carry;
    let cl = this.carryLen;
    let odd = (this.len & 4) !== 0; // the word being filled is an odd one
    let i = s;
    // Bytes one at a time while a word is incomplete, whole words once the carry is empty.
    while (i < e) {
      let w: number;
      if (cl === 0 && i + 4 <= e) {
        const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        if (!odd) {
          for (; i + 8 <= e; i += 8) {
            const x = view.getInt32(i, true);
            const v = view.getInt32(i + 4, true);
            a1 = Math.imul(a1 ^ x, P1);
            a1 = (a1 << 13) | (a1 >>> 19);
            a2 = Math.imul((a2 + x) | 0, P3) ^ (a2 >>> 15);
            b1 = Math.imul(b1 ^ v, P1);
            b1 = (b1 << 13) | (b1 >>> 19);
            b2 = Math.imul((b2 + v) | 0, P3) ^ (b2 >>> 15);
          }
          if (i + 4 > e) continue;
        }
        w = view.getInt32(i, true);
        i += 4;
      } else {
        carry |= chunk[i++]! << (8 * cl++);
        if (cl < 4) continue;
        w = carry;
        carry = 0;
        cl = 0;
      }
      if (odd) {
        b1 = Math.imul(b1 ^ w, P1);
        b1 = (b1 << 13) | (b1 >>> 19);
        b2 = Math.imul((b2 + w) | 0, P3) ^ (b2 >>> 15);
      } else {
        a1 = Math.imul(a1 ^ w, P1);
        a1 = (a1 << 13) | (a1 >>> 19);
        a2 = Math.imul((a2 + w) | 0, P3) ^ (a2 >>> 15);
      }
      odd = !odd;
    }
    this.a1 = a1;
    this.a2 = a2;
    this.b1 = b1;
    this.b2 = b2;
    this.carry = carry;
    this.carryLen = cl;
    this.len += e - s;
  }

  /** Completes the open line into batch slot `k`, and starts a new one. */
  private emit(k: number): void {
    let h1 = this.a1 ^ ((this.b1 << 7) | (this.b1 >>> 25));
    let h2 = (this.a2 + Math.imul(this.b2, P4)) | 0;
    const len = this.len;
    if (this.carryLen > 0) {
      h1 = Math.imul(h1 ^ this.carry, P2);
      h2 = Math.imul((h2 + this.carry) | 0, P4) ^ (h2 >>> 15);
    }
    this.hi[k] = fmix(h1 ^ len);
    this.lo[k] = fmix(Math.imul(h2 ^ ((Math.imul(len, 0x9e37) + this.carryLen) | 0), P2));
    if (this.wantIndent) this.indent[k] = this.inIndent ? BLANK : this.ind;
    this.a1 = SEED1;
    this.a2 = SEED2;
    this.b1 = SEED3;
    this.b2 = SEED4;
    this.len = 0;
    this.ind = 0;
    this.inIndent = true;
    this.carry = 0;
    this.carryLen = 0;
  }

  /** Ends the stream; returns 1 when a last line without newline was completed (in the batch). */
  end(): number {
    if (this.len === 0) return 0;
    this.missingNewlineAtEnd = true;
    this.emit(0);
    this.lines++;
    return 1;
  }

  private scanIndent(buf: Uint8Array, s: number, e: number): void {
    let ind = this.ind;
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
    this.ind = ind;
  }
}

/** git's indent measure of a whole line [s, e) (its newline included): BLANK for whitespace only. */
function indentOf(buf: Uint8Array, s: number, e: number): number {
  let ind = 0;
  for (let i = s; i < e; i++) {
    const c = buf[i]!;
    if (c === 32) ind += 1;
    else if (c === 9) ind += 8 - (ind % 8);
    else if (c !== 10 && c !== 13 && c !== 11 && c !== 12) return ind;
    if (ind >= MAX_INDENT) return MAX_INDENT;
  }
  return BLANK;
}
