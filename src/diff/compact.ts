/**
 * git's change compaction (xdl_change_compact with the indent heuristic, on by default): slide
 * each group of changed lines up or down over equal lines to line up with the other side's
 * changes or, failing that, to the position whose indentation reads best. Counts never change;
 * only where the +/- lines sit, so patches match `git diff` line for line.
 */
import { BLANK } from './lines.js';

const MAX_BLANKS = 20;
const START_OF_FILE_PENALTY = 1;
const END_OF_FILE_PENALTY = 21;
const TOTAL_BLANK_WEIGHT = -30;
const POST_BLANK_WEIGHT = 6;
const RELATIVE_INDENT_PENALTY = -4;
const RELATIVE_INDENT_WITH_BLANK_PENALTY = 10;
const RELATIVE_OUTDENT_PENALTY = 24;
const RELATIVE_OUTDENT_WITH_BLANK_PENALTY = 17;
const RELATIVE_DEDENT_PENALTY = 23;
const RELATIVE_DEDENT_WITH_BLANK_PENALTY = 17;
const INDENT_WEIGHT = 60;
const MAX_SLIDING = 100;

/** One side as compaction sees it. */
export interface CompactSide {
  cls: Int32Array;
  indent: Uint8Array;
  rchg: Uint8Array;
  n: number;
}

interface Group {
  start: number;
  end: number;
}

const changed = (f: CompactSide, i: number) => i >= 0 && i < f.n && f.rchg[i] === 1;

function groupInit(f: CompactSide): Group {
  const g = { start: 0, end: 0 };
  while (changed(f, g.end)) g.end++;
  return g;
}

function groupNext(f: CompactSide, g: Group): boolean {
  if (g.end === f.n) return false;
  g.start = g.end + 1;
  for (g.end = g.start; changed(f, g.end); g.end++);
  return true;
}

function groupPrevious(f: CompactSide, g: Group): boolean {
  if (g.start === 0) return false;
  g.end = g.start - 1;
  for (g.start = g.end; changed(f, g.start - 1); g.start--);
  return true;
}

function slideDown(f: CompactSide, g: Group): boolean {
  if (g.end < f.n && f.cls[g.start] === f.cls[g.end]) {
    f.rchg[g.start++] = 0;
    f.rchg[g.end++] = 1;
    while (changed(f, g.end)) g.end++;
    return true;
  }
  return false;
}

function slideUp(f: CompactSide, g: Group): boolean {
  if (g.start > 0 && f.cls[g.start - 1] === f.cls[g.end - 1]) {
    f.rchg[--g.start] = 1;
    f.rchg[--g.end] = 0;
    while (changed(f, g.start - 1)) g.start--;
    return true;
  }
  return false;
}

function indentOf(f: CompactSide, i: number): number {
  const v = f.indent[i]!;
  return v === BLANK ? -1 : v;
}

/** Score of splitting the file above line `split` (git's measure_split + score_add_split). */
function scoreSplit(f: CompactSide, split: number, s: { effectiveIndent: number; penalty: number }): void {
  const endOfFile = split >= f.n;
  const indent0 = endOfFile ? -1 : indentOf(f, split);
  let preBlank = 0;
  let preIndent = -1;
  for (let i = split - 1; i >= 0; i--) {
    preIndent = indentOf(f, i);
    if (preIndent !== -1) break;
    preBlank++;
    if (preBlank === MAX_BLANKS) {
      preIndent = 0;
      break;
    }
  }
  let postBlank = 0;
  let postIndent = -1;
  for (let i = split + 1; i < f.n; i++) {
    postIndent = indentOf(f, i);
    if (postIndent !== -1) break;
    postBlank++;
    if (postBlank === MAX_BLANKS) {
      postIndent = 0;
      break;
    }
  }

  if (preIndent === -1 && preBlank === 0) s.penalty += START_OF_FILE_PENALTY;
  if (endOfFile) s.penalty += END_OF_FILE_PENALTY;
  const post = indent0 === -1 ? 1 + postBlank : 0;
  const totalBlank = preBlank + post;
  s.penalty += TOTAL_BLANK_WEIGHT * totalBlank;
  s.penalty += POST_BLANK_WEIGHT * post;
  const indent = indent0 !== -1 ? indent0 : postIndent;
  const anyBlanks = totalBlank !== 0;
  s.effectiveIndent += indent;
  if (indent === -1 || preIndent === -1) {
    /* no adjustment */
  } else if (indent > preIndent) {
    s.penalty += anyBlanks ? RELATIVE_INDENT_WITH_BLANK_PENALTY : RELATIVE_INDENT_PENALTY;
  } else if (indent === preIndent) {
    /* no adjustment */
  } else if (postIndent !== -1 && postIndent > indent) {
    s.penalty += anyBlanks ? RELATIVE_OUTDENT_WITH_BLANK_PENALTY : RELATIVE_OUTDENT_PENALTY;
  } else {
    s.penalty += anyBlanks ? RELATIVE_DEDENT_WITH_BLANK_PENALTY : RELATIVE_DEDENT_PENALTY;
  }
}

function scoreCmp(a: { effectiveIndent: number; penalty: number }, b: { effectiveIndent: number; penalty: number }): number {
  const cmp = (a.effectiveIndent > b.effectiveIndent ? 1 : 0) - (a.effectiveIndent < b.effectiveIndent ? 1 : 0);
  return INDENT_WEIGHT * cmp + (a.penalty - b.penalty);
}

/** Compacts the changes of `f` against the other side `o` (call for A,B then B,A like git). */
export function compact(f: CompactSide, o: CompactSide): void {
  const g = groupInit(f);
  const go = groupInit(o);
  for (;;) {
    if (g.end !== g.start) {
      let groupsize: number;
      let earliestEnd: number;
      let endMatchingOther: number;
      do {
        groupsize = g.end - g.start;
        endMatchingOther = -1;
        while (slideUp(f, g)) if (!groupPrevious(o, go)) throw new Error('group sync broken sliding up');
        earliestEnd = g.end;
        if (go.end > go.start) endMatchingOther = g.end;
        for (;;) {
          if (!slideDown(f, g)) break;
          if (!groupNext(o, go)) throw new Error('group sync broken sliding down');
          if (go.end > go.start) endMatchingOther = g.end;
        }
      } while (groupsize !== g.end - g.start);

      if (g.end === earliestEnd) {
        /* no shifting was possible */
      } else if (endMatchingOther !== -1) {
        while (go.end === go.start) {
          if (!slideUp(f, g)) throw new Error('match disappeared');
          if (!groupPrevious(o, go)) throw new Error('group sync broken sliding to match');
        }
      } else {
        let shift = earliestEnd;
        if (g.end - groupsize - 1 > shift) shift = g.end - groupsize - 1;
        if (g.end - MAX_SLIDING > shift) shift = g.end - MAX_SLIDING;
        let bestShift = -1;
        let best = { effectiveIndent: 0, penalty: 0 };
        for (; shift <= g.end; shift++) {
          const score = { effectiveIndent: 0, penalty: 0 };
          scoreSplit(f, shift, score);
          scoreSplit(f, shift - groupsize, score);
          if (bestShift === -1 || scoreCmp(score, best) <= 0) {
            best = score;
            bestShift = shift;
          }
        }
        while (g.end > bestShift) {
          if (!slideUp(f, g)) throw new Error('best shift unreached');
          if (!groupPrevious(o, go)) throw new Error('group sync broken sliding to blank line');
        }
      }
    }
    if (!groupNext(f, g)) break;
    if (!groupNext(o, go)) throw new Error('group sync broken moving to next group');
  }
}
