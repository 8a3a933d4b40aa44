/**
 * Rename detection as `git diff -M` does it (diffcore-rename), over the deletions and
 * additions of a tree diff:
 *   1. exact renames: an added blob equal to a deleted one (same id; same mode unless both
 *      are regular files), preferring a source with the same file name;
 *   2. file-name matches: a deleted and an added file whose name is unique among the remaining
 *      sources and among the remaining destinations are paired when similar enough (half-way
 *      between the minimum score and 100 %);
 *   3. the similarity matrix, when sources × destinations stay within the rename limit: the 4
 *      best sources per destination, all sorted by score (ties: same file name first), taken
 *      greedily while at or above the minimum score.
 * Similarity is git's span counting (similarity.ts), streamed from the object reader; the
 * signatures kept between comparisons stay within a memory budget and are read again past it.
 */
import type { ObjectReader } from '../git/objects.js';
import type { Side, TreeChange } from '../git/tree-diff.js';
import { blobOf } from './numstat.js';
import { copiedBytes, DEFAULT_RENAME_SCORE, MAX_SCORE, SignatureScratch, signatureBytes, signatureOf, type Signature } from './similarity.js';

/** A changed path, or a renamed one (`from` is the old path, `score` git's similarity score). */
export interface FilePair extends Omit<TreeChange, 'status'> {
  status: TreeChange['status'] | 'renamed';
  from?: string;
  /** Similarity in units of MAX_SCORE (60000 = 100 %), for renames. */
  score?: number;
}

export interface RenameOptions {
  /** Minimum score for an inexact rename, in units of MAX_SCORE (default 30000: git's 50 %). */
  minScore?: number;
  /** git's diff.renameLimit: skip the matrix when sources × destinations exceed limit² (default 1000; 0: no limit). */
  limit?: number;
  /** Bytes of signatures kept between comparisons (default 16 MiB). */
  cacheBytes?: number;
  /** Called when the matrix is skipped, with the limit that would have been needed. */
  onLimit?: (needed: number) => void;
}

export interface RenameResult {
  pairs: FilePair[];
  /** Set when the matrix was skipped: the limit that would have been needed. */
  neededLimit?: number;
}

/** git's diff.renameLimit default for `git diff`. */
export const DEFAULT_RENAME_LIMIT = 1000;
const CANDIDATES_PER_DESTINATION = 4;
/** git gives up looking through identical sources after this many. */
const MAX_IDENTICAL = 100;

/** The similarity percentage git prints for a score. */
export function similarityPercent(score: number): number {
  return Math.trunc((score * 100) / MAX_SCORE);
}

/** Finds renames among `changes` (a tree diff in git's order); the result keeps git's order. */
export async function detectRenames(reader: ObjectReader, changes: readonly TreeChange[], opts: RenameOptions = {}): Promise<RenameResult> {
  const minScore = opts.minScore ?? DEFAULT_RENAME_SCORE;
  const limit = opts.limit ?? DEFAULT_RENAME_LIMIT;
  const sources: Source[] = [];
  const dests: Dest[] = [];
  for (const c of changes) {
    if (c.status === 'deleted') sources.push({ path: c.path, side: c.before!, used: false });
    else if (c.status === 'added') dests.push({ path: c.path, side: c.after!, match: null });
  }
  if (sources.length === 0 || dests.length === 0) return { pairs: [...changes] };

  exactRenames(sources, dests);
  let neededLimit: number | undefined;
  if (minScore < MAX_SCORE) {
    const similarity = new SimilarityCache(reader, opts.cacheBytes ?? 16 * 1024 * 1024);
    let remaining = sources.filter((s) => !s.used);
    await fileNameMatches(remaining, dests, minScore, similarity);
    remaining = remaining.filter((s) => !s.used);
    const open = dests.filter((d) => !d.match);
    if (remaining.length && open.length) {
      if (limit > 0 && open.length * remaining.length > limit * limit) neededLimit = Math.max(open.length, remaining.length);
      else await matrixRenames(remaining, open, minScore, similarity);
    }
  }
  if (neededLimit !== undefined) opts.onLimit?.(neededLimit);
  return { pairs: rewrite(changes, sources, dests), neededLimit };
}

interface Source {
  path: string;
  side: Side;
  used: boolean;
}

interface Dest {
  path: string;
  side: Side;
  match: { source: Source; score: number } | null;
}

function isRegular(mode: string): boolean {
  return mode.startsWith('100');
}

/** Same file name (the part after the last slash). */
function sameFileName(a: string, b: string): boolean {
  return fileName(a) === fileName(b);
}

function fileName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function record(dest: Dest, source: Source, score: number): void {
  dest.match = { source, score };
  source.used = true;
}

function exactRenames(sources: Source[], dests: Dest[]): void {
  const byBlob = new Map<string, Source[]>();
  for (const s of sources) {
    const list = byBlob.get(s.side.oid);
    if (list) list.push(s);
    else byBlob.set(s.side.oid, [s]);
  }
  for (const d of dests) {
    let best: Source | null = null;
    let bestScore = -1;
    let tries = MAX_IDENTICAL;
    for (const s of byBlob.get(d.side.oid) ?? []) {
      if (!(isRegular(s.side.mode) && isRegular(d.side.mode)) && s.side.mode !== d.side.mode) continue;
      if (s.used) continue;
      const score = 1 + (sameFileName(s.path, d.path) ? 1 : 0);
      if (score > bestScore) {
        best = s;
        bestScore = score;
        if (score === 2) break;
      }
      if (--tries === 0) break;
    }
    if (best) record(d, best, MAX_SCORE);
  }
}

async function fileNameMatches(sources: Source[], dests: Dest[], minScore: number, similarity: SimilarityCache): Promise<void> {
  const minNameScore = minScore + Math.trunc(0.5 * (MAX_SCORE - minScore));
  const unique = <T extends { path: string }>(items: T[]): Map<string, T | null> => {
    const map = new Map<string, T | null>();
    for (const it of items) {
      const name = fileName(it.path);
      map.set(name, map.has(name) ? null : it);
    }
    return map;
  };
  const sourceNames = unique(sources);
  const destNames = unique(dests.filter((d) => !d.match));
  for (const s of sources) {
    const name = fileName(s.path);
    const d = destNames.get(name);
    if (!d || sourceNames.get(name) !== s || d.match) continue;
    const score = await similarity.estimate(s, d, minScore);
    if (score >= minNameScore) record(d, s, score);
  }
}

interface Candidate {
  source: Source;
  dest: Dest;
  score: number;
  nameScore: number;
}

/** git's score_compare: higher score first, then same file name first; empty slots last. */
function candidateOrder(a: Candidate | null, b: Candidate | null): number {
  if (!a) return b ? 1 : 0;
  if (!b) return -1;
  if (a.score === b.score) return b.nameScore - a.nameScore;
  return b.score - a.score;
}

async function matrixRenames(sources: Source[], dests: Dest[], minScore: number, similarity: SimilarityCache): Promise<void> {
  const all: (Candidate | null)[] = [];
  for (const d of dests) {
    const best: (Candidate | null)[] = new Array<Candidate | null>(CANDIDATES_PER_DESTINATION).fill(null);
    for (const s of sources) {
      const c: Candidate = { source: s, dest: d, score: await similarity.estimate(s, d, minScore), nameScore: sameFileName(s.path, d.path) ? 1 : 0 };
      let worst = 0;
      for (let k = 1; k < CANDIDATES_PER_DESTINATION; k++) if (candidateOrder(best[k]!, best[worst]!) > 0) worst = k;
      if (candidateOrder(best[worst]!, c) > 0) best[worst] = c;
    }
    all.push(...best);
  }
  all.sort(candidateOrder); // stable, as git's STABLE_QSORT
  for (const c of all) {
    if (!c || c.score < minScore) break;
    if (c.dest.match || c.source.used) continue;
    record(c.dest, c.source, c.score);
  }
}

/** Similarity scores, with the signatures of files seen so far kept while they fit. */
class SimilarityCache {
  private readonly kept = new Map<Side, Signature>();
  private keptBytes = 0;
  private readonly scratch = new SignatureScratch();
  constructor(
    private readonly reader: ObjectReader,
    private readonly budget: number,
  ) {}

  /** git's estimate_similarity: 0 unless both are regular files of compatible sizes. */
  async estimate(s: Source, d: Dest, minScore: number): Promise<number> {
    if (!isRegular(s.side.mode) || !isRegular(d.side.mode)) return 0;
    const maxSize = Math.max(s.side.size, d.side.size);
    const delta = maxSize - Math.min(s.side.size, d.side.size);
    if (maxSize * (MAX_SCORE - minScore) < delta * MAX_SCORE) return 0;
    if (d.side.size === 0) return 0;
    const src = await this.signature(s.side);
    const dst = await this.destination(d.side);
    return Math.trunc((copiedBytes(src, dst) * MAX_SCORE) / maxSize);
  }

  /** A destination is compared with every source in a row: its signature is held for the row. */
  private current: { side: Side; sig: Signature } | null = null;

  private async destination(side: Side): Promise<Signature> {
    if (this.current?.side !== side) this.current = { side, sig: this.kept.get(side) ?? (await signatureOf(this.reader, blobOf(side), this.scratch)) };
    return this.current.sig;
  }

  private async signature(side: Side): Promise<Signature> {
    const known = this.kept.get(side);
    if (known) return known;
    const sig = await signatureOf(this.reader, blobOf(side), this.scratch);
    if (this.keptBytes + signatureBytes(sig) <= this.budget) {
      this.kept.set(side, sig);
      this.keptBytes += signatureBytes(sig);
    }
    return sig;
  }
}

/** The tree diff with renames: each renamed destination in its place, its source gone. */
function rewrite(changes: readonly TreeChange[], sources: Source[], dests: Dest[]): FilePair[] {
  const usedPaths = new Set(sources.filter((s) => s.used).map((s) => s.path));
  const matches = new Map(dests.filter((d) => d.match).map((d) => [d.path, d.match!]));
  const out: FilePair[] = [];
  for (const c of changes) {
    if (c.status === 'deleted' && usedPaths.has(c.path)) continue;
    const m = c.status === 'added' ? matches.get(c.path) : undefined;
    if (m) out.push({ path: c.path, status: 'renamed', from: m.source.path, score: m.score, before: m.source.side, after: c.after });
    else out.push(c);
  }
  return out;
}
