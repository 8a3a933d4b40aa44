/**
 * Unified diffs produced on demand and streamed: per file, the comparison keeps only per-line
 * integers; the text is then copied from both blobs, read again front to back, straight to the
 * output. Pages end at line boundaries after `maxBytes`; a cursor resumes exactly there.
 */
import { UsageError } from '../errors.js';
import type { ObjectReader } from '../git/objects.js';
import { resolveTree } from '../git/repo.js';
import { gitText, runGit, type GitContext } from '../git/run.js';
import type { Side } from '../git/tree-diff.js';
import { COLOR, paintHunkHeader, paintLines, painters, type Painters } from './color.js';
import { compact } from './compact.js';
import { gitBinaryHunks, literalHunk, SMALL_BINARY } from './binary-patch.js';
import { allChanged, blobChunks, compareBlobs, countLines, isBinaryBlob, Scratch, type BlobRef, type LineTables } from './compare.js';
import { LineCursor, type Out } from './line-cursor.js';
import { IntList } from './int-list.js';
import { BLANK } from './lines.js';
import { blobOf, filePairs, openReaderPair } from './numstat.js';
import { similarityPercent, type FilePair, type RenameOptions } from './renames.js';
import { quotePath } from './quote.js';

export interface PatchOptions {
  paths?: readonly string[];
  /** Keep only files whose path is in this set (a path need not exist in either tree). */
  only?: ReadonlySet<string>;
  /** Context lines (default 3). */
  context?: number;
  budgetBytes?: number;
  /** End the page after about this many bytes (at a line boundary). */
  maxBytes?: number;
  /** Resume where an earlier page ended. */
  cursor?: PatchCursor;
  /** Quote bytes above 0x7f in paths (git's core.quotePath; default true). */
  quotePath?: boolean;
  /** git's default colours (as `git diff --color=always`). */
  color?: boolean;
  /** Detect renames as `git diff -M` does. */
  renames?: RenameOptions;
  /** Binary files as git's binary patches (`git diff --binary`) instead of "Binary files … differ". */
  binary?: boolean;
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

/** Called after each output line: ends the page there when it is full. */
type LineDone = () => void;

class PipeClosed extends Error {}

/** Bytes of output handed to the consumer at a time. */
const PIPE_CHUNK = 64 * 1024;

/** What the consumer takes from the pipe: output, the end of a page, or the end of the patch. */
type Item = Buffer | 'page' | 'end';

/**
 * Carries the patch from its producer to the consumer in chunks of 64 KiB: the producer's
 * bytes are copied into the chunk being filled, and once a chunk is full the producer waits
 * until the consumer takes it, so a section of any size (or a line of any length) streams in
 * bounded memory. At the end of a page the producer stops (paused) until the next page is
 * asked for; bytes it pushed meanwhile belong to that next page.
 */
class OutputPipe {
  private chunk = Buffer.allocUnsafe(PIPE_CHUNK);
  private used = 0;
  private queue: Item[] = [];
  private paused = false;
  private closed = false;
  private failure: { error: unknown } | null = null;
  private consumer: (() => void) | null = null;
  private producer: { resolve(): void; reject(e: unknown): void } | null = null;

  /** Copies `b[start, end)`; returns a promise to wait on while the consumer is behind or the page is over. */
  push(b: Buffer, start: number, end: number): Promise<void> | undefined {
    if (this.closed) throw new PipeClosed();
    while (start < end) {
      const n = b.copy(this.chunk, this.used, start, Math.min(end, start + PIPE_CHUNK - this.used));
      this.used += n;
      start += n;
      if (this.used === PIPE_CHUNK) {
        this.queue.push(this.chunk);
        this.chunk = Buffer.allocUnsafe(PIPE_CHUNK);
        this.used = 0;
      }
    }
    return this.waitIfBehind();
  }

  /** For a producer with nothing to push: waits while the page is over. */
  waitIfBehind(): Promise<void> | undefined {
    if (this.closed) throw new PipeClosed();
    if (this.queue.length === 0 && !this.paused) return undefined;
    this.notify();
    return new Promise((resolve, reject) => (this.producer = { resolve, reject }));
  }

  /** The page is full: what was pushed so far ends it, and the producer waits for resume(). */
  endPage(): void {
    this.flush();
    this.queue.push('page');
    this.paused = true;
    this.notify();
  }

  /** The next page is asked for. */
  resume(): void {
    this.paused = false;
    if (this.queue.length === 0) this.wakeProducer();
  }

  /** The patch is done (or failed with `error`). */
  finish(error?: unknown): void {
    if (error !== undefined) this.failure = { error };
    else {
      this.flush();
      this.queue.push('end');
    }
    this.notify();
  }

  /** The next chunk, or where the page or the patch ends. */
  async take(): Promise<Item> {
    for (;;) {
      const item = this.queue.shift();
      if (item !== undefined) {
        if (this.queue.length === 0 && !this.paused) this.wakeProducer();
        return item;
      }
      if (this.failure) throw this.failure.error;
      await new Promise<void>((resolve) => (this.consumer = resolve));
    }
  }

  /** The consumer is gone: a waiting or later producer fails instead of waiting forever. */
  close(): void {
    this.closed = true;
    const p = this.producer;
    this.producer = null;
    p?.reject(new PipeClosed());
  }

  private flush(): void {
    if (this.used === 0) return;
    this.queue.push(this.chunk.subarray(0, this.used));
    this.chunk = Buffer.allocUnsafe(PIPE_CHUNK);
    this.used = 0;
  }

  private wakeProducer(): void {
    const p = this.producer;
    this.producer = null;
    p?.resolve();
  }

  private notify(): void {
    const c = this.consumer;
    this.consumer = null;
    c?.();
  }
}

/**
 * One patch produced page after page by a single producer that stops at the end of each page
 * and goes on from there when the next page is asked for: no page compares a file pair again
 * or re-reads what earlier pages produced. Between pages it holds its readers, the current
 * file's list of changes (four integers per change) and a chunk of each blob — not the
 * comparison's per-line tables. Pages are read one at a time; close() when done.
 */
export class PatchProducer {
  private readonly pipe = new OutputPipe();
  private started = false;
  private reading = false;
  private closed = false;
  private ended = false;
  private limit = Infinity;
  private pageBytes = 0;
  private at: PatchCursor;
  private readers: { a: ObjectReader; b: ObjectReader; close(): void } | null = null;
  private readonly scratch = new Scratch();
  private changes = 0;

  constructor(
    private readonly ctx: GitContext,
    private readonly from: string,
    private readonly to: string,
    private readonly opts: PatchOptions = {},
  ) {
    this.at = opts.cursor ?? { file: 0, offset: 0 };
  }

  /** The cursor the next page starts at; undefined once the patch has ended. */
  get position(): string | undefined {
    return this.ended ? undefined : formatCursor(this.at);
  }

  /** Bytes held between pages beyond the fixed buffers: the current file's change list. */
  get heldBytes(): number {
    return this.changes;
  }

  /** Whether another page can be read (the last one was read to its end, and the patch goes on). */
  get resumable(): boolean {
    return this.started && !this.reading && !this.closed && !this.ended;
  }

  /** The next page: about `maxBytes` (ending at a line end), or the rest of the patch. */
  page(maxBytes = Infinity): PatchStream {
    if (this.reading || this.closed || this.ended) throw new Error('patch page asked for while another is read, or after the end');
    this.reading = true;
    let next: string | undefined;
    const self = this;
    async function* chunks(): AsyncGenerator<Buffer> {
      let complete = false;
      try {
        self.limit = maxBytes;
        if (!self.started) {
          self.started = true;
          self.produce().then(
            () => self.pipe.finish(),
            (e: unknown) => self.pipe.finish(e instanceof PipeClosed ? undefined : e),
          );
        } else self.pipe.resume();
        for (;;) {
          const item = await self.pipe.take();
          if (item === 'page') {
            next = formatCursor(self.at);
            break;
          }
          if (item === 'end') {
            self.ended = true;
            break;
          }
          yield item;
        }
        complete = true;
      } finally {
        self.reading = false;
        // A page left unread leaves the producer mid-page: it cannot go on.
        if (!complete) self.close();
      }
    }
    return { chunks: chunks(), next: () => next };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pipe.close();
    this.readers?.close();
  }

  private async produce(): Promise<void> {
    const { ctx, opts } = this;
    const [fromTree, toTree] = await Promise.all([resolveTree(ctx, this.from), resolveTree(ctx, this.to)]);
    if (this.closed) return;
    const readers = (this.readers = openReaderPair(ctx));
    const changes = await filePairs(ctx, readers.a, fromTree, toTree, opts.paths ?? [], opts.renames, opts.only);
    const sections = changes.flatMap(splitTypeChange);
    const splitPaths = new Set(sections.filter((c, i) => i > 0 && sections[i - 1]!.path === c.path).map((c) => c.path));
    const abbrev = await abbreviations(ctx, sections);
    const start = this.at;
    if (start.file > sections.length) throw new UsageError(`cursor ${formatCursor(start)} is past the end of this diff`);
    const endPage = (at: PatchCursor) => {
      this.at = at;
      this.pageBytes = 0;
      // Between pages, keep no comparison arrays for the next file.
      this.scratch.release();
      this.pipe.endPage();
    };
    for (let f = start.file; f < sections.length; f++) {
      let skip = f === start.file ? start.offset : 0;
      let produced = 0;
      const out: Out = (b, begin, end) => {
        produced += end - begin;
        if (skip > 0) {
          if (end - begin <= skip) {
            skip -= end - begin;
            return undefined;
          }
          begin += skip;
          skip = 0;
        }
        this.pageBytes += end - begin;
        return this.pipe.push(b, begin, end);
      };
      const lineDone = () => {
        if (skip === 0 && this.pageBytes >= this.limit) endPage({ file: f, offset: produced });
      };
      const held = (bytes: number) => (this.changes = bytes);
      await fileSection(readers, sections[f]!, abbrev, { ...opts, scratch: this.scratch, ctx, fromTree, toTree, split: splitPaths.has(sections[f]!.path), held }, out, lineDone);
      this.changes = 0;
      if (f + 1 < sections.length && this.pageBytes >= this.limit) {
        endPage({ file: f + 1, offset: 0 });
        await this.pipe.waitIfBehind();
      }
    }
  }
}

/** Streams the unified diff between two tree-ishes (see PatchOptions for paging). */
export function patchStream(ctx: GitContext, from: string, to: string, opts: PatchOptions = {}): PatchStream {
  const producer = new PatchProducer(ctx, from, to, opts);
  const page = producer.page(opts.maxBytes ?? Infinity);
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      yield* page.chunks;
    } finally {
      producer.close();
    }
  }
  return { chunks: chunks(), next: page.next };
}

/** git shows a change of file type (file ↔ symlink ↔ submodule) as a deletion plus an addition. */
function splitTypeChange(c: FilePair): FilePair[] {
  if (c.status === 'modified' && c.before && c.after && typeOf(c.before.mode) !== typeOf(c.after.mode)) {
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

const NULL_OID = '0'.repeat(40);

/**
 * Abbreviations of every object id on the index lines (and of the null id shown for a missing
 * side), as `git diff` prints them: git's default length for this repository (core.abbrev, or
 * "auto": from the number of packed objects), extended while another object shares the prefix.
 * `git rev-parse --short` takes one id per process, so the default length is asked once and
 * uniqueness is checked for all ids together by one `cat-file --batch-check` a round.
 */
async function abbreviations(ctx: GitContext, sections: FilePair[]): Promise<Map<string, string>> {
  const oids = new Set<string>();
  for (const c of sections) {
    for (const s of [c.before, c.after]) if (s) oids.add(s.oid);
    if (!c.before || !c.after) oids.add(NULL_OID);
  }
  const map = new Map<string, string>();
  if (oids.size === 0) return map;
  // A full id is abbreviated to the default length unless an object shares that prefix, so the
  // shorter of two unrelated ids' abbreviations is the default (both colliding is ~impossible).
  const probes = await Promise.all(['0', 'f'].map((c) => gitText(ctx, ['rev-parse', '--short', c.repeat(40)])));
  let length = Math.min(...probes.map((p) => p.length));
  // core.disambiguate would let cat-file pick one of several objects: the prefix must be unique.
  const check = { ...ctx, config: { ...ctx.config, 'core.disambiguate': 'none' } };
  let pending = [...oids];
  while (pending.length && length < 40) {
    const prefixes = pending.map((oid) => oid.slice(0, length));
    const r = await runGit(check, ['cat-file', '--batch-check'], { input: prefixes.join('\n') + '\n' });
    const answers = r.stdout.toString('latin1').split('\n');
    const ambiguous: string[] = [];
    pending.forEach((oid, k) => {
      const answer = answers[k] ?? '';
      // Unique: no object has the prefix, or the one object that has it is this one.
      if (answer === `${prefixes[k]} missing` || answer.startsWith(`${oid} `)) map.set(oid, prefixes[k]!);
      else ambiguous.push(oid);
    });
    pending = ambiguous;
    length++;
  }
  for (const oid of pending) map.set(oid, oid);
  return map;
}

const MINUS = Buffer.from('-');
const PLUS = Buffer.from('+');
const SPACE = Buffer.from(' ');
const NEWLINE = Buffer.from('\n');

/** Writes one file's section: headers, then hunks copied from the blobs. */
async function fileSection(
  readers: { a: ObjectReader; b: ObjectReader },
  c: FilePair,
  abbrev: Map<string, string>,
  opts: PatchOptions & { scratch: Scratch; ctx: GitContext; fromTree: string; toTree: string; split: boolean; held?: (bytes: number) => void },
  out: Out,
  lineDone: LineDone,
): Promise<void> {
  const paint = opts.color ? painters() : null;
  const text = async (s: string) => {
    const b = Buffer.from(s);
    await out(b, 0, b.length);
    lineDone();
  };
  // Header lines: bold when coloured.
  const meta = (s: string) => text(paint ? paintLines(s, COLOR.meta) : s);
  const quoteNonAscii = opts.quotePath ?? true;
  const aName = quoteLabel('a/', c.from ?? c.path, quoteNonAscii);
  const bName = quoteLabel('b/', c.path, quoteNonAscii);
  await meta(`diff --git ${aName} ${bName}\n`);
  const { before, after } = c;
  const short = (s: Side | undefined) => abbrev.get(s ? s.oid : NULL_OID)!;
  if (!before) await meta(`new file mode ${after!.mode}\n`);
  else if (!after) await meta(`deleted file mode ${before.mode}\n`);
  else if (before.mode !== after.mode) await meta(`old mode ${before.mode}\nnew mode ${after.mode}\n`);
  if (c.from !== undefined) {
    await meta(`similarity index ${similarityPercent(c.score ?? 0)}%\nrename from ${quotePath(c.from, quoteNonAscii)}\nrename to ${quotePath(c.path, quoteNonAscii)}\n`);
  }
  if (before && after && before.oid === after.oid) return;
  // With --binary, git writes whole ids on the index line of a binary file.
  const binaryPatch = opts.binary === true && ((before !== undefined && (await isBinaryBlob(readers.a, blobOf(before)))) || (after !== undefined && (await isBinaryBlob(readers.b, blobOf(after)))));
  const id = (s: Side | undefined, other: Side | undefined) => (binaryPatch ? (s ? s.oid : '0'.repeat(other!.oid.length)) : short(s));
  const sameMode = before && after && before.mode === after.mode ? ` ${before.mode}` : '';
  await meta(`index ${id(before, after)}..${id(after, before)}${sameMode}\n`);
  // git writes the binary patch itself uncoloured.
  if (binaryPatch) return await writeBinaryPatch(readers, c, opts, out, lineDone);
  const labelA = before ? aName : '/dev/null';
  const labelB = after ? bName : '/dev/null';
  const fileHeader = () => meta(`--- ${labelA}${labelA.includes(' ') ? '\t' : ''}\n+++ ${labelB}${labelB.includes(' ') ? '\t' : ''}\n`);
  const binary = () => text(`Binary files ${labelA} and ${labelB} differ\n`);
  const context = opts.context ?? 3;

  if (!before || !after) {
    const side = (before ?? after)!;
    const blob = blobOf(side);
    const r = await countLines(readers.a, blob);
    if (r.binary) return await binary();
    if (r.lines === 0) return;
    await fileHeader();
    const ranges = before ? `@@ -1${r.lines === 1 ? '' : ',' + r.lines} +0,0 @@` : `@@ -0,0 +1${r.lines === 1 ? '' : ',' + r.lines} @@`;
    if (paint) {
      const h = paintHunkHeader(ranges, null);
      await out(h, 0, h.length);
      lineDone();
    } else await text(ranges + '\n');
    const cur = new LineCursor(blobChunks(readers.a, blob)[Symbol.asyncIterator]());
    // (git never marks blank lines at the end of a new file as blank-at-eof: no old side.)
    await cur.lines(r.lines, before ? MINUS : PLUS, out, lineDone, paint && (before ? paint.old : paint.added));
    return;
  }

  const a = blobOf(before);
  const b = blobOf(after);
  const cmp = await compareBlobs(readers.a, a, readers.b, b, { budgetBytes: opts.budgetBytes, keepLines: true, scratch: opts.scratch });
  if (cmp.binary) return await binary();
  await fileHeader();
  let tables: LineTables | null = cmp.lines ?? (await rewriteTables(readers, a, b));
  if (cmp.lines && !tables.allChanged) {
    const sa = { cls: tables.classA, indent: tables.indentA, rchg: tables.rchgA, n: tables.nA };
    const sb = { cls: tables.classB, indent: tables.indentB, rchg: tables.rchgB, n: tables.nB };
    compact(sa, sb);
    compact(sb, sa);
  }
  // Before the cursors open: it may read the start of the blobs.
  const eofBlank = paint ? await blankAtEof(readers, a, b, tables) : null;
  // From here on only the list of changes is kept, not the per-line tables.
  const changes = changeList(tables);
  const { nA, nB } = tables;
  tables = null;
  opts.held?.(changes.byteLength);
  await emitHunks(readers, a, b, changes, nA, nB, eofBlank, context, out, lineDone, paint);
}

/** "GIT binary patch" and its two hunks: git's own for small files, streamed literals otherwise. */
async function writeBinaryPatch(
  readers: { a: ObjectReader; b: ObjectReader },
  c: FilePair,
  opts: { ctx: GitContext; fromTree: string; toTree: string; split: boolean },
  out: Out,
  lineDone: LineDone,
): Promise<void> {
  const emit = async (line: Buffer) => {
    await out(line, 0, line.length);
    lineDone();
  };
  await emit(Buffer.from('GIT binary patch\n'));
  const small = (c.before?.size ?? 0) < SMALL_BINARY && (c.after?.size ?? 0) < SMALL_BINARY;
  const fromGit = small && !opts.split ? await gitBinaryHunks(opts.ctx, { fromTree: opts.fromTree, toTree: opts.toTree, path: c.path, from: c.from, score: c.score }) : null;
  if (fromGit) {
    for (let i = 0; i < fromGit.length; ) {
      const end = fromGit.indexOf(10, i) + 1 || fromGit.length;
      await emit(fromGit.subarray(i, end));
      i = end;
    }
    return;
  }
  const none: BlobRef = { oid: '', size: 0, inline: Buffer.alloc(0) };
  await literalHunk(readers.b, c.after ? blobOf(c.after) : none, emit);
  await literalHunk(readers.a, c.before ? blobOf(c.before) : none, emit);
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

/** The changes in file order as (i1, i2, chg1, chg2) quadruples, found by walking both changed-line maps together. */
function changeList(t: LineTables): Int32Array {
  if (t.allChanged) return t.nA + t.nB ? Int32Array.of(0, 0, t.nA, t.nB) : new Int32Array(0);
  const list = new IntList(64);
  let i1 = 0;
  let i2 = 0;
  while (i1 < t.nA || i2 < t.nB) {
    if ((i1 < t.nA && t.rchgA[i1]) || (i2 < t.nB && t.rchgB[i2])) {
      const s1 = i1;
      const s2 = i2;
      while (i1 < t.nA && t.rchgA[i1]) i1++;
      while (i2 < t.nB && t.rchgB[i2]) i2++;
      list.push(s1, s2);
      list.push(i1 - s1, i2 - s2);
    } else {
      i1++;
      i2++;
    }
  }
  return list.data.slice(0, list.length);
}

function* changesOf(list: Int32Array): Generator<Change> {
  for (let k = 0; k < list.length; k += 4) yield { i1: list[k]!, i2: list[k + 1]!, chg1: list[k + 2]!, chg2: list[k + 3]! };
}

/** git's xdl_emit_diff(): group changes into hunks with context and copy the lines. */
async function emitHunks(
  readers: { a: ObjectReader; b: ObjectReader },
  a: BlobRef,
  b: BlobRef,
  changes: Int32Array,
  nA: number,
  nB: number,
  eofBlank: { a: number; b: number } | null,
  ctxlen: number,
  out: Out,
  lineDone: LineDone,
  paint: Painters | null,
): Promise<void> {
  const curA = new LineCursor(blobChunks(readers.a, a)[Symbol.asyncIterator](), true);
  const curB = new LineCursor(blobChunks(readers.b, b)[Symbol.asyncIterator]());
  const it = changesOf(changes);
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
    let lctx = Math.min(ctxlen, nA - (last.i1 + last.chg1));
    lctx = Math.min(lctx, nB - (last.i2 + last.chg2));
    const e1 = last.i1 + last.chg1 + lctx;
    const e2 = last.i2 + last.chg2 + lctx;

    await curA.skipTo(s1);
    await curB.skipTo(s2);
    const c1 = e1 - s1;
    const c2 = e2 - s2;
    const range = (s: number, c: number) => `${c ? s + 1 : s}${c === 1 ? '' : ',' + c}`;
    const found = curA.funcname;
    const func = found && found.subarray(0, validUtf8Length(found));
    if (paint) {
      const header = paintHunkHeader(`@@ -${range(s1, c1)} +${range(s2, c2)} @@`, func);
      await out(header, 0, header.length);
    } else {
      const header = Buffer.from(`@@ -${range(s1, c1)} +${range(s2, c2)} @@${func && func.length ? ' ' : ''}`);
      await out(header, 0, header.length);
      if (func && func.length) await out(func, 0, func.length);
      await out(NEWLINE, 0, 1);
    }
    lineDone();

    const painter = (prefix: Buffer) => (paint ? (prefix === MINUS ? paint.old : prefix === PLUS ? paint.added : paint.context) : null);
    const emit = (cur: LineCursor, n: number, prefix: Buffer) => cur.lines(n, prefix, out, lineDone, painter(prefix));
    // git's line counters for blank-at-eof: the ranges' first numbers, counted up per line.
    const lnoA = (c1 ? s1 + 1 : s1) - s1;
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
      // Blank lines added at the end of the file are painted whole (git's blank-at-eof).
      const eof = paint && eofBlank && lnoA + ch.i1 + ch.chg1 >= eofBlank.a ? Math.min(ch.chg2, Math.max(0, ch.i2 + ch.chg2 - eofBlank.b)) : 0;
      await emit(curB, ch.chg2 - eof, PLUS);
      if (eof) await curB.lines(eof, PLUS, out, lineDone, paint!.blankAtEof);
    }
    await curA.skipTo(e1);
    await emit(curB, e2 - (last.i2 + last.chg2), SPACE);
  }
}

/**
 * Where git's blank-at-eof rule starts, when the new side ends in more blank lines than the old
 * (git's check_blank_at_eof): `a` is the old side's line number (1-based) its counter must have
 * reached, `b` the first new line (0-based) painted so. Blank lines are those whose indent
 * measure says "only whitespace".
 */
async function blankAtEof(readers: { a: ObjectReader; b: ObjectReader }, a: BlobRef, b: BlobRef, t: LineTables): Promise<{ a: number; b: number } | null> {
  const trailing = async (reader: ObjectReader, blob: BlobRef, indent: Uint8Array, n: number) => {
    if (indent.length < n) return 0; // no indents kept (over the budget)
    let k = 0;
    while (k < n && indent[n - 1 - k] === BLANK) k++;
    // git's count_trailing_blank() stops when its pointer reaches the start of the buffer, so
    // it never counts a first (or second) line that ends within the first two bytes.
    if (k > 0 && k >= n - 1) k = Math.min(k, n - (await linesGitSkips(reader, blob)));
    return k;
  };
  const l1 = await trailing(readers.a, a, t.indentA, t.nA);
  const l2 = await trailing(readers.b, b, t.indentB, t.nB);
  if (l2 <= l1) return null;
  // git counts lines from 1 and compares after counting the line itself: a blank line just
  // before the counted ones is painted too (it exists when the count stopped short, above).
  const before = t.nB - l2 - 1;
  return { a: t.nA - l1 + 1, b: before >= 0 && t.indentB[before] === BLANK ? before : t.nB - l2 };
}

/** How many leading lines git's trailing-blank count never reaches: those ending by byte 2. */
async function linesGitSkips(reader: ObjectReader, blob: BlobRef): Promise<number> {
  const head: number[] = [];
  for await (const chunk of blobChunks(reader, blob)) {
    for (let i = 0; i < chunk.length && head.length < 2; i++) head.push(chunk[i]!);
    if (head.length >= 2) break; // the reader drains the rest before its next object
  }
  if (head.length === 0) return 0;
  if (head[0] === 10) return head[1] === 10 ? 2 : 1; // "\n\n…" or "\n…"
  return head.length === 1 || head[1] === 10 ? 1 : 0; // "x" alone, or "x\n…"
}

/**
 * How many leading bytes of `b` are whole, valid UTF-8 characters: git cuts a hunk header at
 * the first byte that does not start one (a name cut at 80 bytes inside a character, or not
 * UTF-8 at all). Its rules: no overlong forms, no surrogates, no U+FFFE/U+FFFF, nothing above
 * U+10FFFF.
 */
function validUtf8Length(b: Buffer): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const cont = (k: number) => i + k < b.length && (b[i + k]! & 0xc0) === 0x80;
    let n: number;
    if (c < 0x80) n = 1;
    else if ((c & 0xe0) === 0xc0) n = c >= 0xc2 && cont(1) ? 2 : 0;
    else if ((c & 0xf0) === 0xe0) {
      const c1 = b[i + 1]!;
      const bad = (c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 >= 0xa0) || (c === 0xef && c1 === 0xbf && (b[i + 2]! & 0xfe) === 0xbe);
      n = cont(1) && cont(2) && !bad ? 3 : 0;
    } else if (c >= 0xf0 && c <= 0xf4) {
      const c1 = b[i + 1]!;
      const bad = (c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f);
      n = cont(1) && cont(2) && cont(3) && !bad ? 4 : 0;
    } else n = 0;
    if (n === 0) break;
    i += n;
  }
  return i;
}

/** "a/path" quoted as a whole when the path needs quoting, as git does. */
function quoteLabel(prefix: string, path: string, quoteNonAscii: boolean): string {
  const q = quotePath(path, quoteNonAscii);
  return q.startsWith('"') ? `"${prefix}${q.slice(1)}` : prefix + path;
}
