/**
 * Compares two blobs line by line in bounded memory: stream the old blob (classifying its lines),
 * stream the new blob (matching its lines against those classes), then run git's preparation and
 * Myers search on class ids. Bodies pass through in chunks; only per-line integers are kept.
 */
import type { ObjectReader } from '../git/objects.js';
import { ClassTable, NO_CLASS } from './classify.js';
import { ByteList, IntList } from './int-list.js';
import { LineHasher } from './lines.js';
import { myersBytes, myersDiff } from './myers.js';
import { DISCARDED, KEPT, prepare, type PreparedSide } from './prepare.js';

/** git's core.bigFileThreshold default: larger blobs are treated as binary by `git diff`. */
export const BIG_FILE_THRESHOLD = 512 * 1024 * 1024;
/** Default work-memory budget for one file pair. */
export const DEFAULT_BUDGET = 48 * 1024 * 1024;

/** A blob to compare, or null for "absent" (an added or deleted file). */
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
  missingNewlineA: boolean;
  missingNewlineB: boolean;
}

export interface CompareOptions {
  budgetBytes?: number;
  keepLines?: boolean;
}

class OverBudget extends Error {}

/** Streams a blob's chunks (inline content or from the object reader). */
export async function* blobChunks(reader: ObjectReader, blob: BlobRef): AsyncGenerator<Buffer> {
  if (blob.inline) {
    yield blob.inline;
    return;
  }
  const obj = await reader.open(blob.oid);
  yield* obj.body;
}

/** Counts a single blob's lines (for added and deleted files), or reports it binary. */
export async function countLines(reader: ObjectReader, blob: BlobRef): Promise<{ lines: number; binary: boolean }> {
  if (blob.size > BIG_FILE_THRESHOLD) return { lines: 0, binary: true };
  let lines = 0;
  let seen = 0;
  let last = 10;
  for await (const chunk of blobChunks(reader, blob)) {
    // An abandoned body is drained by the reader before its next object.
    if (seen < 8000 && chunk.subarray(0, 8000 - seen).indexOf(0) >= 0) return { lines: 0, binary: true };
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

  // Open both sides at once: two git processes inflate in parallel, and B's head is checked
  // for binary content before A is read in full.
  const itA = blobChunks(readerA, a)[Symbol.asyncIterator]();
  const itB = blobChunks(readerB, b)[Symbol.asyncIterator]();
  const firstB = await itB.next();
  if (!firstB.done && firstB.value.subarray(0, 8000).indexOf(0) >= 0) return binaryResult();

  try {
    const itAFirst = await itA.next();
    const expectA = estimateLines(a.size, itAFirst.done ? undefined : itAFirst.value);
    const table = new ClassTable(expectA, budget);
    const classA = new IntList(expectA);
    const indentA = keep ? new ByteList(expectA) : null;
    const used = () => table.bytes + classA.bytes + (indentA?.bytes ?? 0);
    const hashA = new LineHasher((h1, h2, indent) => {
      const c = table.addOld(h1, h2);
      if (c === -2) throw new OverBudget();
      classA.push(c);
      indentA?.push(indent);
    });
    for (let r = itAFirst; !r.done; r = await itA.next()) {
      hashA.push(r.value);
      if (hashA.binary) return binaryResult();
      if (used() > budget) throw new OverBudget();
    }
    hashA.end();

    const expectB = estimateLines(b.size, firstB.done ? undefined : firstB.value);
    const classB = new IntList(expectB);
    const indentB = keep ? new ByteList(expectB) : null;
    const hashB = new LineHasher((h1, h2, indent) => {
      classB.push(table.addNew(h1, h2));
      indentB?.push(indent);
    });
    for (let r = firstB; !r.done; r = await itB.next()) {
      hashB.push(r.value);
      if (hashB.binary) return binaryResult();
      if (used() + classB.bytes + (indentB?.bytes ?? 0) > budget) throw new OverBudget();
    }
    hashB.end();
    table.dropKeys();

    const nA = classA.length;
    const nB = classB.length;
    let held = classA.bytes + classB.bytes + (indentA?.bytes ?? 0) + (indentB?.bytes ?? 0) + table.bytes;
    const allow = (bytes: number) => {
      held += bytes;
      if (held > budget) throw new OverBudget();
    };
    const { a: sa, b: sb } = prepare(classA.data, nA, classB.data, nB, table.countOld, table.countNew, !keep, allow);
    allow(myersBytes(sa.n, sb.n));
    myersDiff(sa, sb);
    const result: Comparison = { additions: changedCount(sb), deletions: changedCount(sa), binary: false, approximate: false };
    if (keep) {
      result.lines = {
        classA: classA.data,
        classB: classB.data,
        indentA: indentA!.data,
        indentB: indentB!.data,
        rchgA: changedFlags(sa),
        rchgB: changedFlags(sb),
        nA,
        nB,
        missingNewlineA: hashA.missingNewlineAtEnd,
        missingNewlineB: hashB.missingNewlineAtEnd,
      };
    }
    return result;
  } catch (e) {
    if (!(e instanceof OverBudget)) throw e;
    await itA.return?.(undefined);
    await itB.return?.(undefined);
    return approximate(readerA, a, readerB, b);
  }
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
  return Math.ceil(((n + 1) / first.length) * size * 1.05) + 16;
}

/** Buckets of the bounded approximation: 2^20 counters per side (8 MiB). */
const SKETCH_BITS = 20;

/**
 * The over-budget method: every line is hashed into 2^20 counters per side; lines "in common"
 * are Σ min(countA, countB) per counter, and the counts are the lines outside that multiset
 * intersection. Order is ignored, so a moved block counts as unchanged, and colliding lines
 * can only inflate the common part: counts never exceed the true line totals.
 */
async function approximate(readerA: ObjectReader, a: BlobRef, readerB: ObjectReader, b: BlobRef): Promise<Comparison> {
  const size = 1 << SKETCH_BITS;
  const ca = new Uint32Array(size);
  const cb = new Uint32Array(size);
  const fill = async (reader: ObjectReader, blob: BlobRef, into: Uint32Array) => {
    const h = new LineHasher((h1, h2) => {
      into[(h1 ^ Math.imul(h2, 0x9e3779b1)) >>> (32 - SKETCH_BITS)]!++;
    });
    for await (const chunk of blobChunks(reader, blob)) {
      h.push(chunk);
      if (h.binary) return { lines: 0, binary: true };
    }
    h.end();
    return { lines: h.lines, binary: false };
  };
  const [ra, rb] = await Promise.all([fill(readerA, a, ca), fill(readerB, b, cb)]);
  if (ra.binary || rb.binary) return binaryResult();
  let common = 0;
  for (let i = 0; i < size; i++) common += Math.min(ca[i]!, cb[i]!);
  return { additions: rb.lines - common, deletions: ra.lines - common, binary: false, approximate: true };
}

export { NO_CLASS };
