/**
 * git's binary patches (`git diff --binary`): after "GIT binary patch", a hunk giving the new
 * content from the old and one giving the old from the new, each "literal SIZE" (the content
 * deflated) or "delta SIZE" (a git delta, deflated), the bytes written in base85 lines of at
 * most 52 bytes, each line led by its length ('A'–'Z' 1–26, 'a'–'z' 27–52).
 *
 * Small files (both sides under SMALL_BINARY) take git's own hunks, so the bytes are git's,
 * delta choice included. Larger ones are written here as literals, deflated and encoded as
 * they stream (zlib output differs between zlib builds, so these bytes are not git's; `git
 * apply` gives the same files).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDeflate } from 'node:zlib';
import type { ObjectReader } from '../git/objects.js';
import { reclaimArrays } from '../git/reclaim.js';
import { runGit, type GitContext } from '../git/run.js';
import { blobChunks, type BlobRef } from './compare.js';
import { MAX_SCORE } from './similarity.js';

/** Both sides below this size: git writes the hunks (its output stays well under 1 MiB). */
export const SMALL_BINARY = 256 * 1024;
/** git's zlib level for binary patches (core.compression's default). */
const ZLIB_LEVEL = 1;
const LINE_BYTES = 52;
/** Deflated bytes between two full collections (see literalHunk). */
const RECLAIM_EVERY = 8 * 1024 * 1024;
const ALPHABET = Buffer.from('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~');

/** Bytes one base85 line takes at most: length, 13 groups of 5, newline. */
const LINE_MAX = 1 + (LINE_BYTES / 4) * 5 + 1;

/** Writes the base85 line ("\n" included) for 1–52 bytes into `out`; returns its length. */
export function base85Line(bytes: Buffer, out: Buffer = Buffer.allocUnsafe(LINE_MAX)): number {
  const n = bytes.length;
  out[0] = n <= 26 ? 0x41 + n - 1 : 0x61 + n - 27;
  let o = 1;
  for (let i = 0; i < n; i += 4) {
    let acc = 0;
    for (let k = 0; k < 4; k++) acc = acc * 256 + (i + k < n ? bytes[i + k]! : 0);
    for (let k = 4; k >= 0; k--) {
      out[o + k] = ALPHABET[acc % 85]!;
      acc = Math.floor(acc / 85);
    }
    o += 5;
  }
  out[o] = 10;
  return o + 1;
}

/**
 * A literal hunk of `blob`, line by line: "literal SIZE", the deflated content in base85
 * lines, then an empty line. Streams: only a deflate window and one line are held; `emit`
 * must copy the line before it returns (its buffer is reused).
 */
export async function literalHunk(reader: ObjectReader, blob: BlobRef, emit: (line: Buffer) => Promise<void>): Promise<void> {
  await emit(Buffer.from(`literal ${blob.size}\n`));
  const pending = Buffer.allocUnsafe(LINE_BYTES);
  const line = Buffer.allocUnsafe(LINE_MAX);
  let used = 0;
  let deflatedBytes = 0;
  // An error of `emit` (the page is full, the consumer left) ends the pipeline: it is the
  // error to report, not the pipeline's own abort.
  let emitFailure: { error: unknown } | null = null;
  const send = async (bytes: Buffer) => {
    try {
      await emit(line.subarray(0, base85Line(bytes, line)));
    } catch (error) {
      emitFailure = { error };
      throw error;
    }
  };
  try {
    await pipeline(Readable.from(blobChunks(reader, blob)), createDeflate({ level: ZLIB_LEVEL }), async (deflated: AsyncIterable<Buffer>) => {
      for await (const chunk of deflated) {
        for (let i = 0; i < chunk.length; ) {
          const n = chunk.copy(pending, used, i, Math.min(chunk.length, i + LINE_BYTES - used));
          used += n;
          i += n;
          if (used === LINE_BYTES) {
            await send(pending);
            used = 0;
          }
        }
        // zlib's output chunks outlive a young-generation collection (the stream holds them
        // across awaits) and are freed only by a full one: one every 8 MiB keeps them few.
        deflatedBytes += chunk.length;
        if (deflatedBytes >= RECLAIM_EVERY) {
          deflatedBytes = 0;
          reclaimArrays();
        }
      }
    });
  } catch (error) {
    throw emitFailure ? (emitFailure as { error: unknown }).error : error;
  }
  if (used) await send(pending.subarray(0, used));
  await emit(Buffer.from('\n'));
}

/** What identifies one file's change for git: the two trees and the path(s). */
export interface BinaryChange {
  fromTree: string;
  toTree: string;
  path: string;
  /** A rename's old path and score. */
  from?: string;
  score?: number;
}

/**
 * git's own hunks for one small file (the lines after "GIT binary patch"), or null when git
 * did not write a binary patch for it.
 */
export async function gitBinaryHunks(ctx: GitContext, c: BinaryChange): Promise<Buffer | null> {
  const args = ['diff-tree', '-p', '--binary', '--full-index', '--no-color', '--no-ext-diff', '--no-textconv'];
  if (c.from !== undefined) args.push(`-M${renameScoreArg(c.score ?? MAX_SCORE)}`);
  else args.push('--no-renames');
  args.push(c.fromTree, c.toTree, '--', `:(literal)${c.path}`);
  if (c.from !== undefined) args.push(`:(literal)${c.from}`);
  const out = (await runGit(ctx, args)).stdout;
  const marker = Buffer.from('\nGIT binary patch\n');
  const at = out.indexOf(marker);
  if (at < 0 || out.indexOf(marker, at + 1) >= 0) return null;
  return out.subarray(at + marker.length);
}

/** A `-M` argument that git reads as a score no higher than `score`, so the pair is found again. */
function renameScoreArg(score: number): string {
  if (score >= MAX_SCORE) return '100%';
  return `0.${String(Math.floor((score * 100000) / MAX_SCORE)).padStart(5, '0')}`;
}
