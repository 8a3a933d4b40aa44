/**
 * git's preparation (xdiff/xprepare.c) on classified lines: trim the common head and tail,
 * discard lines that have no match on the other side, and discard lines with very many matches
 * when they sit in a run of discarded lines. What survives goes to the Myers search.
 */
import { bogosqrt, type Side } from './myers.js';

const MAX_EQLIMIT = 1024;
const SIMSCAN_WINDOW = 100;
const KPDIS_RUN = 4;
/** First-pass codes kept behind the line being settled: a power of two above the window. */
const RING = 128;

/** Per-line state after preparation. */
export const UNCHANGED = 0;
export const DISCARDED = 1;
export const KEPT = 2;

export interface PreparedSide extends Side {
  /** Per file line: UNCHANGED (common head/tail), DISCARDED (changed), or KEPT (searched). */
  state: Uint8Array;
}

/** Per-class occurrence counts in each file, dropped once lines are screened. */
export interface LineCounts {
  countOld: Uint16Array;
  countNew: Uint16Array;
  dropCounts(): void;
}

/**
 * Builds the Myers input from per-line classes. `counts.countOld[c]`/`countNew[c]` count class
 * c's lines in each file; they are dropped as soon as the lines are screened, and `screened`
 * is called then (before the search input is allocated). With `inPlace`, the class arrays
 * are overwritten by the search input (saves their size when the caller no longer needs
 * classes).
 */
export function prepare(
  classA: Int32Array,
  nA: number,
  classB: Int32Array,
  nB: number,
  counts: LineCounts,
  inPlace: boolean,
  allow: (bytes: number) => void,
  screened: () => void,
  /** Line counts of the files, when the class arrays hold squeezed runs (see squeezeRuns). */
  linesA = nA,
  linesB = nB,
): { a: PreparedSide; b: PreparedSide } {
  const lim = Math.min(nA, nB);
  let start = 0;
  while (start < lim && classA[start] === classB[start]) start++;
  let tail = 0;
  while (tail < lim - start && classA[nA - 1 - tail] === classB[nB - 1 - tail]) tail++;

  allow(nA + nB + 4);
  const stateA = classify(classA, nA, start, nA - tail - 1, counts.countNew, Math.min(bogosqrt(linesA), MAX_EQLIMIT));
  const stateB = classify(classB, nB, start, nB - tail - 1, counts.countOld, Math.min(bogosqrt(linesB), MAX_EQLIMIT));
  counts.dropCounts();
  screened();
  const keptA = settle(stateA, start, nA - tail - 1);
  const keptB = settle(stateB, start, nB - tail - 1);
  allow((inPlace ? 0 : 4 * (keptA + keptB)) + keptA + keptB);
  return { a: side(classA, stateA, keptA, inPlace), b: side(classB, stateB, keptB, inPlace) };
}

/**
 * First pass: 0 = no match, 1 = keep, 3 = many matches (decided by settle). `otherCount[c]` is
 * how often class c occurs on the other side; negative classes occur on one side only.
 */
function classify(cls: Int32Array, n: number, dstart: number, dend: number, otherCount: Uint16Array, mlim: number): Uint8Array {
  const dis = new Uint8Array(n + 2);
  for (let i = dstart; i <= dend; i++) {
    const c = cls[i]!;
    const nm = c < 0 ? 0 : otherCount[c]!;
    dis[i] = nm === 0 ? 0 : nm >= mlim ? 3 : 1;
  }
  return dis;
}

/** Second pass, in place: turns the first-pass codes into UNCHANGED/DISCARDED/KEPT. */
function settle(dis: Uint8Array, dstart: number, dend: number): number {
  // Decisions read first-pass codes of neighbours up to 100 lines back, so keep a window of them.
  const ring = new Uint8Array(RING);
  let kept = 0;
  // A many-matches line is kept at once unless a no-match line lies between it and the
  // previous plain match, within the window (git's scan would find none): this makes runs of
  // many-matches lines (a file of a few distinct lines) cost O(1) a line.
  let lastNone = -1;
  let lastPlain = -1;
  for (let i = dstart; i <= dend; i++) {
    const d = dis[i]!;
    ring[i & (RING - 1)] = d;
    const nearNone = lastNone > lastPlain && i - lastNone <= SIMSCAN_WINDOW;
    const keep = d === 1 || (d === 3 && !(nearNone && cleanMultiMatch(dis, ring, i, dstart, dend)));
    if (d === 0) lastNone = i;
    else if (d === 1) lastPlain = i;
    dis[i] = keep ? KEPT : DISCARDED;
    if (keep) kept++;
  }
  for (let i = 0; i < dstart; i++) dis[i] = UNCHANGED;
  for (let i = dend + 1; i < dis.length; i++) dis[i] = UNCHANGED;
  return kept;
}

function side(cls: Int32Array, state: Uint8Array, kept: number, inPlace: boolean): PreparedSide {
  const ha = inPlace ? cls : new Int32Array(kept);
  let k = 0;
  for (let i = 0; i < state.length - 2; i++) {
    if (state[i] === KEPT) ha[k++] = cls[i]!;
  }
  return { ha, mark: new Uint8Array(kept), n: kept, state };
}

/**
 * git's xdl_clean_mmatch(): should the many-matches line at i be discarded? Reads first-pass
 * codes; lines before i were already rewritten, so their codes come from the ring.
 */
function cleanMultiMatch(dis: Uint8Array, ring: Uint8Array, i: number, s: number, e: number): boolean {
  if (i - s > SIMSCAN_WINDOW) s = i - SIMSCAN_WINDOW;
  if (e - i > SIMSCAN_WINDOW) e = i + SIMSCAN_WINDOW;
  let rdis0 = 0;
  let rpdis0 = 1;
  for (let r = 1; i - r >= s; r++) {
    const d = ring[(i - r) & (RING - 1)];
    if (d === 0) rdis0++;
    else if (d === 3) rpdis0++;
    else break;
  }
  if (rdis0 === 0) return false;
  let rdis1 = 0;
  let rpdis1 = 1;
  for (let r = 1; i + r <= e; r++) {
    const d = dis[i + r];
    if (d === 0) rdis1++;
    else if (d === 3) rpdis1++;
    else break;
  }
  if (rdis1 === 0) return false;
  rdis1 += rdis0;
  rpdis1 += rpdis0;
  return rpdis1 * KPDIS_RUN < rpdis1 + rdis1;
}

/** Lines of a run of one-sided lines that squeezeRuns keeps: more than any window looks at. */
const RUN_KEPT = SIMSCAN_WINDOW + 1;

/**
 * The class column of a file whose lines mostly occur in it alone (a rewrite), with every run
 * of such lines cut to RUN_KEPT lines: those lines are discarded (changed) whatever happens,
 * the common head and tail end at the first of them, and preparation never looks further than
 * SIMSCAN_WINDOW lines, so no decision changes; the caller counts the `cut` lines as changed.
 * `visit` calls back, in line order, each line that occurs in both files with its class.
 * `into` may be the file's own dense column: output never overtakes what visit has read.
 */
export function squeezeRuns(n: number, visit: (take: (line: number, cls: number) => void) => void, none: number, into: Int32Array | null, capacity: number): { classes: Int32Array; n: number; cut: number } {
  let out = into ?? new Int32Array(Math.max(16, capacity));
  let w = 0;
  let cut = 0;
  let next = 0;
  const put = (v: number, count: number) => {
    if (w + count > out.length) {
      const grown = new Int32Array(Math.max(w + count, out.length * 2));
      grown.set(out.subarray(0, w));
      out = grown;
    }
    out.fill(v, w, w + count);
    w += count;
  };
  const gap = (upTo: number) => {
    const run = upTo - next;
    const kept = Math.min(run, RUN_KEPT);
    put(none, kept);
    cut += run - kept;
  };
  visit((line, cls) => {
    gap(line);
    put(cls, 1);
    next = line + 1;
  });
  gap(n);
  return { classes: out, n: w, cut };
}
