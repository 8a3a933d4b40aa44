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
/**
 * A table smaller than this grows at half full instead: with linear probing a miss scans
 * about 8 slots at 0.75 but 2.5 at 0.5, and a rewrite's table (the filter's false positives)
 * is looked up once for every old line, nearly always missing.
 */
const SPARSE_BYTES = 4 * 1024 * 1024;
const SPARSE_LOAD = 0.5;
/** Load factor of a FirstLineTable, sized once for a known number of lines. */
const FIRST_LINE_LOAD = 0.85;
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

/** Which file a batch of lines comes from. */
export type FileSide = 'old' | 'new';

/**
 * Equal lines get equal class ids (hash → id, open addressing), with per-class occurrence
 * counts for each side. Lines are interned from one side and looked up from the other.
 */
export class ClassTable {
  private slots: Int32Array;
  private nslots: number;
  /** Occurrences of each class in the old side (saturating; git compares with ≤ 1024). */
  countOld: Uint16Array;
  /** Occurrences of each class in the new side (saturating). */
  countNew: Uint16Array;
  /** Number of classes. */
  size = 0;

  /** Room for `expected` classes at first; the table never grows past `limitBytes`. */
  constructor(expected: number, private readonly limitBytes: number) {
    this.nslots = Math.max(1024, Math.min(Math.ceil(expected / loadFor(expected / LOAD)), Math.floor(limitBytes / (SLOT_BYTES + 4))));
    this.slots = new Int32Array(this.nslots * 3);
    const counters = Math.max(1024, Math.min(expected, this.nslots));
    this.countOld = new Uint16Array(counters);
    this.countNew = new Uint16Array(counters);
  }

  /** Memory the table holds now. */
  get bytes(): number {
    return this.slots.byteLength + this.countNew.byteLength + this.countOld.byteLength;
  }

  /**
   * Interns a batch of `side` lines, writing their classes to `out` (at `at`) and counting
   * them; lines `screen` rules out get the side's sentinel instead. Returns false when the
   * table would pass its limit.
   */
  intern(hi: Int32Array, lo: Int32Array, count: number, side: FileSide, screen: LineFilter | null, out: Int32Array, at: number): boolean {
    const none = side === 'old' ? OLD_ONLY : NEW_ONLY;
    let counts = side === 'old' ? this.countOld : this.countNew;
    for (let k = 0; k < count; k++) {
      const h1 = hi[k]!;
      const h2 = lo[k]!;
      if (screen !== null && !screen.has(h1, h2)) {
        out[at + k] = none;
        continue;
      }
      if (this.size + 1 > this.nslots * loadFor(this.nslots) && !this.grow() && this.size + 1 > this.nslots * MAX_LOAD) return false;
      const p = this.slotOf(h1, h2) * 3;
      if (this.slots[p + 2] === 0) {
        const nid = this.size++;
        if (nid >= this.countNew.length) {
          this.widenCounters();
          counts = side === 'old' ? this.countOld : this.countNew;
        }
        this.slots[p] = h1;
        this.slots[p + 1] = h2;
        this.slots[p + 2] = nid + 1;
      }
      const c = this.slots[p + 2]! - 1;
      out[at + k] = c;
      // Counted here, not in a second loop: a loop after a long one may run unoptimized.
      if (counts[c]! < MAX_COUNT) counts[c]!++;
    }
    return true;
  }

  /** Looks up a batch of `side` lines: their class (counted), or the side's sentinel. */
  lookup(hi: Int32Array, lo: Int32Array, count: number, side: FileSide, out: Int32Array, at: number): void {
    const none = side === 'old' ? OLD_ONLY : NEW_ONLY;
    const counts = side === 'old' ? this.countOld : this.countNew;
    for (let k = 0; k < count; k++) {
      const id = this.slots[this.slotOf(hi[k]!, lo[k]!) * 3 + 2]! - 1;
      if (id < 0) out[at + k] = none;
      else {
        out[at + k] = id;
        if (counts[id]! < MAX_COUNT) counts[id]!++;
      }
    }
  }

  /** The slot holding this hash, or the empty slot where it would go. */
  private slotOf(h1: number, h2: number): number {
    const slots = this.slots;
    const n = this.nslots;
    for (let s = fastRange(h1 ^ h2, n); ; s = s + 1 === n ? 0 : s + 1) {
      const p = s * 3;
      if (slots[p + 2] === 0 || (slots[p] === h1 && slots[p + 1] === h2)) return s;
    }
  }

  /** Whether some class occurs in both files. */
  anyCommon(): boolean {
    for (let i = 0; i < this.size; i++) if (this.countOld[i] !== 0 && this.countNew[i] !== 0) return true;
    return false;
  }

  /** Drops the hash slots once every line is classified; the counters stay. */
  dropKeys(): void {
    this.slots = new Int32Array(0);
    this.nslots = 0;
  }

  /** Drops the counters once lines are screened. */
  dropCounts(): void {
    this.countOld = this.countNew = new Uint16Array(0);
  }

  private widenCounters(): void {
    const n = Math.ceil(this.countNew.length * 1.5);
    const old = new Uint16Array(n);
    old.set(this.countOld);
    this.countOld = old;
    const fresh = new Uint16Array(n);
    fresh.set(this.countNew);
    this.countNew = fresh;
  }

  /** Makes room for `expected` classes in all, as far as the memory limit allows. */
  reserve(expected: number): void {
    const want = Math.ceil(expected / loadFor(expected / LOAD));
    if (want > this.nslots * 1.05) this.grow(want);
  }

  /** Rehashes into more slots (twice as many by default), staying under the memory limit. */
  private grow(want = this.nslots * 2): boolean {
    const room = Math.floor((this.limitBytes - this.countNew.byteLength * 3) / SLOT_BYTES);
    const n = Math.min(want, room);
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

/**
 * Classes of a file whose lines are all interned: a line's class is the index of the first
 * line equal to it, and a slot holds only that index (4 bytes), the hashes being read from
 * the file's own hash columns. Those columns are borrowed: a repeated line's upper half is
 * overwritten by its class at once, a first line's only by `finish`, so until then every
 * first line still holds its hash for comparisons.
 */
export class FirstLineTable {
  private slots: Int32Array;
  private readonly nslots: number;
  /** Bit i: line i is the first of its class (its upper hash half is still a hash). */
  private readonly first: Uint8Array;
  /** Occurrences of each class (by first-line index) in the old side and in the new side. */
  countOld: Uint16Array;
  countNew: Uint16Array;

  /** Memory the table needs for `n` lines. */
  static bytesFor(n: number): number {
    return Math.ceil(n / FIRST_LINE_LOAD) * 4 + Math.ceil(n / 8) + 4 * n;
  }

  /** Interns the `n` old lines whose hash halves are `hi`, `lo`. */
  constructor(
    private readonly hi: Int32Array,
    private readonly lo: Int32Array,
    private readonly n: number,
  ) {
    this.nslots = Math.max(1024, Math.ceil(n / FIRST_LINE_LOAD));
    this.slots = new Int32Array(this.nslots);
    this.first = new Uint8Array(Math.ceil(n / 8));
    this.countOld = new Uint16Array(n);
    this.countNew = new Uint16Array(n);
    this.indexBits = Math.max(1, Math.ceil(Math.log2(n + 2)));
    this.indexMask = this.indexBits >= 32 ? -1 : (1 << this.indexBits) - 1;
    this.tagMask = this.indexBits >= 32 ? 0 : (1 << (32 - this.indexBits)) - 1;
    for (let k = 0; k < n; k++) {
      const s = this.slotOf(hi[k]!, lo[k]!);
      const v = this.slots[s]!;
      if (v === 0) {
        this.slots[s] = (k + 1) | ((lo[k]! & this.tagMask) << this.indexBits);
        this.first[k >>> 3]! |= 1 << (k & 7);
        this.countOld[k] = 1;
      } else {
        const r = (v & this.indexMask) - 1;
        hi[k] = r;
        if (this.countOld[r]! < MAX_COUNT) this.countOld[r]!++;
      }
    }
  }

  /**
   * A slot holds its first line's index + 1 in the low `indexBits` bits and, in the bits left
   * over, a tag of the line's hash: a probe that passes another line's slot is told apart by
   * the tag without reading that line's hash columns (a cache miss each, on big files).
   */
  private readonly indexBits: number;
  private readonly indexMask: number;
  private readonly tagMask: number;

  /** The slot holding the first line with this hash, or the empty slot where it would go. */
  private slotOf(h1: number, h2: number): number {
    const slots = this.slots;
    const ns = this.nslots;
    const bits = this.indexBits;
    const tag = h2 & this.tagMask;
    for (let s = fastRange(h1 ^ h2, ns); ; s = s + 1 === ns ? 0 : s + 1) {
      const v = slots[s]!;
      if (v === 0) return s;
      if (v >>> bits !== tag) continue;
      const r = (v & this.indexMask) - 1;
      if (this.hi[r] === h1 && this.lo[r] === h2) return s;
    }
  }

  get bytes(): number {
    return this.slots.byteLength + this.first.byteLength + this.countOld.byteLength + this.countNew.byteLength;
  }

  /** Looks up a batch of new lines: their class (counted), or NEW_ONLY. */
  lookup(hi: Int32Array, lo: Int32Array, count: number, out: Int32Array, at: number): void {
    const countNew = this.countNew;
    for (let k = 0; k < count; k++) {
      const v = this.slots[this.slotOf(hi[k]!, lo[k]!)]!;
      const r = v === 0 ? -1 : (v & this.indexMask) - 1;
      out[at + k] = r < 0 ? NEW_ONLY : r;
      if (r >= 0 && countNew[r]! < MAX_COUNT) countNew[r]!++;
    }
  }

  /** Drops the counters once lines are screened. */
  dropCounts(): void {
    this.countOld = this.countNew = new Uint16Array(0);
  }

  /** Whether some class occurs in both files. */
  anyCommon(): boolean {
    for (let i = 0; i < this.n; i++) if (this.countOld[i] !== 0 && this.countNew[i] !== 0) return true;
    return false;
  }

  /** Ends the lookups: the borrowed upper halves become the old side's classes; slots are freed. */
  finish(): Int32Array {
    for (let k = 0; k < this.n; k++) if (this.first[k >>> 3]! & (1 << (k & 7))) this.hi[k] = k;
    this.slots = new Int32Array(0);
    return this.hi;
  }
}

/** The load factor a table of `slots` slots grows at. */
function loadFor(slots: number): number {
  return slots * SLOT_BYTES < SPARSE_BYTES ? SPARSE_LOAD : LOAD;
}

/** Maps a 32-bit hash onto [0, n) without a division (Lemire's multiply-shift, on 24 bits). */
function fastRange(h: number, n: number): number {
  return Math.floor(((h >>> 8) * n) / 16777216);
}
