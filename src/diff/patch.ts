/**
 * Unified diffs produced on demand and streamed: per file, the comparison keeps only per-line
 * integers; the text is then copied from both blobs, read again front to back, straight to the
 * output. Pages end at line boundaries after `maxBytes`; a cursor resumes exactly there.
 */
import { UsageError } from '../errors.js';
import type { ObjectReader } from '../git/objects.js';
import { resolveTree } from '../git/repo.js';
import { runGit, type GitContext } from '../git/run.js';
import { changedPaths, type Side, type TreeChange } from '../git/tree-diff.js';
import { compact } from './compact.js';
import { allChanged, blobChunks, compareBlobs, countLines, Scratch, type BlobRef, type LineTables } from './compare.js';
import { LineCursor, type Out } from './line-cursor.js';
import { reclaimArrays } from '../git/reclaim.js';
import { BIG_PAIR, blobOf, openReaderPair } from './numstat.js';
import { quotePath } from './quote.js';

export interface PatchOptions {
  paths?: readonly string[];
  /** Context lines (default 3). */
  context?: number;
  budgetBytes?: number;
  /** End the page after about this many bytes (at a line boundary). */
  maxBytes?: number;
  /** Resume where an earlier page ended. */
  cursor?: PatchCursor;
}

/** Where a page ended: the index of the file section and the bytes of it already produced. */
export interface PatchCursor {
  file: number;
  offset: number;
}

export interface PatchStream {
  chunks: AsyncIterable<Buffer>;
  /** After the chunks are consumed: the cursor for the next page, if the page was cut. */
  next(): string | undefined;
}

export function formatCursor(c: PatchCursor): string {
  return `${c.file}.${c.offset}`;
}

export function parseCursor(text: string): PatchCursor {
  const m = /^(\d+)\.(\d+)$/.exec(text);
  if (!m) throw new UsageError(`not a patch cursor: '${text}' (expected FILE.OFFSET as printed by an earlier page)`);
  return { file: Number(m[1]), offset: Number(m[2]) };
}

class PageFull extends Error {}

/** Streams the unified diff between two tree-ishes (see PatchOptions for paging). */
export function patchStream(ctx: GitContext, from: string, to: string, opts: PatchOptions = {}): PatchStream {
  let nextCursor: PatchCursor | undefined;
  async function* run(): AsyncGenerator<Buffer> {
    const [fromTree, toTree] = [await resolveTree(ctx, from), await resolveTree(ctx, to)];
    const changes = await changedPaths(ctx, fromTree, toTree, opts.paths ?? []);
    const sections = changes.flatMap(splitTypeChange);
    const abbrev = await abbreviations(ctx, sections);
    const readers = openReaderPair(ctx);
    const scratch = new Scratch();
    const start = opts.cursor ?? { file: 0, offset: 0 };
    if (start.file > sections.length) throw new UsageError(`cursor ${formatCursor(start)} is past the end of this diff`);
    const limit = opts.maxBytes ?? Infinity;
    let pageBytes = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    try {
      for (let f = start.file; f < sections.length; f++) {
        let skip = f === start.file ? start.offset : 0;
        let produced = 0;
        const out: Out = (b) => {
          produced += b.length;
          if (skip > 0) {
            if (b.length <= skip) {
              skip -= b.length;
              return;
            }
            b = b.subarray(skip);
            skip = 0;
          }
          pending.push(b);
          pendingBytes += b.length;
          pageBytes += b.length;
        };
        const lineDone = () => {
          if (skip === 0 && pageBytes >= limit) {
            nextCursor = { file: f, offset: produced };
            throw new PageFull();
          }
        };
        const flushable = async function* () {
          if (pendingBytes >= 65536) {
            const b = Buffer.concat(pending);
            pending = [];
            pendingBytes = 0;
            yield b;
          }
        };
        try {
          await fileSection(readers, sections[f]!, abbrev, { ...opts, scratch }, out, lineDone);
        } catch (e) {
          if (!(e instanceof PageFull)) throw e;
        }
        yield* flushable();
        if (nextCursor) break;
        if (f + 1 < sections.length && pageBytes >= limit) {
          nextCursor = { file: f + 1, offset: 0 };
          break;
        }
      }
      if (pendingBytes) yield Buffer.concat(pending);
    } finally {
      readers.close();
    }
  }
  return { chunks: run(), next: () => (nextCursor ? formatCursor(nextCursor) : undefined) };
}

/** git shows a change of file type (file ↔ symlink ↔ submodule) as a deletion plus an addition. */
function splitTypeChange(c: TreeChange): TreeChange[] {
  if (c.before && c.after && typeOf(c.before.mode) !== typeOf(c.after.mode)) {
    return [
      { path: c.path, status: 'deleted', before: c.before },
      { path: c.path, status: 'added', after: c.after },
    ];
  }
  return [c];
}

function typeOf(mode: string): string {
  return mode.slice(0, 2) === '10' ? 'file' : mode;
}

/** Unique abbreviations of every blob id, as `git diff` prints them on its index lines. */
async function abbreviations(ctx: GitContext, sections: TreeChange[]): Promise<Map<string, string>> {
  const oids = new Set<string>();
  for (const c of sections) for (const s of [c.before, c.after]) if (s) oids.add(s.oid);
  const map = new Map<string, string>();
  const list = [...oids];
  for (let i = 0; i < list.length; i += 2000) {
    const batch = list.slice(i, i + 2000);
    const r = await runGit(ctx, ['rev-parse', '--short', ...batch], { okStatus: [0, 128] });
    const lines = r.stdout.toString('latin1').split('\n');
    batch.forEach((oid, k) => map.set(oid, lines[k] && oid.startsWith(lines[k]!) ? lines[k]! : oid.slice(0, 7)));
  }
  return map;
}

const MINUS = Buffer.from('-');
const PLUS = Buffer.from('+');
const SPACE = Buffer.from(' ');

/** Writes one file's section: headers, then hunks copied from the blobs. */
async function fileSection(
  readers: { a: ObjectReader; b: ObjectReader },
  c: TreeChange,
  abbrev: Map<string, string>,
  opts: PatchOptions & { scratch: Scratch },
  out: Out,
  lineDone: () => void,
): Promise<void> {
  const text = (s: string) => {
    out(Buffer.from(s));
    lineDone();
  };
  const aName = quoteLabel('a/', c.path);
  const bName = quoteLabel('b/', c.path);
  text(`diff --git ${aName} ${bName}\n`);
  const { before, after } = c;
  const short = (s: Side | undefined, other: Side | undefined) => (s ? abbrev.get(s.oid)! : '0'.repeat(abbrev.get(other!.oid)!.length));
  if (!before) text(`new file mode ${after!.mode}\n`);
  else if (!after) text(`deleted file mode ${before.mode}\n`);
  else if (before.mode !== after.mode) text(`old mode ${before.mode}\nnew mode ${after.mode}\n`);
  if (before && after && before.oid === after.oid) return;
  const sameMode = before && after && before.mode === after.mode ? ` ${before.mode}` : '';
  text(`index ${short(before, after)}..${short(after, before)}${sameMode}\n`);
  const labelA = before ? aName : '/dev/null';
  const labelB = after ? bName : '/dev/null';
  const fileHeader = () => text(`--- ${labelA}${labelA.includes(' ') ? '\t' : ''}\n+++ ${labelB}${labelB.includes(' ') ? '\t' : ''}\n`);
  const binary = () => text(`Binary files ${labelA} and ${labelB} differ\n`);
  const context = opts.context ?? 3;

  if (!before || !after) {
    const side = (before ?? after)!;
    const blob = blobOf(side);
    const r = await countLines(readers.a, blob);
    if (r.binary) return binary();
    if (r.lines === 0) return;
    fileHeader();
    text(before ? `@@ -1${r.lines === 1 ? '' : ',' + r.lines} +0,0 @@\n` : `@@ -0,0 +1${r.lines === 1 ? '' : ',' + r.lines} @@\n`);
    const cur = new LineCursor(blobChunks(readers.a, blob)[Symbol.asyncIterator]());
    for (let i = 0; i < r.lines; i++) {
      await cur.emit(1, before ? MINUS : PLUS, out);
      lineDone();
    }
    return;
  }

  const a = blobOf(before);
  const b = blobOf(after);
  const cmp = await compareBlobs(readers.a, a, readers.b, b, { budgetBytes: opts.budgetBytes, keepLines: true, scratch: opts.scratch });
  if (cmp.binary) return binary();
  fileHeader();
  const tables = cmp.lines ?? (await rewriteTables(readers, a, b));
  if (cmp.lines) {
    const sa = { cls: tables.classA, indent: tables.indentA, rchg: tables.rchgA, n: tables.nA };
    const sb = { cls: tables.classB, indent: tables.indentB, rchg: tables.rchgB, n: tables.nB };
    compact(sa, sb);
    compact(sb, sa);
  }
  await emitHunks(readers, a, b, tables, context, out, lineDone);
  if (a.size + b.size > BIG_PAIR) reclaimArrays();
}

/** Over the budget: the whole file as one replacement hunk (valid, applies, not minimal). */
async function rewriteTables(readers: { a: ObjectReader; b: ObjectReader }, a: BlobRef, b: BlobRef): Promise<LineTables> {
  const la = await countLines(readers.a, a);
  const lb = await countLines(readers.b, b);
  return allChanged(la.lines, lb.lines, new Uint8Array(0), new Uint8Array(0));
}

interface Change {
  i1: number;
  i2: number;
  chg1: number;
  chg2: number;
}

/** Changes in file order, found by walking both changed-line maps together. */
function* changesOf(t: LineTables): Generator<Change> {
  let i1 = 0;
  let i2 = 0;
  while (i1 < t.nA || i2 < t.nB) {
    if ((i1 < t.nA && t.rchgA[i1]) || (i2 < t.nB && t.rchgB[i2])) {
      const s1 = i1;
      const s2 = i2;
      while (i1 < t.nA && t.rchgA[i1]) i1++;
      while (i2 < t.nB && t.rchgB[i2]) i2++;
      yield { i1: s1, i2: s2, chg1: i1 - s1, chg2: i2 - s2 };
    } else {
      i1++;
      i2++;
    }
  }
}

/** git's xdl_emit_diff(): group changes into hunks with context and copy the lines. */
async function emitHunks(
  readers: { a: ObjectReader; b: ObjectReader },
  a: BlobRef,
  b: BlobRef,
  t: LineTables,
  ctxlen: number,
  out: Out,
  lineDone: () => void,
): Promise<void> {
  const curA = new LineCursor(blobChunks(readers.a, a)[Symbol.asyncIterator](), true);
  const curB = new LineCursor(blobChunks(readers.b, b)[Symbol.asyncIterator]());
  const it = changesOf(t);
  let next = it.next();
  const maxCommon = 2 * ctxlen;
  while (!next.done) {
    const hunk: Change[] = [next.value];
    next = it.next();
    while (!next.done) {
      const last = hunk[hunk.length - 1]!;
      if (next.value.i1 - (last.i1 + last.chg1) > maxCommon) break;
      hunk.push(next.value);
      next = it.next();
    }
    const first = hunk[0]!;
    const last = hunk[hunk.length - 1]!;
    const s1 = Math.max(first.i1 - ctxlen, 0);
    const s2 = Math.max(first.i2 - ctxlen, 0);
    let lctx = Math.min(ctxlen, t.nA - (last.i1 + last.chg1));
    lctx = Math.min(lctx, t.nB - (last.i2 + last.chg2));
    const e1 = last.i1 + last.chg1 + lctx;
    const e2 = last.i2 + last.chg2 + lctx;

    await curA.skipTo(s1);
    await curB.skipTo(s2);
    const c1 = e1 - s1;
    const c2 = e2 - s2;
    const range = (s: number, c: number) => `${c ? s + 1 : s}${c === 1 ? '' : ',' + c}`;
    const func = curA.funcname;
    out(Buffer.from(`@@ -${range(s1, c1)} +${range(s2, c2)} @@${func && func.length ? ' ' : ''}`));
    if (func && func.length) out(func);
    out(Buffer.from('\n'));
    lineDone();

    const emit = async (cur: LineCursor, n: number, prefix: Buffer) => {
      for (let k = 0; k < n; k++) {
        await cur.emit(1, prefix, out);
        lineDone();
      }
    };
    // Pre-context comes from the new side; the old side's cursor passes over it.
    await curA.skipTo(first.i1);
    await emit(curB, first.i2 - s2, SPACE);
    for (let k = 0; k < hunk.length; k++) {
      const ch = hunk[k]!;
      if (k > 0) {
        const prev = hunk[k - 1]!;
        const common = ch.i1 - (prev.i1 + prev.chg1);
        await curA.skipTo(ch.i1);
        await emit(curB, common, SPACE);
      }
      await emit(curA, ch.chg1, MINUS);
      await emit(curB, ch.chg2, PLUS);
    }
    await curA.skipTo(e1);
    await emit(curB, e2 - (last.i2 + last.chg2), SPACE);
  }
}

/** "a/path" quoted as a whole when the path needs quoting, as git does. */
function quoteLabel(prefix: string, path: string): string {
  const q = quotePath(path);
  return q.startsWith('"') ? `"${prefix}${q.slice(1)}` : prefix + path;
}
