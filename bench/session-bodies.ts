/**
 * The body-loading approach, for comparison (what OpenCode's Snapshot.diffFull does): for every
 * file changed between two trees, read the old and the new blob whole into strings and count
 * their lines. Usage: node session-bodies.js GIT_DIR FROM TO
 */
import { execFileSync } from 'node:child_process';

const [gitDir, from, to] = process.argv.slice(2) as [string, string, string];
const git = (...args: string[]) => execFileSync('git', ['--git-dir', gitDir, ...args], { maxBuffer: 4 << 30 });
const raw = git('diff-tree', '-r', '-z', '--no-renames', from, to).toString('latin1').split('\0');
let files = 0;
let lines = 0;
let bytes = 0;
for (let i = 0; i + 1 < raw.length; i += 2) {
  const [, , oldOid, newOid] = raw[i]!.slice(1).split(' ') as [string, string, string, string];
  const before = /^0+$/.test(oldOid) ? '' : git('cat-file', 'blob', oldOid).toString('utf8');
  const after = /^0+$/.test(newOid) ? '' : git('cat-file', 'blob', newOid).toString('utf8');
  lines += before.split('\n').length + after.split('\n').length;
  bytes += before.length + after.length;
  files++;
}
process.stdout.write(JSON.stringify({ files, lines, bytes }) + '\n');
