/**
 * The approach snapline replaces, for comparison: read both sides of every changed file whole
 * into strings (as peers' diff summaries do) and count changed lines by matching line multisets.
 * Usage: node body-loading.js REPO FROM TO
 */
import { execFileSync } from 'node:child_process';

const [repo, from, to] = process.argv.slice(2) as [string, string, string];
const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, maxBuffer: 4 << 30 });
const changed = git('diff-tree', '-r', '-z', '--no-renames', '--raw', from, to).toString('latin1').split('\0');
for (let i = 0; i + 1 < changed.length; i += 2) {
  const [, , oldOid, newOid] = changed[i]!.slice(1).split(' ') as [string, string, string, string];
  const path = changed[i + 1]!;
  const before = /^0+$/.test(oldOid) ? '' : git('cat-file', 'blob', oldOid).toString('utf8');
  const after = /^0+$/.test(newOid) ? '' : git('cat-file', 'blob', newOid).toString('utf8');
  const a = before.split('\n');
  const b = after.split('\n');
  const counts = new Map<string, number>();
  for (const l of a) counts.set(l, (counts.get(l) ?? 0) + 1);
  let common = 0;
  for (const l of b) {
    const c = counts.get(l) ?? 0;
    if (c > 0) {
      common++;
      counts.set(l, c - 1);
    }
  }
  const stored = JSON.stringify({ file: path, before, after }).length;
  process.stdout.write(`${b.length - common}\t${a.length - common}\t${path}\t${stored}\n`);
}
