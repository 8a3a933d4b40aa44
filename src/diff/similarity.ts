/**
 * git's similarity estimate for rename detection (diffcore-delta's "spanhash" counting), from
 * a blob streamed in chunks: the blob is cut into spans that end at a newline or after 64
 * bytes, each span is hashed into one of HASHBASE buckets, and bytes are counted per bucket.
 * Two blobs share `sum(min(count_a, count_b))` bytes over their common buckets. Whatever a
 * blob's size, its signature has at most HASHBASE entries (8 bytes each).
 */
import type { ObjectReader } from '../git/objects.js';
import { blobChunks, type BlobRef } from './compare.js';
import { BINARY_SNIFF_BYTES } from './lines.js';

/** git's full score: a similarity of 100 %. */
export const MAX_SCORE = 60000;
/** git's default minimum score for a rename (50 %). */
export const DEFAULT_RENAME_SCORE = 30000;
/** The prime git reduces span hashes by (between 2^16 and 2^17). */
const HASHBASE = 107927;
/** Longest span: a line longer than this is cut into 64-byte spans. */
const MAX_SPAN = 64;

/** Bytes per bucket, buckets in increasing order. */
export interface Signature {
  buckets: Uint32Array;
  bytes: Uint32Array;
}

/** Dense per-bucket counters reused from one blob to the next (about 0.9 MiB). */
export class SignatureScratch {
  readonly counts = new Uint32Array(HASHBASE);
  readonly touched = new Uint32Array(HASHBASE);
}

/** Memory a signature takes. */
export function signatureBytes(s: Signature): number {
  return s.buckets.byteLength + s.bytes.byteLength;
}

/**
 * The signature of a blob, streamed: a carriage return before a newline is skipped in text
 * blobs (no NUL in the first 8000 bytes), and a last span without a newline is not counted,
 * both as git does.
 */
export async function signatureOf(reader: ObjectReader, blob: BlobRef, scratch: SignatureScratch): Promise<Signature> {
  const st: SpanState = { accum1: 0, accum2: 0, n: 0, distinct: 0, text: true, pendingCR: false };
  // The first 8000 bytes decide text or binary before any byte is counted.
  const head: Buffer[] = [];
  let headBytes = 0;
  let decided = false;
  const decide = (): void => {
    const first = Buffer.concat(head);
    st.text = first.subarray(0, BINARY_SNIFF_BYTES).indexOf(0) < 0;
    decided = true;
    countSpans(first, st, scratch);
    head.length = 0;
  };
  for await (const chunk of blobChunks(reader, blob)) {
    if (decided) {
      countSpans(chunk, st, scratch);
      continue;
    }
    head.push(chunk);
    headBytes += chunk.length;
    if (headBytes >= BINARY_SNIFF_BYTES) decide();
  }
  if (!decided) decide();
  if (st.pendingCR) {
    st.pendingCR = false;
    st.text = false; // the carriage return ends the blob: it is counted
    countSpans(Buffer.from([13]), st, scratch);
  }

  const { counts, touched } = scratch;
  const buckets = new Uint32Array(touched.subarray(0, st.distinct).sort());
  const bytes = new Uint32Array(st.distinct);
  for (let k = 0; k < st.distinct; k++) {
    bytes[k] = counts[buckets[k]!]!;
    counts[buckets[k]!] = 0;
  }
  return { buckets, bytes };
}

/** Span hashing state carried from one chunk to the next. */
interface SpanState {
  accum1: number;
  accum2: number;
  n: number;
  distinct: number;
  text: boolean;
  /** A text chunk ended with a carriage return: the next chunk's first byte decides it. */
  pendingCR: boolean;
}

/** git's hash_chars loop over one chunk (locals only, for speed). */
function countSpans(chunk: Buffer, st: SpanState, scratch: SignatureScratch): void {
  const { counts, touched } = scratch;
  let { accum1, accum2, n, distinct } = st;
  const text = st.text;
  let i = 0;
  const end = chunk.length;
  if (st.pendingCR && end > 0) {
    st.pendingCR = false;
    if (chunk[0] !== 10) i = -1; // count the carriage return first
  }
  for (; i < end; i++) {
    const c = i < 0 ? 13 : chunk[i]!;
    if (c === 13 && text && i >= 0) {
      if (i + 1 === end) {
        st.pendingCR = true;
        break;
      }
      if (chunk[i + 1] === 10) continue;
    }
    const old1 = accum1;
    accum1 = (((accum1 << 7) ^ (accum2 >>> 25)) + c) >>> 0;
    accum2 = ((accum2 << 7) ^ (old1 >>> 25)) >>> 0;
    if (++n < MAX_SPAN && c !== 10) continue;
    const bucket = ((accum1 + Math.imul(accum2, 0x61)) >>> 0) % HASHBASE;
    if (counts[bucket] === 0) touched[distinct++] = bucket;
    counts[bucket] += n;
    n = 0;
    accum1 = accum2 = 0;
  }
  st.accum1 = accum1;
  st.accum2 = accum2;
  st.n = n;
  st.distinct = distinct;
}

/** Bytes of `dst` that `src` can account for: git's `src_copied`. */
export function copiedBytes(src: Signature, dst: Signature): number {
  let copied = 0;
  let d = 0;
  const nd = dst.buckets.length;
  for (let s = 0; s < src.buckets.length; s++) {
    const bucket = src.buckets[s]!;
    while (d < nd && dst.buckets[d]! < bucket) d++;
    if (d < nd && dst.buckets[d] === bucket) {
      copied += Math.min(src.bytes[s]!, dst.bytes[d]!);
      d++;
    }
  }
  return copied;
}

/**
 * git's `-M` score syntax: "50%" or "50" (read as 0.50), "5" (0.5), "0.5" … in units of
 * MAX_SCORE. Returns the score and the unparsed rest.
 */
export function parseRenameScore(text: string): { score: number; rest: string } {
  let num = 0;
  let scale = 1;
  let dot = false;
  let i = 0;
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (!dot && ch === '.') {
      scale = 1;
      dot = true;
    } else if (ch === '%') {
      scale = dot ? scale * 100 : 100;
      i++;
      break;
    } else if (ch >= '0' && ch <= '9') {
      if (scale < 100000) {
        scale *= 10;
        num = num * 10 + (ch.charCodeAt(0) - 48);
      }
    } else break;
  }
  return { score: num >= scale ? MAX_SCORE : Math.trunc((MAX_SCORE * num) / scale), rest: text.slice(i) };
}
