/**
 * Line classes: equal lines get the same class id, as in git's xdl_classify_record(). A Bloom
 * filter of the old side's lines screens the new side, so only new lines that may occur in the
 * old side are interned; the old side is then looked up against those. Lines found on one side
 * only get a sentinel class: they cannot match anything, which is all the diff needs to know.
 * Memory: one slot per distinct candidate line, not per line.
 */

/** Class of a new-side line that occurs nowhere in the old side. */
export const NEW_ONLY = -1;
/** Class of an old-side line that occurs nowhere in the new side. */
export const OLD_ONLY = -2;

const MAX_COUNT = 0xffff;
/** Load factor the table grows at, and the one it may reach when memory allows no growth. */
const LOAD = 0.75;
const MAX_LOAD = 0.9;
/** A slot is three int32 side by side (hash halves, class id + 1; 0 = empty): one cache line. */
const SLOT_BYTES = 12;

/**
 * Screens lines: "certainly absent" or "maybe present". A blocked Bloom filter: each line sets
 * 3 bits inside one 512-bit block, so a test costs one cache line; 8 to 16 bits a line give
 * 1-4 % false positives, which only cost a class-table entry each.
 */
export class LineFilter {
  private readonly bits: Int32Array;
  private readonly blocks: number;
  /** `reuse`: a previous filter's bit array, cleared and used again when large enough. */
  constructor(expectedLines: number, maxBytes: number, reuse?: Int32Array) {
    let nbits = 1 << 16;
    while (nbits < expectedLines * 8 && nbits / 8 < maxBytes / 2) nbits *= 2;
    this.bits = reuse && reuse.length >= nbits / 32 ? reuse.subarray(0, nbits / 32).fill(0) : new Int32Array(nbits / 32);
    this.blocks = nbits / 512;
  }
  /** The bit array, for reuse by the next filter. */
  get words(): Int32Array {
    return this.bits;
  }
  get bytes(): number {
    return this.bits.byteLength;
  }
  add(hi: Int32Array, lo: Int32Array, count: number): void {
    const bits = this.bits;
    const mask = this.blocks - 1;
    for (let k = 0; k < count; k++) {
      const y = lo[k]!;
      const base = (hi[k]! & mask) << 4;
      let b = y & 511;
      bits[base + (b >>> 5)] |= 1 << (b & 31);
      b = (y >>> 9) & 511;
      bits[base + (b >>> 5)] |= 1 << (b & 31);
      b = (y >>> 18) & 511;
      bits[base + (b >>> 5)] |= 1 << (b & 31);
    }
  }
  has(x: number, y: number): boolean {
    const bits = this.bits;
    const base = (x & (this.blocks - 1)) << 4;
    let b = y & 511;
    if ((bits[base + (b >>> 5)]! & (1 << (b & 31))) === 0) return false;
    b = (y >>> 9) & 511;
    if ((bits[base + (b >>> 5)]! & (1 << (b & 31))) === 0) return false;
    b = (y >>> 18) & 511;
    return (bits[base + (b >>> 5)]! & (1 << (b & 31))) !== 0;
  }
}

export class ClassTable {
  private slots: Int32Array;
  private nslots: number;
  /** Occurrences of each class in the new side (saturating; git compares with ≤ 1024). */
  countNew: Uint16Array;
  /** Occurrences of each class in the old side (saturating). */
  countOld: Uint16Array;
  /** Number of classes. */
  size = 0;

  constructor(expected: number, private readonly limitBytes: number) {
    this.nslots = Math.max(1024, Math.min(Math.ceil(expected / LOAD), Math.floor(limitBytes / (SLOT_BYTES + 2))));
    this.slots = new Int32Array(this.nslots * 3);
    this.countNew = new Uint16Array(Math.max(1024, Math.min(expected, this.nslots)));
    this.countOld = new Uint16Array(0);
  }

  /** Memory the table holds now. */
  get bytes(): number {
    return this.slots.byteLength + this.countNew.byteLength + this.countOld.byteLength;
  }

  /**
   * Classifies a batch of new-side lines into `out` (at `at`): lines the filter rules out get
   * NEW_ONLY, the others are interned. Returns false when the table would pass its limit.
   */
  addNew(hi: Int32Array, lo: Int32Array, count: number, filter: LineFilter, out: Int32Array, at: number): boolean {
    for (let k = 0; k < count; k++) {
      const h1 = hi[k]!;
      const h2 = lo[k]!;
      if (!filter.has(h1, h2)) {
        out[at + k] = NEW_ONLY;
        continue;
      }
      if (this.size + 1 > this.nslots * LOAD && !this.grow() && this.size + 1 > this.nslots * MAX_LOAD) return false;
      const slots = this.slots;
      const n = this.nslots;
      let s = fastRange(h1 ^ h2, n);
      for (;;) {
        const p = s * 3;
        const id1 = slots[p + 2]!;
        if (id1 === 0) {
          const nid = this.size++;
          if (nid >= this.countNew.length) {
            const c = new Uint16Array(Math.ceil(this.countNew.length * 1.5));
            c.set(this.countNew);
            this.countNew = c;
          }
          slots[p] = h1;
          slots[p + 1] = h2;
          slots[p + 2] = nid + 1;
          this.countNew[nid] = 1;
          out[at + k] = nid;
          break;
        }
        if (slots[p] === h1 && slots[p + 1] === h2) {
          const id = id1 - 1;
          if (this.countNew[id]! < MAX_COUNT) this.countNew[id]!++;
          out[at + k] = id;
          break;
        }
        if (++s === n) s = 0;
      }
    }
    return true;
  }

  /** Classifies a batch of old-side lines (class or OLD_ONLY) into `out`. */
  classifyOld(hi: Int32Array, lo: Int32Array, count: number, out: Int32Array, at: number): void {
    const slots = this.slots;
    const n = this.nslots;
    for (let k = 0; k < count; k++) {
      const h1 = hi[k]!;
      const h2 = lo[k]!;
      let s = fastRange(h1 ^ h2, n);
      for (;;) {
        const p = s * 3;
        const id1 = slots[p + 2]!;
        if (id1 === 0) {
          out[at + k] = OLD_ONLY;
          break;
        }
        if (slots[p] === h1 && slots[p + 1] === h2) {
          out[at + k] = id1 - 1;
          break;
        }
        if (++s === n) s = 0;
      }
    }
  }

  /** Counts the old side's occurrences of each class from its classified lines. */
  countOldFrom(classes: Int32Array, count: number): void {
    const countOld = new Uint16Array(this.size);
    for (let i = 0; i < count; i++) {
      const c = classes[i]!;
      if (c >= 0 && countOld[c]! < MAX_COUNT) countOld[c]!++;
    }
    this.countOld = countOld;
  }

  /** Whether any old-side line matched an interned class. */
  anyOld(): boolean {
    for (let i = 0; i < this.size; i++) if (this.countOld[i] !== 0) return true;
    return false;
  }

  /** Drops the hash slots once every line is classified; the counters stay. */
  dropKeys(): void {
    this.slots = new Int32Array(0);
    this.nslots = 0;
  }

  /** Rehashes into up to 2× the slots, staying under the memory limit. */
  private grow(): boolean {
    const room = Math.floor((this.limitBytes - this.countNew.byteLength * 2) / SLOT_BYTES);
    const n = Math.min(this.nslots * 2, room);
    if (n <= this.nslots * 1.05) return false;
    const old = this.slots;
    const next = new Int32Array(n * 3);
    for (let p = 0; p < old.length; p += 3) {
      if (old[p + 2] === 0) continue;
      let s = fastRange(old[p]! ^ old[p + 1]!, n);
      while (next[s * 3 + 2] !== 0) if (++s === n) s = 0;
      next[s * 3] = old[p]!;
      next[s * 3 + 1] = old[p + 1]!;
      next[s * 3 + 2] = old[p + 2]!;
    }
    this.slots = next;
    this.nslots = n;
    return true;
  }
}

/** Maps a 32-bit hash onto [0, n) without a division (Lemire's multiply-shift, on 24 bits). */
function fastRange(h: number, n: number): number {
  return Math.floor(((h >>> 8) * n) / 16777216);
}
