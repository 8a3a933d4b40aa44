/**
 * Path quoting as git does it with core.quotePath=true (quote_c_style): a path holding control
 * characters, a double quote, a backslash or non-ASCII bytes is printed in double quotes with
 * C escapes and octal for other bytes.
 */
const NAMED: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r', 34: '\\"', 92: '\\\\' };

export function quotePath(path: string): string {
  const bytes = Buffer.from(path, 'utf8');
  let needs = false;
  for (const b of bytes) {
    if (b < 0x20 || b === 0x22 || b === 0x5c || b >= 0x7f) {
      needs = true;
      break;
    }
  }
  if (!needs) return path;
  let out = '"';
  for (const b of bytes) {
    if (NAMED[b] !== undefined) out += NAMED[b];
    else if (b < 0x20 || b >= 0x7f) out += '\\' + b.toString(8).padStart(3, '0');
    else out += String.fromCharCode(b);
  }
  return out + '"';
}
