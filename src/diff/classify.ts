/**
 * Line classes: equal lines get the same class id, as in git's xdl_classify_record(). Only the
 * lines of the old side are interned; a line of the new side either finds its class (and counts
 * as an occurrence of it) or gets NO_CLASS — it cannot match anything, which is all the diff
 * needs to know about it. Memory is one slot per distinct old line.
 */

/** Class of a new-side line that occurs nowhere in the old side. */
export const NO_CLASS = -1;

const MAX_COUNT = 0xffff;
const LOAD = 0.7;
/** Bytes per hash slot (key halves and class id) and per class (two counters). */
const SLOT_BYTES = 12;
const CLASS_BYTES = 4;

export class ClassTable {
  private keyHi: Int32Array;
  private keyLo: Int32Array;
  private ids: Int32Array; // -1: empty slot
  /** Occurrences of each class in the old side (saturating; git compares with ≤ 1024). */
  countOld: Uint16Array;
  /** Occurrences of each class in the new side (saturating). */
  countNew: Uint16Array;
  /** Number of classes. */
  size = 0;

  constructor(expected: number, private readonly limitBytes: number) {
    const slots = Math.max(1024, Math.ceil(expected / LOAD));
    this.keyHi = new Int32Array(slots);
    this.keyLo = new Int32Array(slots);
    this.ids = new Int32Array(slots).fill(-1);
    this.countOld = new Uint16Array(Math.max(1024, expected));
    this.countNew = new Uint16Array(0);
  }

  /** Memory the table holds now. */
  get bytes(): number {
    return this.ids.length * SLOT_BYTES + this.countOld.length * CLASS_BYTES;
  }

  /** Class of an old-side line, created on first sight; -2 when the table would outgrow its limit. */
  addOld(h1: number, h2: number): number {
    if (this.size + 1 > this.ids.length * LOAD && !this.grow()) return -2;
    const slots = this.ids.length;
    let s = fastRange(h1 ^ h2, slots);
    for (;;) {
      const id = this.ids[s]!;
      if (id < 0) {
        const nid = this.size++;
        if (nid >= this.countOld.length) {
          const c = new Uint16Array(Math.ceil(this.countOld.length * 1.6));
          c.set(this.countOld);
          this.countOld = c;
        }
        this.ids[s] = nid;
        this.keyHi[s] = h1;
        this.keyLo[s] = h2;
        this.countOld[nid] = 1;
        return nid;
      }
      if (this.keyHi[s] === h1 && this.keyLo[s] === h2) {
        if (this.countOld[id]! < MAX_COUNT) this.countOld[id]!++;
        return id;
      }
      if (++s === slots) s = 0;
    }
  }

  /** Class of a new-side line (counting it), or NO_CLASS. Call after all old lines are added. */
  addNew(h1: number, h2: number): number {
    if (this.countNew.length < this.size) this.countNew = new Uint16Array(this.size);
    const slots = this.ids.length;
    let s = fastRange(h1 ^ h2, slots);
    for (;;) {
      const id = this.ids[s]!;
      if (id < 0) return NO_CLASS;
      if (this.keyHi[s] === h1 && this.keyLo[s] === h2) {
        if (this.countNew[id]! < MAX_COUNT) this.countNew[id]!++;
        return id;
      }
      if (++s === slots) s = 0;
    }
  }

  /** Drops the hash slots once every line is classified; the counters stay. */
  dropKeys(): void {
    this.keyHi = this.keyLo = this.ids = new Int32Array(0);
  }

  /** Rehashes into 1.6× the slots, unless that would pass the memory limit. */
  private grow(): boolean {
    const room = Math.floor((this.limitBytes - this.countOld.length * CLASS_BYTES) / SLOT_BYTES);
    const slots = Math.min(Math.ceil(this.ids.length * 1.6), room);
    if (slots <= this.ids.length * 1.05) return false;
    const { keyHi, keyLo, ids } = this;
    this.keyHi = new Int32Array(slots);
    this.keyLo = new Int32Array(slots);
    this.ids = new Int32Array(slots).fill(-1);
    for (let i = 0; i < ids.length; i++) {
      if (ids[i]! < 0) continue;
      let s = fastRange(keyHi[i]! ^ keyLo[i]!, slots);
      while (this.ids[s]! >= 0) if (++s === slots) s = 0;
      this.ids[s] = ids[i]!;
      this.keyHi[s] = keyHi[i]!;
      this.keyLo[s] = keyLo[i]!;
    }
    return true;
  }
}

/** Maps a 32-bit hash onto [0, n) without a division (Lemire's multiply-shift, on 24 bits). */
function fastRange(h: number, n: number): number {
  return Math.floor(((h >>> 8) * n) / 16777216);
}
