/**
 * Compares two blobs line by line in bounded memory, in two or three streaming passes:
 *   1. the old blob: a Bloom filter of its lines' 64-bit hashes, and the hashes themselves
 *      while they fit a third of the budget;
 *   2. the new blob. If most of its lines may match (an edit), the kept old hashes are
 *      interned first (a first-line table) and new lines looked up. Otherwise (a rewrite),
 *      lines the filter rules out can match nothing and the rest are interned;
 *   3. then the old side's lines are looked up against those classes: from the kept hashes,
 *      or by reading the old blob again when they did not fit (only if anything was interned).
 * Then git's preparation and Myers search run on per-line class ids, with runs of one-sided
 * lines squeezed when few lines match. Bodies pass through in chunks; only per-line integers
 * are kept, and sparsely while few lines can match: a generated file rewritten needs little
 * more than the filter and the old hashes.
 */
import { CHUNK_SIZE, LARGE_CHUNK, type ObjectReader } from '../git/objects.js';
import { reclaimArrays } from '../git/reclaim.js';
import { ClassTable, FirstLineTable, LineFilter, NEW_ONLY, OLD_ONLY } from './classify.js';
import { ByteList, IntList } from './int-list.js';
import { BINARY_SNIFF_BYTES, LineHasher } from './lines.js';
import { myersDiff } from './myers.js';
import { DISCARDED, KEPT, prepare, squeezeRuns, type PreparedSide } from './prepare.js';

/** git's core.bigFileThreshold default: larger blobs are treated as binary by `git diff`. */
export const BIG_FILE_THRESHOLD = 512 * 1024 * 1024;
/** Default work-memory budget for one file pair. */
export const DEFAULT_BUDGET = 48 * 1024 * 1024;
/**
 * Pairs with more lines than this free the arrays a phase leaves behind before the next
 * phase allocates (V8 frees array memory only when it collects, which a small heap rarely does).
 */
const RECLAIM_LINES = 1 << 18;
/** Arrays dropped at a phase's end are freed at once only from this size on. */
const RECLAIM_BYTES = 1 << 20;
/** Blobs this large in all leave arrays worth freeing before the next comparison. */
const BIG_PAIR = 16 * 1024 * 1024;
/** Lines in common below 1/SQUEEZE_RATIO of all lines: runs of one-sided lines are squeezed. */
const SQUEEZE_RATIO = 8;

/** A blob to compare. */
export interface BlobRef {
  oid: string;
  size: number;
  /** Content given directly instead of read from the store (gitlinks: "Subproject commit …"). */
  inline?: Buffer;
}

export interface Comparison {
  additions: number;
  deletions: number;
  binary: boolean;
  approximate: boolean;
  /** Present when `keepLines` was asked and the comparison was exact. */
  lines?: LineTables;
}

/** What a patch needs: per-line classes, indents and changed flags for both sides. */
export interface LineTables {
  classA: Int32Array;
  classB: Int32Array;
  indentA: Uint8Array;
  indentB: Uint8Array;
  rchgA: Uint8Array;
  rchgB: Uint8Array;
  nA: number;
  nB: number;
  /**
   * Every line of both sides changed: the class and changed-flag columns are left empty (there
   * is nothing to compare or slide, and a 128 MiB rewrite would need tens of MiB for them).
   */
  allChanged?: true;
}

export interface CompareOptions {
  budgetBytes?: number;
  keepLines?: boolean;
  /** Arrays reused from one comparison to the next (see Scratch). */
  scratch?: Scratch;
}

/**
 * Per-line arrays kept between comparisons of a run of files, so memory peaks at the largest
 * file instead of piling up while freed arrays wait for the collector. Line tables returned
 * with `keepLines` stay valid only until the next comparison using the same scratch.
 */
export class Scratch {
  readonly hi = new IntList(0);
  readonly lo = new IntList(0);
  filterWords?: Int32Array;
  readonly batch = new Int32Array(CHUNK_SIZE + 1);
  /** Gives the per-line arrays back (while nothing is compared, e.g. between pages of a patch). */
  release(): void {
    this.hi.release();
    this.lo.release();
    this.filterWords = undefined;
  }
}

class OverBudget extends Error {}

/**
 * Streams a blob's chunks (inline content or from the object reader), each at most `maxChunk`
 * bytes (inline content comes whole).
 */
export async function* blobChunks(reader: ObjectReader, blob: BlobRef, maxChunk = CHUNK_SIZE): AsyncGenerator<Buffer> {
  if (blob.inline) {
    yield blob.inline;
    return;
  }
  const obj = await reader.open(blob.oid, blob.size, maxChunk);
  yield* obj.body;
}

/** git's binary test on the part of the first 8000 bytes that `chunk` holds. */
function hasNul(chunk: Buffer, seen: number): boolean {
  return seen < BINARY_SNIFF_BYTES && chunk.subarray(0, BINARY_SNIFF_BYTES - seen).indexOf(0) >= 0;
}

/** git's binary test alone: a NUL in the first 8000 bytes, or a blob over 512 MiB. */
export async function isBinaryBlob(reader: ObjectReader, blob: BlobRef): Promise<boolean> {
  if (blob.size > BIG_FILE_THRESHOLD) return true;
  let seen = 0;
  for await (const chunk of blobChunks(reader, blob)) {
    // The rest of the body is left unread; the reader drains it before its next object.
    if (hasNul(chunk, seen)) return true;
    seen += chunk.length;
    if (seen >= BINARY_SNIFF_BYTES) break;
  }
  return false;
}

/** Counts a single blob's lines (for added and deleted files), or reports it binary. */
export async function countLines(reader: ObjectReader, blob: BlobRef): Promise<{ lines: number; binary: boolean }> {
  if (blob.size > BIG_FILE_THRESHOLD) return { lines: 0, binary: true };
  let lines = 0;
  let seen = 0;
  let last = 10;
  for await (const chunk of blobChunks(reader, blob, LARGE_CHUNK)) {
    // An abandoned body is drained by the reader before its next object.
    if (hasNul(chunk, seen)) return { lines: 0, binary: true };
    seen += chunk.length;
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
    if (chunk.length) last = chunk[chunk.length - 1]!;
  }
  if (last !== 10) lines++;
  return { lines, binary: false };
}

/**
 * Compares two text blobs as `git diff` would and returns the +/- counts. Blobs git calls
 * binary (NUL in the first 8000 bytes, or larger than 512 MiB) give `binary: true`.
 * Over the budget, counts come from a bounded approximation and carry `approximate: true`.
 */
export async function compareBlobs(readerA: ObjectReader, a: BlobRef, readerB: ObjectReader, b: BlobRef, opts: CompareOptions = {}): Promise<Comparison> {
  if (a.size > BIG_FILE_THRESHOLD || b.size > BIG_FILE_THRESHOLD) return binaryResult();
  const budget = opts.budgetBytes ?? DEFAULT_BUDGET;
  const keep = opts.keepLines ?? false;
  const scratch = opts.scratch ?? new Scratch();
  // Free what earlier comparisons (and their callers, such as a patch's line tables) left.
  if (a.size + b.size > BIG_PAIR) reclaimArrays();

  // With two readers, the new side's head is checked for binary content before the old side
  // is read in full; one reader serves both sides in turn (one git process fewer).
  let itB = blobChunks(readerB, b, LARGE_CHUNK)[Symbol.asyncIterator]();
  let firstB = { done: true, value: undefined } as IteratorResult<Buffer>;
  const openB = async () => {
    itB = blobChunks(readerB, b, LARGE_CHUNK)[Symbol.asyncIterator]();
    firstB = await itB.next();
    return !firstB.done && hasNul(firstB.value, 0);
  };
  if (readerA !== readerB && (await openB())) return binaryResult();

  // Work memory: every per-line array alive at a time, checked against the budget.
  let hiA: IntList | null = null;
  let loA: IntList | null = null;
  let filter: LineFilter | null = null;
  let table: ClassTable | FirstLineTable | null = null;
  let classB: IntList | null = null;
  let indentA: ByteList | null = null;
  let indentB: ByteList | null = null;
  const sparse = new IntList(1024);
  const live = () =>
    (hiA?.bytes ?? 0) + (loA?.bytes ?? 0) + (filter?.bytes ?? 0) + (table?.bytes ?? 0) + (classB?.bytes ?? sparse.bytes) + (indentA?.bytes ?? 0) + (indentB?.bytes ?? 0);
  const check = (extra = 0) => {
    if (live() + extra > budget) throw new OverBudget();
  };

  try {
    // Pass 1: the old side's filter, its line hashes while they fit a third of the budget
    // (past that a third pass reads the old side again instead), and indents for patches.
    const itA = blobChunks(readerA, a, LARGE_CHUNK)[Symbol.asyncIterator]();
    const firstA = await itA.next();
    const expectA = estimateLines(a.size, firstA.done ? undefined : firstA.value);
    const screen = new LineFilter(expectA, budget / 8, scratch.filterWords);
    scratch.filterWords = screen.words;
    filter = screen;
    const keepLines = Math.floor(budget / 3 / 8);
    let hashesA: { hi: IntList; lo: IntList } | null = expectA <= keepLines * 1.2 ? { hi: scratch.hi.clear(), lo: scratch.lo.clear() } : null;
    hashesA?.hi.reserve(Math.min(expectA, keepLines));
    hashesA?.lo.reserve(Math.min(expectA, keepLines));
    hiA = hashesA?.hi ?? null;
    loA = hashesA?.lo ?? null;
    indentA = keep ? new ByteList(expectA) : null;
    const hasher = new LineHasher(CHUNK_SIZE, keep);
    const takeA = (n: number) => {
      screen.add(hasher.hi, hasher.lo, n);
      if (hashesA !== null && hashesA.hi.length + n > keepLines) {
        scratch.hi.release();
        scratch.lo.release();
        hashesA = hiA = loA = null;
      }
      hashesA?.hi.append(hasher.hi, n);
      hashesA?.lo.append(hasher.lo, n);
      indentA?.append(hasher.indent, n);
      check();
    };
    for (let r = firstA; !r.done; r = await itA.next()) {
      hasher.pushEach(r.value, takeA);
      if (hasher.binary) return binaryResult();
    }
    takeA(hasher.end());
    const nA = hasher.lines;

    if (readerA === readerB && (await openB())) return binaryResult();

    // Pass 2: the new side. When most of its lines may occur in the old side (an edit, not a
    // rewrite), the old side's kept hashes are interned first, in place, and the new lines
    // looked up: the hashes turn into the old side's classes, and the filter is dropped.
    // Otherwise only new lines the filter lets through are interned, and the class column
    // is kept sparse (line, class pairs) while candidates are rare: a rewrite needs almost none.
    const expectB = estimateLines(b.size, firstB.done ? undefined : firstB.value);
    let seenB = 0;
    const batch = scratch.batch;
    indentB = keep ? new ByteList(expectB) : null;
    hasher.reset();
    let firstLines: FirstLineTable | null = null;
    let sizeFromFirst = 0;
    const takeB = (n: number) => {
      if (table === null) {
        let hits = 0;
        for (let k = 0; k < n; k++) if (screen.has(hasher.hi[k]!, hasher.lo[k]!)) hits++;
        if (hashesA !== null && hits * 2 > n) {
          const old = hashesA;
          filter = null;
          // While new lines are looked up, the old side's hashes stay (the table reads them)
          // beside the table and the new side's class column.
          check(FirstLineTable.bytesFor(nA) + 4 * expectB);
          firstLines = new FirstLineTable(old.hi.data, old.lo.data, nA);
          table = firstLines;
          classB = new IntList(expectB);
          if (nA + expectB > RECLAIM_LINES) reclaimArrays();
        } else {
          // Sized below from the distinct candidates of the first batch, leaving room for the
          // new side's class column, which grows alongside the table.
          table = new ClassTable(1024, budget - live() - (hits ? 4 * expectB : 0));
          sizeFromFirst = n;
        }
      }
      if (firstLines !== null) firstLines.lookup(hasher.hi, hasher.lo, n, batch, 0);
      else {
        const t = table as ClassTable;
        if (!t.intern(hasher.hi, hasher.lo, n, 'new', screen, batch, 0)) throw new OverBudget();
        if (sizeFromFirst > 0) t.reserve(Math.ceil((t.size / sizeFromFirst) * expectB));
        sizeFromFirst = 0;
      }
      if (classB !== null) {
        classB.append(batch, n);
      } else {
        for (let k = 0; k < n; k++) if (batch[k]! >= 0) sparse.push(seenB + k, batch[k]!);
        if (sparse.length > Math.max(8192, (seenB + n) >> 2)) {
          classB = densify(sparse, seenB, Math.max(expectB, seenB + n));
          classB.append(batch, n);
        }
      }
      seenB += n;
      indentB?.append(hasher.indent, n);
      check();
    };
    for (let r = firstB; !r.done; r = await itB.next()) {
      hasher.pushEach(r.value, takeB);
      if (hasher.binary) return binaryResult();
    }
    takeB(hasher.end());
    const nB = hasher.lines;
    const classes = (table as ClassTable | FirstLineTable | null) ?? new ClassTable(0, budget);

    // The old side's classes: interned above (in place of its hashes' upper halves), looked
    // up from its kept hashes (overwriting them), or from a third pass.
    let classA: Int32Array | null = null;
    if (classes instanceof FirstLineTable) {
      classA = classes.finish();
      scratch.lo.release();
      hashesA = loA = null;
    } else if (hashesA !== null) {
      classA = hashesA.hi.data;
      classes.lookup(hashesA.hi.data, hashesA.lo.data, nA, 'old', classA, 0);
      scratch.lo.release();
      loA = null;
    } else if (classes.size > 0) {
      const found = new IntList(1024);
      let dense: IntList | null = null;
      let seenA = 0;
      hasher.reset();
      const takeA3 = (n: number) => {
        classes.lookup(hasher.hi, hasher.lo, n, 'old', batch, 0);
        if (dense !== null) dense.append(batch, n);
        else {
          for (let k = 0; k < n; k++) if (batch[k]! >= 0) found.push(seenA + k, batch[k]!);
          if (found.length > Math.max(8192, (seenA + n) >> 2)) {
            dense = densify(found, seenA, nA, OLD_ONLY);
            hiA = dense;
            dense.append(batch, n);
          }
        }
        seenA += n;
        check(found.bytes);
      };
      for await (const chunk of blobChunks(readerA, a, LARGE_CHUNK)) hasher.pushEach(chunk, takeA3);
      takeA3(hasher.end());
      if (seenA !== nA) throw new Error(`blob ${a.oid} changed between reads`);
      if (dense !== null || found.length > 0) classA = (dense ?? densify(found, nA, nA, OLD_ONLY)).data;
    }
    filter = null;
    if (classes instanceof ClassTable) classes.dropKeys();
    if (nA + nB > RECLAIM_LINES) reclaimArrays();

    // No line of the new side occurs in the old one: every line of both changed.
    if (classA === null || !classes.anyCommon()) {
      const result: Comparison = { additions: nB, deletions: nA, binary: false, approximate: false };
      if (keep) result.lines = allChanged(nA, nB, indentA!.data, indentB!.data);
      return result;
    }
    let extra = 0;
    const allow = (bytes: number) => {
      extra += bytes;
      check(extra);
    };

    // Few lines in common (a rewrite): squeeze the runs of one-sided lines, so preparation
    // and the search work on a few hundred lines instead of millions.
    const inA = (c: number) => c >= 0 && classes.countNew[c]! > 0;
    const inB = (c: number) => c >= 0 && classes.countOld[c]! > 0;
    let common = 0;
    for (let i = 0; i < nA; i++) if (inA(classA[i]!)) common++;
    let cutA = 0;
    let cutB = 0;
    let sideA = classA;
    let sideB: Int32Array;
    let lenA = nA;
    let lenB = nB;
    if (!keep && common * SQUEEZE_RATIO < nA + nB) {
      const denseB = (classB as IntList | null)?.data;
      const a2 = squeezeRuns(nA, (take) => {
        for (let i = 0; i < nA; i++) if (inA(classA![i]!)) take(i, classA![i]!);
      }, OLD_ONLY, classA, 0);
      const b2 = squeezeRuns(nB, (take) => {
        if (denseB) for (let i = 0; i < nB; i++) inB(denseB[i]!) && take(i, denseB[i]!);
        else for (let k = 0; k < sparse.length; k += 2) inB(sparse.data[k + 1]!) && take(sparse.data[k]!, sparse.data[k + 1]!);
      }, NEW_ONLY, denseB ?? null, 1024);
      [sideA, lenA, cutA] = [a2.classes, a2.n, a2.cut];
      [sideB, lenB, cutB] = [b2.classes, b2.n, b2.cut];
      allow(sideB === denseB ? 0 : sideB.byteLength);
    } else {
      classB ??= densify(sparse, nB, nB);
      sideB = classB.data;
    }
    // The counters are freed before the search input is allocated, when they are worth a
    // full collection: a rewrite's few candidate classes are not.
    const countBytes = classes.countOld.byteLength + classes.countNew.byteLength;
    const { a: sa, b: sb } = prepare(sideA, lenA, sideB, lenB, classes, !keep, allow, () => {
      if (nA + nB > RECLAIM_LINES && countBytes >= RECLAIM_BYTES) reclaimArrays();
    }, nA, nB);
    myersDiff(sa, sb, allow);
    const result: Comparison = { additions: changedCount(sb) + cutB, deletions: changedCount(sa) + cutA, binary: false, approximate: false };
    if (keep) {
      result.lines = {
        classA,
        classB: sideB,
        indentA: indentA!.data,
        indentB: indentB!.data,
        rchgA: changedFlags(sa),
        rchgB: changedFlags(sb),
        nA,
        nB,
      };
      // The search's own arrays are not part of the tables: free them before the caller reads
      // both blobs again.
      sa.ha = sb.ha = new Int32Array(0);
      sa.mark = sb.mark = new Uint8Array(0);
      if (nA + nB > RECLAIM_LINES) reclaimArrays();
    }
    return result;
  } catch (e) {
    if (!(e instanceof OverBudget)) throw e;
    await itB.return?.(undefined);
    return approximate(readerA, a, readerB, b);
  }
}

/** A dense class column for lines [0, upTo) from (line, class) pairs; other lines `none`. */
function densify(pairs: IntList, upTo: number, capacity: number, none = NEW_ONLY): IntList {
  const dense = new IntList(capacity);
  dense.data.fill(none, 0, upTo);
  for (let k = 0; k < pairs.length; k += 2) dense.data[pairs.data[k]!] = pairs.data[k + 1]!;
  dense.length = upTo;
  return dense;
}

/** Line tables for a pair with no line in common (see LineTables.allChanged). */
export function allChanged(nA: number, nB: number, indentA: Uint8Array, indentB: Uint8Array): LineTables {
  const none = new Int32Array(0);
  const flags = new Uint8Array(0);
  return { classA: none, classB: none, indentA, indentB, rchgA: flags, rchgB: flags, nA, nB, allChanged: true };
}

function binaryResult(): Comparison {
  return { additions: 0, deletions: 0, binary: true, approximate: false };
}

/** Changed lines of a side: the discarded ones plus those the search marked. */
function changedCount(s: PreparedSide): number {
  let c = 0;
  for (let i = 0; i < s.state.length; i++) if (s.state[i] === DISCARDED) c++;
  for (let k = 0; k < s.n; k++) c += s.mark[k]!;
  return c;
}

/** Per-line changed flags (1/0), written over the side's state array. */
function changedFlags(s: PreparedSide): Uint8Array {
  let k = 0;
  const st = s.state;
  for (let i = 0; i < st.length; i++) {
    const v = st[i];
    st[i] = v === DISCARDED ? 1 : v === KEPT ? s.mark[k++]! : 0;
  }
  return st;
}

/** Expected line count of a blob, from the line density of its first chunk. */
function estimateLines(size: number, first?: Buffer): number {
  if (!first || first.length === 0) return 16;
  let n = 0;
  for (let i = first.indexOf(10); i >= 0; i = first.indexOf(10, i + 1)) n++;
  return Math.ceil(((n + 1) / first.length) * size * 1.1) + 16;
}

/** Buckets of the bounded approximation. */
const SAMPLE_SLOTS = 1 << 19;

/**
 * The over-budget method, in fixed memory (about 6 MiB): lines are sampled by hash (a line is
 * in the sample when its hash falls under a threshold, so equal lines are sampled together);
 * the sample's exact multiset intersection, scaled by the sampling rate, estimates the lines
 * the two sides have in common. Counts are the lines outside that intersection. Order is
 * ignored, so moved blocks count as unchanged: the result is marked approximate.
 */
async function approximate(readerA: ObjectReader, a: BlobRef, readerB: ObjectReader, b: BlobRef): Promise<Comparison> {
  const keysHi = new Int32Array(SAMPLE_SLOTS);
  const keysLo = new Int32Array(SAMPLE_SLOTS);
  const countA = new Uint32Array(SAMPLE_SLOTS);
  const countB = new Uint32Array(SAMPLE_SLOTS);
  let used = 0;
  let level = 0; // a line is sampled when the top `level` bits of its hash are zero
  const sampled = (h: number) => level === 0 || h >>> (32 - level) === 0;
  const slotOf = (h1: number, h2: number): number => {
    let s = (h2 >>> 0) & (SAMPLE_SLOTS - 1);
    for (;;) {
      if (countA[s] === 0 && countB[s] === 0) return -1 - s;
      if (keysHi[s] === h1 && keysLo[s] === h2) return s;
      s = (s + 1) & (SAMPLE_SLOTS - 1);
    }
  };
  const raise = () => {
    // Halve the sampling rate and rebuild the table with the lines still sampled.
    level++;
    const entries: [number, number, number, number][] = [];
    for (let s = 0; s < SAMPLE_SLOTS; s++) if ((countA[s] || countB[s]) && sampled(keysHi[s]!)) entries.push([keysHi[s]!, keysLo[s]!, countA[s]!, countB[s]!]);
    countA.fill(0);
    countB.fill(0);
    used = 0;
    for (const [h1, h2, ca, cb] of entries) {
      const s = -1 - slotOf(h1, h2);
      keysHi[s] = h1;
      keysLo[s] = h2;
      countA[s] = ca;
      countB[s] = cb;
      used++;
    }
  };
  const fill = async (reader: ObjectReader, blob: BlobRef, into: Uint32Array) => {
    const h = new LineHasher(CHUNK_SIZE, false);
    const take = (n: number) => {
      for (let k = 0; k < n; k++) {
        const h1 = h.hi[k]!;
        if (!sampled(h1)) continue;
        let s = slotOf(h1, h.lo[k]!);
        if (s < 0) {
          if (used + 1 > SAMPLE_SLOTS / 2) {
            raise();
            if (!sampled(h1)) continue;
            s = slotOf(h1, h.lo[k]!);
          }
          if (s < 0) {
            s = -1 - s;
            keysHi[s] = h1;
            keysLo[s] = h.lo[k]!;
            used++;
          }
        }
        into[s]!++;
      }
    };
    for await (const chunk of blobChunks(reader, blob, LARGE_CHUNK)) {
      h.pushEach(chunk, take);
      if (h.binary) return { lines: 0, binary: true };
    }
    take(h.end());
    return { lines: h.lines, binary: false };
  };
  const ra = await fill(readerA, a, countA);
  const rb = await fill(readerB, b, countB);
  if (ra.binary || rb.binary) return binaryResult();
  let common = 0;
  for (let s = 0; s < SAMPLE_SLOTS; s++) common += Math.min(countA[s]!, countB[s]!);
  common = Math.min(Math.round(common * 2 ** level), ra.lines, rb.lines);
  return { additions: rb.lines - common, deletions: ra.lines - common, binary: false, approximate: true };
}
