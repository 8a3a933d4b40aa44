import type { DiffStat } from './numstat.js';
import { COLOR } from './color.js';
import { quotePath } from './quote.js';

export interface StatFormat {
  /** Quote bytes above 0x7f in names (git's core.quotePath; default true). */
  quotePath?: boolean;
  /** git's default colours: the bar's + green and - red (as `git diff --stat --color=always`). */
  color?: boolean;
}

/**
 * The name git shows for a file in --stat and --numstat: a rename as `dir/{old => new}`;
 * `quoteNonAscii` is git's core.quotePath (default true).
 */
export function displayName(s: Pick<DiffStat, 'file' | 'from'>, quoteNonAscii = true): string {
  return s.from === undefined ? quotePath(s.file, quoteNonAscii) : renameName(s.from, s.file, quoteNonAscii);
}

/**
 * git's pprint_rename: the common leading directories and trailing part (from a slash on)
 * are written once around `{old => new}`; names that need quoting are written whole.
 */
function renameName(oldPath: string, newPath: string, quoteNonAscii: boolean): string {
  const qa = quotePath(oldPath, quoteNonAscii);
  const qb = quotePath(newPath, quoteNonAscii);
  if (qa !== oldPath || qb !== newPath) return `${qa} => ${qb}`;
  const a = Buffer.from(oldPath);
  const b = Buffer.from(newPath);
  let prefix = 0;
  for (let i = 0; i < a.length && i < b.length && a[i] === b[i]; i++) if (a[i] === 0x2f) prefix = i + 1;
  let suffix = 0;
  const adjust = prefix ? 1 : 0;
  // Walks back from the ends (their terminating NULs, as git does) while the bytes agree.
  for (let i = a.length, j = b.length; i >= prefix - adjust && j >= prefix - adjust; i--, j--) {
    const ca = i < a.length ? a[i] : 0;
    const cb = j < b.length ? b[j] : 0;
    if (ca !== cb) break;
    if (ca === 0x2f) suffix = a.length - i;
  }
  const aMid = Math.max(0, a.length - prefix - suffix);
  const bMid = Math.max(0, b.length - prefix - suffix);
  const text = (buf: Buffer, start: number, end: number) => buf.subarray(start, end).toString('utf8');
  const middle = `${text(a, prefix, prefix + aMid)} => ${text(b, prefix, prefix + bMid)}`;
  if (prefix + suffix === 0) return middle;
  return `${text(a, 0, prefix)}{${middle}}${text(a, a.length - suffix, a.length)}`;
}

/**
 * A `git diff --stat` summary, laid out by git's rules: one line per file with its change
 * count and a +/- bar, then the totals. `columns` is the terminal width (git uses 80 when the
 * output is not a terminal). Counts over the memory budget are marked `~`.
 */
export function formatStat(stats: readonly DiffStat[], columns = 80, format: StatFormat = {}): string {
  if (stats.length === 0) return '';
  const names = stats.map((s) => displayName(s, format.quotePath ?? true));
  const counts = stats.map((s) => `${s.approximate ? '~' : ''}${s.additions + s.deletions}`);
  let maxChange = 0;
  let numberWidth = 0;
  let binWidth = 0;
  stats.forEach((s, i) => {
    if (s.binary) {
      // "Bin XXX -> YYY bytes", counts aligned with "Bin"
      const same = s.before?.oid !== undefined && s.before.oid === s.after?.oid;
      binWidth = Math.max(binWidth, 14 + (same ? 2 : String(s.before?.size ?? 0).length + String(s.after?.size ?? 0).length));
      numberWidth = 3;
    } else {
      maxChange = Math.max(maxChange, s.additions + s.deletions);
      numberWidth = Math.max(numberWidth, counts[i]!.length);
    }
  });
  numberWidth = Math.max(numberWidth, String(maxChange).length);
  const width = Math.max(columns, 16 + 6 + numberWidth);

  // The widths wanted, then cut to fit: the bar gets at most 3/8 of the line.
  let graphWidth = maxChange + 4 > binWidth ? maxChange : binWidth - 4;
  let nameWidth = Math.max(...names.map(columnsOf));
  if (nameWidth + numberWidth + 6 + graphWidth > width) {
    if (graphWidth > Math.floor((width * 3) / 8) - numberWidth - 6) graphWidth = Math.max(6, Math.floor((width * 3) / 8) - numberWidth - 6);
    if (nameWidth > width - numberWidth - 6 - graphWidth) nameWidth = width - numberWidth - 6 - graphWidth;
    else graphWidth = width - numberWidth - 6 - nameWidth;
  }

  const paint = (color: string, text: string) => (format.color && text ? color + text + COLOR.reset : text);
  let adds = 0;
  let dels = 0;
  const lines = stats.map((s, i) => {
    const name = ` ${fitName(names[i]!, nameWidth)} |`;
    if (s.binary) {
      const bin = ` ${'Bin'.padStart(numberWidth)}`;
      // Same content (a pure rename or mode change): no sizes, as git.
      const same = s.before?.oid !== undefined && s.before.oid === s.after?.oid;
      return !same && (s.before?.size || s.after?.size) ? `${name}${bin} ${paint(COLOR.old, String(s.before?.size ?? 0))} -> ${paint(COLOR.new, String(s.after?.size ?? 0))} bytes` : name + bin;
    }
    adds += s.additions;
    dels += s.deletions;
    let plus = s.additions;
    let minus = s.deletions;
    if (graphWidth < maxChange) {
      // git's linear scale: at least one mark for any change, the rest shared by size.
      const scale = (n: number) => (n === 0 ? 0 : 1 + Math.floor((n * (graphWidth - 1)) / maxChange));
      let total = scale(plus + minus);
      if (total < 2 && plus && minus) total = 2;
      if (plus < minus) {
        plus = scale(plus);
        minus = total - plus;
      } else {
        minus = scale(minus);
        plus = total - minus;
      }
    }
    const count = ` ${counts[i]!.padStart(numberWidth)}`;
    return `${name}${count}${s.additions + s.deletions ? ' ' : ''}${paint(COLOR.new, '+'.repeat(plus))}${paint(COLOR.old, '-'.repeat(minus))}`;
  });
  const n = stats.length;
  let summary = ` ${n} file${n === 1 ? '' : 's'} changed`;
  if (adds || !dels) summary += `, ${adds} insertion${adds === 1 ? '' : 's'}(+)`;
  if (dels || !adds) summary += `, ${dels} deletion${dels === 1 ? '' : 's'}(-)`;
  if (stats.some((s) => s.approximate)) summary += ' (~ approximate: over the memory budget)';
  return lines.join('\n') + '\n' + summary + '\n';
}

/** Terminal columns a name takes (one a character; wide scripts are not measured). */
function columnsOf(name: string): number {
  return [...name].length;
}

/** The name in `width` columns: cut from the left behind "..." (at a slash when there is one). */
function fitName(name: string, width: number): string {
  const chars = [...name];
  if (chars.length <= width) return name + ' '.repeat(width - chars.length);
  const room = Math.max(0, width - 3);
  let rest = chars.slice(chars.length - room).join('');
  const slash = rest.indexOf('/');
  if (slash >= 0) rest = rest.slice(slash);
  return '...' + rest + ' '.repeat(room - [...rest].length);
}
