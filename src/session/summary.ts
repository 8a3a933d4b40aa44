/** Per-turn and per-session diff summaries: statistics from the diff engine, capped to stay small. */
import type { FileStat } from '../diff/numstat.js';
import type { GitContext } from '../git/run.js';
import type { FileDiff, TurnSummary } from './model.js';

/** At most this many per-file entries are stored for one turn. */
export const MAX_DIFF_ENTRIES = 1000;
/** ...and at most this many bytes of them, so a message row stays well under 64 KiB. */
export const MAX_DIFF_BYTES = 48 * 1024;

/** A diff engine entry as stored: statistics and blob ids/sizes, no modes, never bodies. */
export function toFileDiff(s: FileStat): FileDiff {
  const d: FileDiff = { file: s.file, status: s.status, additions: s.additions, deletions: s.deletions };
  if (s.binary) d.binary = true;
  if (s.approximate) d.approximate = true;
  if (s.before || s.after) {
    d.blobs = {};
    if (s.before) d.blobs.before = { oid: s.before.oid, size: s.before.size };
    if (s.after) d.blobs.after = { oid: s.after.oid, size: s.after.size };
  }
  return d;
}

/**
 * Summarises the change between two snapshot trees: exact totals over every file, and the
 * per-file entries until MAX_DIFF_ENTRIES or MAX_DIFF_BYTES is reached (then `truncated`).
 * Files are compared one at a time in bounded memory by the diff engine.
 */
export async function summarize(ctx: GitContext, from: string, to: string, onFile?: (stat: FileStat) => void): Promise<TurnSummary> {
  const summary: TurnSummary = { diffs: [], total: { files: 0, additions: 0, deletions: 0 } };
  let bytes = 0;
  if (from === to) return summary;
  // Loaded only now: a turn that changed nothing never loads the diff engine.
  const { numstatStream } = await import('../diff/numstat.js');
  for await (const stat of numstatStream(ctx, from, to)) {
    onFile?.(stat);
    summary.total.files++;
    summary.total.additions += stat.additions;
    summary.total.deletions += stat.deletions;
    if (summary.truncated) continue;
    const entry = toFileDiff(stat);
    const size = Buffer.byteLength(JSON.stringify(entry)) + 1;
    if (summary.diffs.length >= MAX_DIFF_ENTRIES || bytes + size > MAX_DIFF_BYTES) {
      summary.truncated = true;
      continue;
    }
    bytes += size;
    summary.diffs.push(entry);
  }
  return summary;
}

/** At most this many bytes of paths in a patch part's `files`. */
export const MAX_PATCH_FILE_BYTES = 48 * 1024;

/** A capped list of paths (for the patch part), with the full count. */
export function capPaths(paths: readonly string[]): { files: string[]; total: number; truncated?: true } {
  const files: string[] = [];
  let bytes = 0;
  for (const p of paths) {
    bytes += Buffer.byteLength(JSON.stringify(p)) + 1;
    if (bytes > MAX_PATCH_FILE_BYTES) return { files, total: paths.length, truncated: true };
    files.push(p);
  }
  return { files, total: paths.length };
}
