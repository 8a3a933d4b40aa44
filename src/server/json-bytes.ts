/**
 * A JSON string literal of UTF-8 bytes made a slice at a time: the text of
 * JSON.stringify(bytes.toString('utf8')), without a string of the whole. A patch page can be
 * megabytes; as one string it would sit in V8's large-object space until a full collection,
 * while slices are small strings that the next young-generation collection frees.
 */
const SLICE = 64 * 1024;

/**
 * Whether UTF-8 decoding starts afresh at byte `i`: at the end, at a byte that is not a
 * continuation byte (a sequence unfinished before it is invalid either way), or after four
 * continuation bytes in a row (no sequence has more than three). Slices cut there decode as the
 * whole does.
 */
function afresh(bytes: Buffer, i: number): boolean {
  if (i >= bytes.length || (bytes[i]! & 0xc0) !== 0x80) return true;
  if (i < 4) return false;
  for (let k = i - 4; k < i; k++) if ((bytes[k]! & 0xc0) !== 0x80) return false;
  return true;
}

export function jsonStringOf(bytes: Buffer, slice = SLICE): Buffer[] {
  const out = [Buffer.from('"')];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(bytes.length, start + slice);
    while (!afresh(bytes, end)) end++;
    out.push(Buffer.from(JSON.stringify(bytes.toString('utf8', start, end)).slice(1, -1)));
    start = end;
  }
  out.push(Buffer.from('"'));
  return out;
}
