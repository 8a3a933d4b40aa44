import { openObjectReader, type ObjectReader } from '../git/objects.js';
import type { GitContext } from '../git/run.js';
import { resolveTree } from '../git/repo.js';
import { changedPaths, type ChangeStatus, type TreeChange } from '../git/tree-diff.js';
import { compareBlobs, countLines, isBinaryBlob, Scratch, type BlobRef } from './compare.js';
import { detectRenames, similarityPercent, type FilePair, type RenameOptions } from './renames.js';

/** Per-file statistics of a change, renames included when they were asked for. */
export interface DiffStat {
  file: string;
  status: ChangeStatus | 'renamed';
  /** A renamed file's old path. */
  from?: string;
  /** A renamed file's similarity in percent, as git prints it. */
  similarity?: number;
  additions: number;
  deletions: number;
  binary?: true;
  approximate?: true;
  before?: { oid: string; size: number; mode: string };
  after?: { oid: string; size: number; mode: string };
}

/** Per-file statistics without rename detection: what a summary stores (never file bodies). */
export interface FileStat extends DiffStat {
  status: ChangeStatus;
}

export interface NumstatOptions {
  /** Limit to these paths (each must exist in one of the trees). */
  paths?: readonly string[];
  /** Keep only files whose path is in this set (a path need not exist in either tree). */
  only?: ReadonlySet<string>;
  /** Work-memory budget per file pair in bytes (default 48 MiB). */
  budgetBytes?: number;
  /** Arrays reused across files (numstatStream makes one). */
  scratch?: Scratch;
  /** Called before each file is compared: files done, files in all, and the path. */
  onProgress?: (done: number, total: number, path: string) => void;
  /** Detect renames as `git diff -M` does (off by default: summaries are `--no-renames`). */
  renames?: RenameOptions;
}

const GITLINK = '160000';

/** The blob to diff for one side: submodules diff as git shows them, "Subproject commit <id>". */
export function blobOf(side: { mode: string; oid: string; size: number }): BlobRef {
  if (side.mode === GITLINK) {
    const inline = Buffer.from(`Subproject commit ${side.oid}\n`);
    return { oid: side.oid, size: inline.length, inline };
  }
  return { oid: side.oid, size: side.size };
}

/** Readers for the two sides of a pair: two (patches read both at once) or one shared. */
export function openReaderPair(ctx: GitContext, shared = false): { a: ObjectReader; b: ObjectReader; close(): void } {
  const a = openObjectReader(ctx);
  const b = shared ? a : openObjectReader(ctx);
  return { a, b, close: () => (a.close(), b.close()) };
}

/** +/- counts for one changed (or renamed) path, equal to `git diff --numstat`. */
export async function statChange(readers: { a: ObjectReader; b: ObjectReader }, change: TreeChange, opts?: NumstatOptions): Promise<FileStat>;
export async function statChange(readers: { a: ObjectReader; b: ObjectReader }, change: FilePair, opts?: NumstatOptions): Promise<DiffStat>;
export async function statChange(readers: { a: ObjectReader; b: ObjectReader }, change: FilePair, opts: NumstatOptions = {}): Promise<DiffStat> {
  const stat: DiffStat = { file: change.path, status: change.status, additions: 0, deletions: 0 };
  if (change.from !== undefined) {
    stat.from = change.from;
    stat.similarity = similarityPercent(change.score ?? 0);
  }
  if (change.before) stat.before = { ...change.before };
  if (change.after) stat.after = { ...change.after };
  const { before, after } = change;
  if (before && after) {
    if (before.oid === after.oid) {
      // Same content (a mode change or a rename): nothing changed, but git still says binary.
      if (await isBinaryBlob(readers.a, blobOf(before))) stat.binary = true;
      return stat;
    }
    const r = await compareBlobs(readers.a, blobOf(before), readers.b, blobOf(after), { budgetBytes: opts.budgetBytes, scratch: opts.scratch });
    stat.additions = r.additions;
    stat.deletions = r.deletions;
    if (r.binary) stat.binary = true;
    if (r.approximate) stat.approximate = true;
  } else {
    const side = (before ?? after)!;
    const r = await countLines(readers.a, blobOf(side));
    if (r.binary) stat.binary = true;
    else if (before) stat.deletions = r.lines;
    else stat.additions = r.lines;
  }
  return stat;
}

/**
 * The changed paths between two trees in git's order, with renames paired when asked for.
 * Rename detection reads blobs through `reader` (their similarity signatures, streamed).
 * `only` keeps the changes whose path is in the set before renames are paired (as a pathspec
 * limits `git diff -M`).
 */
export async function filePairs(ctx: GitContext, reader: ObjectReader, fromTree: string, toTree: string, paths: readonly string[], renames?: RenameOptions, only?: ReadonlySet<string>): Promise<FilePair[]> {
  const changes = keepOnly(await changedPaths(ctx, fromTree, toTree, paths), only);
  return renames ? (await detectRenames(reader, changes, renames)).pairs : changes;
}

/**
 * Per-file +/- statistics between two tree-ishes, one file at a time in git's path order.
 * Each file pair is compared in bounded memory whatever its size.
 */
export function numstatStream(ctx: GitContext, from: string, to: string, opts?: NumstatOptions & { renames?: undefined }): AsyncGenerator<FileStat>;
export function numstatStream(ctx: GitContext, from: string, to: string, opts?: NumstatOptions): AsyncGenerator<DiffStat>;
export async function* numstatStream(ctx: GitContext, from: string, to: string, opts: NumstatOptions = {}): AsyncGenerator<DiffStat> {
  const [fromTree, toTree] = await Promise.all([resolveTree(ctx, from), resolveTree(ctx, to)]);
  // Statistics read the sides one after the other: one git process is enough.
  const readers = openReaderPair(ctx, true);
  const scratch = opts.scratch ?? new Scratch();
  try {
    const changes = await filePairs(ctx, readers.a, fromTree, toTree, opts.paths ?? [], opts.renames, opts.only);
    for (const [i, change] of changes.entries()) {
      opts.onProgress?.(i, changes.length, change.path);
      yield await statChange(readers, change, { ...opts, scratch });
    }
  } finally {
    readers.close();
  }
}

/** The changes whose path is in `only` (all of them without a set). */
export function keepOnly(changes: TreeChange[], only: ReadonlySet<string> | undefined): TreeChange[] {
  return only ? changes.filter((c) => only.has(c.path)) : changes;
}

/** All per-file statistics between two tree-ishes (see numstatStream). */
export async function numstatBetween(ctx: GitContext, from: string, to: string, opts?: NumstatOptions & { renames?: undefined }): Promise<FileStat[]>;
export async function numstatBetween(ctx: GitContext, from: string, to: string, opts?: NumstatOptions): Promise<DiffStat[]>;
export async function numstatBetween(ctx: GitContext, from: string, to: string, opts: NumstatOptions = {}): Promise<DiffStat[]> {
  const out: DiffStat[] = [];
  for await (const s of numstatStream(ctx, from, to, opts)) out.push(s);
  return out;
}
