/**
 * git's Myers diff (xdiff/xdiffi.c): a divide-and-conquer search for the middle snake with
 * git's cost heuristics, so the result matches `git diff` rather than a minimal diff.
 * Inputs are class ids of the lines that survived preparation; output marks changed lines.
 */

const SNAKE_CNT = 20;
const HEUR_MIN_COST = 256;
const MAX_COST_MIN = 256;
const K_HEUR = 4;
const LINE_MAX = 0x7fffffff;

/** Classical integer square-root approximation git uses to size its limits. */
export function bogosqrt(n: number): number {
  let i = 1;
  for (; n > 0; n = Math.floor(n / 4)) i *= 2;
  return i;
}

/** Lines of one side as seen by the search. */
export interface Side {
  /** Class id per remaining line (only the first `n` entries are used). */
  ha: Int32Array;
  /** Per remaining line: set to 1 when the search finds it changed. */
  mark: Uint8Array;
  /** Number of remaining lines. */
  n: number;
}

/** Diagonals each vector covers at first on each side of a box's middle (grown on demand). */
const FIRST_REACH = 1024;

/**
 * Marks changed lines in `a.mark` and `b.mark` the way git's xdl_do_diff() does. `allow` is
 * told the bytes of every growth of the search vectors (it may throw to stop the search).
 */
export function myersDiff(a: Side, b: Side, allow: (bytes: number) => void = () => undefined): void {
  const ndiags = a.n + b.n + 3;
  const mxcost = Math.max(bogosqrt(ndiags), MAX_COST_MIN);
  const ha1 = a.ha;
  const ha2 = b.ha;
  const split = { i1: 0, i2: 0, minLo: false, minHi: false };
  // git keeps one forward and one backward value per diagonal of the whole problem. A search
  // only touches diagonals within its cost of the box's middle, and the cost is capped
  // (mxcost) unless a minimal diff is needed, so the vectors are windows around the middle:
  // forward value of diagonal d at kvd[fOff + d], backward at kvd[bOff + d].
  let reach = 0;
  let kvd = new Int32Array(0);
  let fOff = 0;
  let bOff = 0;

  // Explicit stack instead of recursion: sub-boxes are independent.
  const stack: number[] = [0, a.n, 0, b.n, 0];
  while (stack.length) {
    const needMin = stack.pop()! === 1;
    let lim2 = stack.pop()!;
    let off2 = stack.pop()!;
    let lim1 = stack.pop()!;
    let off1 = stack.pop()!;

    while (off1 < lim1 && off2 < lim2 && ha1[off1] === ha2[off2]) {
      off1++;
      off2++;
    }
    while (off1 < lim1 && off2 < lim2 && ha1[lim1 - 1] === ha2[lim2 - 1]) {
      lim1--;
      lim2--;
    }
    if (off1 === lim1) {
      b.mark.fill(1, off2, lim2);
    } else if (off2 === lim2) {
      a.mark.fill(1, off1, lim1);
    } else {
      splitBox(off1, lim1, off2, lim2, needMin, split);
      stack.push(split.i1, lim1, split.i2, lim2, split.minHi ? 1 : 0);
      stack.push(off1, split.i1, off2, split.i2, split.minLo ? 1 : 0);
    }
  }

  /** Places the windows on a box's middles (values of an earlier box are not kept). */
  function centre(fmid: number, bmid: number): void {
    fOff = reach + 1 - fmid;
    bOff = 3 * reach + 4 - bmid;
  }

  /** Widens the windows to `next` diagonals each side, keeping the values of this box. */
  function widen(next: number, fmid: number, bmid: number): void {
    const half = 2 * next + 3;
    allow(2 * half * 4);
    const grown = new Int32Array(2 * half);
    const shift = next - reach;
    if (reach > 0) {
      grown.set(kvd.subarray(0, 2 * reach + 3), shift);
      grown.set(kvd.subarray(2 * reach + 3), half + shift);
    }
    kvd = grown;
    reach = next;
    centre(fmid, bmid);
  }

  function splitBox(off1: number, lim1: number, off2: number, lim2: number, needMin: boolean, spl: typeof split): void {
    const dmin = off1 - lim2;
    const dmax = lim1 - off2;
    const fmid = off1 - off2;
    const bmid = lim1 - lim2;
    const odd = ((fmid - bmid) & 1) !== 0;
    // No diagonal the search reads or writes is further than this from either middle.
    const span = Math.max(lim1 - off1, lim2 - off2) + 1;
    let fmin = fmid;
    let fmax = fmid;
    let bmin = bmid;
    let bmax = bmid;
    if (reach < Math.min(span, FIRST_REACH)) widen(Math.min(span, FIRST_REACH), fmid, bmid);
    else centre(fmid, bmid);
    kvd[fOff + fmid] = off1;
    kvd[bOff + bmid] = lim1;

    for (let ec = 1; ; ec++) {
      let gotSnake = false;
      // Step ec reaches diagonals ec + 1 away from the middles.
      if (ec + 1 > reach && reach < span) widen(Math.min(span, Math.max(2 * reach, ec + 1)), fmid, bmid);
      if (fmin > dmin) kvd[fOff + --fmin - 1] = -1;
      else ++fmin;
      if (fmax < dmax) kvd[fOff + ++fmax + 1] = -1;
      else --fmax;

      for (let d = fmax; d >= fmin; d -= 2) {
        let i1: number;
        if (kvd[fOff + d - 1]! >= kvd[fOff + d + 1]!) i1 = kvd[fOff + d - 1]! + 1;
        else i1 = kvd[fOff + d + 1]!;
        const prev1 = i1;
        let i2 = i1 - d;
        while (i1 < lim1 && i2 < lim2 && ha1[i1] === ha2[i2]) {
          i1++;
          i2++;
        }
        if (i1 - prev1 > SNAKE_CNT) gotSnake = true;
        kvd[fOff + d] = i1;
        if (odd && bmin <= d && d <= bmax && kvd[bOff + d]! <= i1) {
          spl.i1 = i1;
          spl.i2 = i2;
          spl.minLo = spl.minHi = true;
          return;
        }
      }

      if (bmin > dmin) kvd[bOff + --bmin - 1] = LINE_MAX;
      else ++bmin;
      if (bmax < dmax) kvd[bOff + ++bmax + 1] = LINE_MAX;
      else --bmax;

      for (let d = bmax; d >= bmin; d -= 2) {
        let i1: number;
        if (kvd[bOff + d - 1]! < kvd[bOff + d + 1]!) i1 = kvd[bOff + d - 1]!;
        else i1 = kvd[bOff + d + 1]! - 1;
        const prev1 = i1;
        let i2 = i1 - d;
        while (i1 > off1 && i2 > off2 && ha1[i1 - 1] === ha2[i2 - 1]) {
          i1--;
          i2--;
        }
        if (prev1 - i1 > SNAKE_CNT) gotSnake = true;
        kvd[bOff + d] = i1;
        if (!odd && fmin <= d && d <= fmax && i1 <= kvd[fOff + d]!) {
          spl.i1 = i1;
          spl.i2 = i2;
          spl.minLo = spl.minHi = true;
          return;
        }
      }

      if (needMin) continue;

      if (gotSnake && ec > HEUR_MIN_COST) {
        let best = 0;
        for (let d = fmax; d >= fmin; d -= 2) {
          const dd = d > fmid ? d - fmid : fmid - d;
          const i1 = kvd[fOff + d]!;
          const i2 = i1 - d;
          const v = i1 - off1 + (i2 - off2) - dd;
          if (v > K_HEUR * ec && v > best && off1 + SNAKE_CNT <= i1 && i1 < lim1 && off2 + SNAKE_CNT <= i2 && i2 < lim2) {
            for (let k = 1; ha1[i1 - k] === ha2[i2 - k]; k++) {
              if (k === SNAKE_CNT) {
                best = v;
                spl.i1 = i1;
                spl.i2 = i2;
                break;
              }
            }
          }
        }
        if (best > 0) {
          spl.minLo = true;
          spl.minHi = false;
          return;
        }
        best = 0;
        for (let d = bmax; d >= bmin; d -= 2) {
          const dd = d > bmid ? d - bmid : bmid - d;
          const i1 = kvd[bOff + d]!;
          const i2 = i1 - d;
          const v = lim1 - i1 + (lim2 - i2) - dd;
          if (v > K_HEUR * ec && v > best && off1 < i1 && i1 <= lim1 - SNAKE_CNT && off2 < i2 && i2 <= lim2 - SNAKE_CNT) {
            for (let k = 0; ha1[i1 + k] === ha2[i2 + k]; k++) {
              if (k === SNAKE_CNT - 1) {
                best = v;
                spl.i1 = i1;
                spl.i2 = i2;
                break;
              }
            }
          }
        }
        if (best > 0) {
          spl.minLo = false;
          spl.minHi = true;
          return;
        }
      }

      if (ec >= mxcost) {
        let fbest = -1;
        let fbest1 = -1;
        for (let d = fmax; d >= fmin; d -= 2) {
          let i1 = Math.min(kvd[fOff + d]!, lim1);
          let i2 = i1 - d;
          if (lim2 < i2) {
            i1 = lim2 + d;
            i2 = lim2;
          }
          if (fbest < i1 + i2) {
            fbest = i1 + i2;
            fbest1 = i1;
          }
        }
        let bbest = LINE_MAX;
        let bbest1 = LINE_MAX;
        for (let d = bmax; d >= bmin; d -= 2) {
          let i1 = Math.max(off1, kvd[bOff + d]!);
          let i2 = i1 - d;
          if (i2 < off2) {
            i1 = off2 + d;
            i2 = off2;
          }
          if (i1 + i2 < bbest) {
            bbest = i1 + i2;
            bbest1 = i1;
          }
        }
        if (lim1 + lim2 - bbest < fbest - (off1 + off2)) {
          spl.i1 = fbest1;
          spl.i2 = fbest - fbest1;
          spl.minLo = true;
          spl.minHi = false;
        } else {
          spl.i1 = bbest1;
          spl.i2 = bbest - bbest1;
          spl.minLo = false;
          spl.minHi = true;
        }
        return;
      }
    }
  }
}
