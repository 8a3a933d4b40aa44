/**
 * File names are bytes to git and to the file system, but strings here. A name that is valid
 * UTF-8 (nearly all) is its usual string; in one that is not, each byte that is not part of a
 * valid UTF-8 sequence becomes a lone surrogate U+DC80–U+DCFF (the "surrogateescape" of other
 * languages). Valid UTF-8 never decodes to such a surrogate, so the mapping is one to one and
 * `pathBytes(decodePath(b))` is `b`: such a name can be restored, compared and shown as git
 * shows it.
 */
import { isUtf8 } from 'node:buffer';

/** The string for a file name's bytes, every byte kept. */
export function decodePath(bytes: Buffer): string {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const n = sequenceLength(bytes, i);
    if (n > 0) {
      out += bytes.toString('utf8', i, i + n);
      i += n;
    } else {
      out += String.fromCharCode(0xdc00 + bytes[i]!);
      i++;
    }
  }
  return out;
}

/** The bytes a name string stands for (see decodePath). */
export function pathBytes(path: string): Buffer {
  if (!hasEscapes(path)) return Buffer.from(path, 'utf8');
  const parts: Buffer[] = [];
  let run = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    const lone = c >= 0xdc80 && c <= 0xdcff && !(i > 0 && isHigh(path.charCodeAt(i - 1)));
    if (!lone) continue;
    parts.push(Buffer.from(path.slice(run, i), 'utf8'), Buffer.from([c - 0xdc00]));
    run = i + 1;
  }
  parts.push(Buffer.from(path.slice(run), 'utf8'));
  return Buffer.concat(parts);
}

/** A path for the file system's calls: the string itself, or its bytes when it carries escaped bytes. */
export function fsPath(path: string): string | Buffer {
  return hasEscapes(path) ? pathBytes(path) : path;
}

/** Whether the name holds bytes that are not UTF-8 (escaped as lone surrogates). */
export function hasEscapes(path: string): boolean {
  return /[\udc80-\udcff]/.test(path);
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;

/** Length of the valid UTF-8 sequence at `i` (1–4), or 0 when the byte there starts none. */
function sequenceLength(b: Buffer, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number) => i + k < b.length && (b[i + k]! & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const d = b[i + 1] ?? 0;
    if ((c === 0xe0 && d < 0xa0) || (c === 0xed && d > 0x9f)) return 0; // overlong, or a surrogate
    return cont(1) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const d = b[i + 1] ?? 0;
    if ((c === 0xf0 && d < 0x90) || (c === 0xf4 && d > 0x8f)) return 0; // overlong, or past U+10FFFF
    return cont(1) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}
