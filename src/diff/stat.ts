import type { FileStat } from './numstat.js';
import { quotePath } from './quote.js';

/** A `git diff --stat`-style summary: one line per file with a +/- bar, then the totals. */
export function formatStat(stats: readonly FileStat[], columns = 80): string {
  if (stats.length === 0) return '';
  const names = stats.map((s) => quotePath(s.file));
  const nameWidth = Math.min(Math.max(...names.map((n) => n.length)), Math.max(20, Math.floor(columns * 0.5)));
  const counts = stats.map((s) => (s.binary ? 'Bin' : `${s.approximate ? '~' : ''}${s.additions + s.deletions}`));
  const countWidth = Math.max(...counts.map((c) => c.length));
  const maxChange = Math.max(1, ...stats.map((s) => s.additions + s.deletions));
  const graphWidth = Math.max(10, columns - nameWidth - countWidth - 6);
  let adds = 0;
  let dels = 0;
  const lines = stats.map((s, i) => {
    adds += s.additions;
    dels += s.deletions;
    let name = names[i]!;
    if (name.length > nameWidth) name = '...' + name.slice(name.length - nameWidth + 3);
    if (s.binary) return ` ${name.padEnd(nameWidth)} | ${counts[i]!.padStart(countWidth)} ${s.before?.size ?? 0} -> ${s.after?.size ?? 0} bytes`;
    const total = s.additions + s.deletions;
    const scale = maxChange > graphWidth ? graphWidth / maxChange : 1;
    let plus = Math.round(s.additions * scale);
    let minus = Math.round(s.deletions * scale);
    if (s.additions > 0 && plus === 0) plus = 1;
    if (s.deletions > 0 && minus === 0) minus = 1;
    const graph = total === 0 ? '' : ' ' + '+'.repeat(plus) + '-'.repeat(minus);
    return ` ${name.padEnd(nameWidth)} | ${counts[i]!.padStart(countWidth)}${graph}`;
  });
  const n = stats.length;
  let summary = ` ${n} file${n === 1 ? '' : 's'} changed`;
  if (adds || !dels) summary += `, ${adds} insertion${adds === 1 ? '' : 's'}(+)`;
  if (dels || !adds) summary += `, ${dels} deletion${dels === 1 ? '' : 's'}(-)`;
  if (stats.some((s) => s.approximate)) summary += ' (~ approximate: over the memory budget)';
  return lines.join('\n') + '\n' + summary + '\n';
}
