/**
 * Path quoting as git does it (quote_c_style): a path holding control characters, DEL, a double
 * quote, a backslash or — with core.quotePath=true, git's default — bytes above 0x7f is printed
 * in double quotes with C escapes and octal for other bytes. With core.quotePath=false bytes
 * above 0x7f stay as they are.
 */
import { pathBytes } from '../git/path-bytes.js';

const NAMED: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r', 34: '\\"', 92: '\\\\' };

export function quotePath(path: string, quoteNonAscii = true): string {
  const bytes = pathBytes(path);
  const special = (b: number) => b < 0x20 || b === 0x22 || b === 0x5c || b === 0x7f || (quoteNonAscii && b > 0x7f);
  let needs = false;
  for (const b of bytes) {
    if (special(b)) {
      needs = true;
      break;
    }
  }
  if (!needs) return path;
  const out: number[] = [0x22];
  const ascii = (s: string) => {
    for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
  };
  for (const b of bytes) {
    if (NAMED[b] !== undefined) ascii(NAMED[b]);
    else if (special(b)) ascii('\\' + b.toString(8).padStart(3, '0'));
    else out.push(b); // bytes above 0x7f kept as they are (core.quotePath=false)
  }
  out.push(0x22);
  return Buffer.from(out).toString('utf8');
}
