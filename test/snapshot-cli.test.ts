import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { tempDir } from './snapshot-helpers.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const home = tempDir('cli-home');
const ws = tempDir('cli-ws');
after(() => {
  home.cleanup();
  ws.cleanup();
});

function snapline(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'snapshot', ...args], { encoding: 'utf8', env: { ...process.env, SNAPLINE_HOME: home.dir, SNAPLINE_CONFIG_CONTENT: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Non-zero exit, nothing on stdout, one `snapline: …` line on stderr matching `pattern`. */
function assertRefused(r: ReturnType<typeof snapline>, pattern: RegExp): void {
  assert.notEqual(r.status, 0, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^snapline: /);
  assert.match(lines[0]!, pattern);
}

test('track prints a tree id; json adds skipped; restore puts a file back', () => {
  writeFileSync(join(ws.dir, 'a.txt'), 'one\n');
  const t = snapline('track', '--dir', ws.dir);
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /^[0-9a-f]{40}\n$/);
  const j = snapline('track', '--dir', ws.dir, '--format', 'json');
  assert.deepEqual(JSON.parse(j.stdout), { tree: t.stdout.trim(), skipped: [] });
  writeFileSync(join(ws.dir, 'a.txt'), 'two\n');
  const r = snapline('restore', t.stdout.trim(), '--dir', ws.dir, '--', 'a.txt');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'restored a.txt\n');
});

test('skipped files are warned about on stderr in text mode', () => {
  writeFileSync(join(ws.dir, 'big.bin'), Buffer.alloc(5000));
  const r = spawnSync(process.execPath, [CLI, 'snapshot', 'track', '--dir', ws.dir], { encoding: 'utf8', env: { ...process.env, SNAPLINE_HOME: home.dir, SNAPLINE_CONFIG_CONTENT: '{"snapshot":{"maxFileSize":100}}' } });
  assert.equal(r.status, 0);
  assert.match(r.stderr, /warning: not snapshotted \(too-large, 5000 bytes\): big\.bin/);
});

test('bad input: clear one-line errors and non-zero exits', () => {
  assertRefused(snapline('track', '--dir', join(ws.dir, 'does-not-exist')), /no such directory/);
  assertRefused(snapline('track', '--dir', join(ws.dir, 'a.txt')), /not a directory/);
  assertRefused(snapline('track', '--dir', '/'), /refusing to snapshot \/.*--force/);
  assertRefused(snapline('restore', '0123456789abcdef0123456789abcdef01234567', '--dir', ws.dir), /no snapshot 0123456789abcdef/);
  const tree = snapline('track', '--dir', ws.dir).stdout.trim();
  assertRefused(snapline('restore', tree, '--dir', ws.dir, '--', '../x'), /refusing path '\.\.\/x'/);
  assertRefused(snapline('frobnicate'), /unknown subcommand/);
  assertRefused(snapline('track', '--bogus'), /bogus/);
});

test('--help teaches: subcommands, options and an example', () => {
  const r = spawnSync(process.execPath, [CLI, 'snapshot', '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  for (const word of ['track', 'restore', 'gc', 'du', 'doctor', '--dir', 'Examples:']) assert.ok(r.stdout.includes(word), word);
});
