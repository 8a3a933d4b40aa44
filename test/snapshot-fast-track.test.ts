/**
 * `snapline snapshot track` through bin/snapline: a track of a workspace that nothing changed in
 * since its last one is answered by the script, without Node (src/snapshot/ticket.ts). That it
 * was: the command runs with a PATH holding git, cmp, od and stat but no node, where going to Node
 * fails (exit 127). Every answer is checked against git's own tree of the workspace, and every
 * kind of change must reach Node.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sessionFixture } from './session-helpers.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'snapline');

/** A directory with git, cmp, od and stat on it, and no node. */
function pathWithoutNode(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'snapline-nonode-'));
  for (const tool of ['git', 'cmp', 'od', 'stat']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(dir, tool));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function fixture() {
  const f = sessionFixture();
  const noNode = pathWithoutNode();
  writeFileSync(join(f.dir, '.gitignore'), '*.log\nbuild/\n');
  writeFileSync(join(f.dir, 'a.txt'), 'one\ntwo\n');
  mkdirSync(join(f.dir, 'src'));
  writeFileSync(join(f.dir, 'src', 'b.js'), 'export const b = 1;\n');
  writeFileSync(join(f.dir, 'debug.log'), 'ignored\n');
  f.git('add', '-A');
  f.git('commit', '-qm', 'start');
  const track = (opts: { node: boolean; args?: string[]; cwd?: string; env?: NodeJS.ProcessEnv }) =>
    spawnSync(BIN, ['snapshot', 'track', ...(opts.args ?? ['--dir', f.dir])], {
      cwd: opts.cwd ?? tmpdir(),
      env: { ...f.env, ...opts.env, ...(opts.node ? {} : { PATH: noNode.dir }) },
      encoding: 'utf8',
    });
  /** git's tree of the workspace as it is (its own index, `add -A`, `write-tree`). */
  const gitTree = (): string => {
    const index = join(f.home, 'oracle-index');
    rmSync(index, { force: true });
    const env = { ...process.env, GIT_INDEX_FILE: index };
    execFileSync('git', ['add', '-A'], { cwd: f.dir, env });
    return execFileSync('git', ['write-tree'], { cwd: f.dir, env, encoding: 'utf8' }).trim();
  };
  return {
    ...f,
    track,
    gitTree,
    cleanup: () => {
      noNode.cleanup();
      f.cleanup();
    },
  };
}

test('a no-change track is answered without Node: the tree and JSON Node prints, from any spelling of the workspace', () => {
  const f = fixture();
  try {
    const first = f.track({ node: true });
    assert.equal(first.status, 0, first.stderr);
    assert.equal(first.stdout, `${f.gitTree()}\n`);
    // Node is not there: only the script can answer.
    const fast = f.track({ node: false });
    assert.equal(fast.status, 0, fast.stderr);
    assert.equal(fast.stdout, first.stdout);
    assert.equal(fast.stderr, '');
    const json = f.track({ node: false, args: ['--format', 'json', `--dir=${f.dir}`] });
    assert.equal(json.status, 0, json.stderr);
    assert.equal(json.stdout, JSON.stringify({ tree: first.stdout.trim(), skipped: [] }) + '\n');
    const nodeJson = f.track({ node: true, args: ['--format=json', '--dir', f.dir], env: { SNAPLINE_FAST_TRACK: '0' } });
    assert.equal(nodeJson.stdout, json.stdout, 'the same bytes as Node prints');
    // The workspace as the current directory, and through a symlink.
    assert.equal(f.track({ node: false, args: [], cwd: f.dir }).stdout, first.stdout);
    const link = join(f.home, 'link');
    symlinkSync(f.dir, link);
    assert.equal(f.track({ node: false, args: ['--dir', link] }).stdout, first.stdout);
    // Off: SNAPLINE_FAST_TRACK=0 goes to Node (which is not there).
    assert.equal(f.track({ node: false, env: { SNAPLINE_FAST_TRACK: '0' } }).status, 127);
    // What the script does not take goes to Node: a subdirectory (git decides the workspace),
    // an option it does not know, an option given twice.
    for (const args of [['--dir', join(f.dir, 'src')], ['--dir', f.dir, '--help'], ['--dir', f.dir, '--dir', f.dir], ['--dir', f.dir, '--format', 'yaml']]) {
      assert.equal(f.track({ node: false, args }).status, 127, args.join(' '));
    }
  } finally {
    f.cleanup();
  }
});

test('every kind of change reaches Node, and each answer is git\'s tree of the workspace', () => {
  const f = fixture();
  try {
    // The repository's own exclude file ignores notes.txt (git reads it; the store has a copy).
    const exclude = join(f.dir, '.git', 'info', 'exclude');
    mkdirSync(join(f.dir, '.git', 'info'), { recursive: true });
    writeFileSync(exclude, 'notes.txt\n');
    writeFileSync(join(f.dir, 'notes.txt'), 'mine\n');
    assert.equal(f.track({ node: true }).status, 0);
    const changes: [string, () => void][] = [
      ['a tracked file edited', () => writeFileSync(join(f.dir, 'a.txt'), 'one\ntwo\nthree\n')],
      ['the same size, a new mtime', () => {
        writeFileSync(join(f.dir, 'a.txt'), 'ONE\ntwo\nthree\n');
        utimesSync(join(f.dir, 'a.txt'), new Date(Date.now() + 5000), new Date(Date.now() + 5000));
      }],
      ['a new file', () => writeFileSync(join(f.dir, 'src', 'c.js'), 'c\n')],
      ['a file deleted', () => unlinkSync(join(f.dir, 'src', 'b.js'))],
      ['the repository\'s exclude file no longer ignores a file', () => writeFileSync(exclude, '# nothing\n')],
      ['a commit (HEAD\'s branch moves)', () => {
        f.git('add', '-A');
        f.git('commit', '-qm', 'more');
      }],
      ['snapline.json includes an ignored file (last: the store keeps it)', () => writeFileSync(join(f.dir, 'snapline.json'), JSON.stringify({ snapshot: { include: ['debug.log'] } }))],
    ];
    for (const [what, change] of changes) {
      change();
      const tried = f.track({ node: false });
      assert.equal(tried.status, 127, `${what}: the script answered ${tried.stdout}`);
      const node = f.track({ node: true });
      assert.equal(node.status, 0, node.stderr);
      // git's tree, but for a file snapline.json includes although .gitignore ignores it.
      const expected = what.startsWith('snapline.json') ? node.stdout.trim() : f.gitTree();
      if (what.startsWith('snapline.json')) assert.notEqual(expected, f.gitTree(), 'debug.log is in the snapshot');
      assert.equal(node.stdout, `${expected}\n`, what);
      const again = f.track({ node: false });
      assert.equal(again.status, 0, `${what}: ${again.stderr}`);
      assert.equal(again.stdout, node.stdout, what);
    }
    // The configuration in the environment, and a store someone holds: Node.
    assert.equal(f.track({ node: false, env: { SNAPLINE_CONFIG_CONTENT: '{}' } }).status, 127);
    const lock = join(f.storeGitDir(), 'snapline.lock');
    writeFileSync(lock, '');
    assert.equal(f.track({ node: false }).status, 127);
    unlinkSync(lock);
    assert.equal(f.track({ node: false }).status, 0);
  } finally {
    f.cleanup();
  }
});

test('a store whose ignore rules another snapline process rewrote (another configuration) goes to Node', () => {
  const f = fixture();
  try {
    assert.equal(f.track({ node: true }).status, 0);
    // A turn recorded under another configuration (an agent's environment) that ignores x.txt:
    // its snapshots rewrite the store's ignore rules, not this command's ticket.
    const other = spawnSync(BIN, ['run', 'other config', '--exec', 'true'], { cwd: f.dir, env: { ...f.env, SNAPLINE_CONFIG_CONTENT: JSON.stringify({ snapshot: { ignore: ['x.txt'] } }) }, encoding: 'utf8' });
    assert.equal(other.status, 0, other.stderr);
    writeFileSync(join(f.dir, 'x.txt'), 'new\n');
    assert.equal(f.track({ node: false }).status, 127, 'the store\'s rules are not the ones this configuration makes');
    const node = f.track({ node: true });
    assert.equal(node.stdout, `${f.gitTree()}\n`, 'x.txt is in the snapshot');
  } finally {
    f.cleanup();
  }
});

test('a workspace outside any repository is answered without Node too; its first .git goes to Node; gc removes the tickets of workspaces that are gone', () => {
  const f = fixture();
  const plain = mkdtempSync(join(tmpdir(), 'snapline-plain-'));
  try {
    writeFileSync(join(plain, 'x.txt'), 'x\n');
    const node = f.track({ node: true, args: ['--dir', plain] });
    assert.equal(node.status, 0, node.stderr);
    const fast = f.track({ node: false, args: ['--dir', plain] });
    assert.equal(fast.status, 0, fast.stderr);
    assert.equal(fast.stdout, node.stdout);
    execFileSync('git', ['init', '-q'], { cwd: plain });
    assert.equal(f.track({ node: false, args: ['--dir', plain] }).status, 127);
    // gc removes the tickets of workspaces that are gone, and only those.
    assert.equal(f.track({ node: true }).status, 0);
    const tickets = join(f.home, 'fast-steps', 'tracks');
    const keyOf = (dir: string) => dir.slice(1).split('/').join('%');
    assert.deepEqual(readdirSync(tickets).sort(), [keyOf(f.dir), keyOf(plain)].sort());
    rmSync(plain, { recursive: true, force: true });
    const gc = spawnSync(BIN, ['snapshot', 'gc'], { env: f.env, encoding: 'utf8' });
    assert.equal(gc.status, 0, gc.stderr);
    assert.deepEqual(readdirSync(tickets), [keyOf(f.dir)]);
    assert.equal(f.track({ node: false }).status, 0, 'the live workspace keeps its ticket');
  } finally {
    rmSync(plain, { recursive: true, force: true });
    f.cleanup();
  }
});

/** A big file written and tracked at once, so that its entry waits unvouched; with the tree. */
async function waitingBigFile(f: ReturnType<typeof fixture>) {
  assert.equal(f.track({ node: true }).status, 0);
  const big = join(f.dir, 'big.bin');
  const record = join(f.storeGitDir(), 'snapline-unvouched');
  const gitStore = (...args: string[]) => execFileSync('git', ['--git-dir', f.storeGitDir(), '--work-tree', f.dir, ...args], { cwd: f.dir, env: { ...process.env, GIT_INDEX_FILE: join(f.storeGitDir(), 'index') }, encoding: 'utf8' });
  let tree = '';
  for (let attempt = 0; !existsSync(record); attempt++) {
    // At the start of a second, tracked at once (as an agent's step is): unless the machine is
    // too slow to copy it within that second.
    assert.ok(attempt < 5, 'the copy never fell in the second of the write');
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
    writeFileSync(big, Buffer.alloc(6 << 20, `v${attempt}`));
    const r = f.track({ node: true });
    assert.equal(r.status, 0, r.stderr);
    tree = r.stdout;
  }
  assert.equal(tree, `${f.gitTree()}\n`);
  return { big, record, gitStore, tree };
}

/** The detached sealer's work, run here (it waits for a second after the index's). */
function seal(f: ReturnType<typeof fixture>): void {
  const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'src', 'cli', 'main.js'), 'snapshot', 'seal'], { env: { ...f.env, SNAPLINE_SEAL_STORE: f.storeGitDir() }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

test('a big file copied in the second it was written waits unvouched: git never reads it again, no-change tracks need no Node, a same-size rewrite is seen, the sealer vouches for it', { timeout: 60_000 }, async () => {
  const f = fixture();
  f.env.SNAPLINE_BACKGROUND_SEAL = '0'; // the sealer runs below, when the test says
  try {
    const { big, record, gitStore, tree } = await waitingBigFile(f);
    // The record holds what GNU stat prints of the file, and its entry no stat data (git lists it
    // as changed without reading it, instead of hashing it at every scan as a racy entry).
    const [fingerprint, ...lines] = readFileSync(record, 'utf8').trimEnd().split('\n');
    assert.match(fingerprint!, /^\d+:[0-9a-f]{64}$/);
    assert.deepEqual(lines, [execFileSync('stat', ['-c', '%f %s %i %d %.9Y %.9Z %n', 'big.bin'], { cwd: f.dir, encoding: 'utf8' }).trimEnd()]);
    assert.match(gitStore('ls-files', '--debug', 'big.bin'), /size: 0\b/);
    // Nothing changed: answered without Node, and by Node without staging or writing the index.
    const fast = f.track({ node: false });
    assert.equal(fast.status, 0, fast.stderr);
    assert.equal(fast.stdout, tree);
    const index = statSync(join(f.storeGitDir(), 'index')).mtimeMs;
    assert.equal(f.track({ node: true, env: { SNAPLINE_FAST_TRACK: '0' } }).stdout, tree);
    assert.equal(statSync(join(f.storeGitDir(), 'index')).mtimeMs, index);
    // The same size, other bytes: the script goes to Node, and Node sees it.
    writeFileSync(big, Buffer.alloc(6 << 20, 'w'));
    assert.equal(f.track({ node: false }).status, 127);
    const changed = f.track({ node: true });
    assert.equal(changed.stdout, `${f.gitTree()}\n`);
    assert.notEqual(changed.stdout, tree);
    // The sealer, in a later second, vouches for whatever still waits: its stat data goes into
    // the index, the record goes, and the next track is still answered without Node.
    seal(f);
    assert.equal(existsSync(record), false);
    assert.match(gitStore('ls-files', '--debug', 'big.bin'), new RegExp(`size: ${6 << 20}\\b`));
    assert.equal(gitStore('diff-files', '--name-only'), '');
    const after = f.track({ node: false });
    assert.equal(after.status, 0, after.stderr);
    assert.equal(after.stdout, changed.stdout);
  } finally {
    f.cleanup();
  }
});

test('the sealer never vouches for a waiting big file written since its copy: git still sees the change, and the next track has it', { timeout: 60_000 }, async () => {
  const f = fixture();
  f.env.SNAPLINE_BACKGROUND_SEAL = '0';
  try {
    const { big, gitStore, tree } = await waitingBigFile(f);
    writeFileSync(big, Buffer.alloc(6 << 20, 'x'));
    seal(f);
    assert.deepEqual(gitStore('diff-files', '--name-only'), 'big.bin\n');
    const r = f.track({ node: true });
    assert.equal(r.stdout, `${f.gitTree()}\n`);
    assert.notEqual(r.stdout, tree);
  } finally {
    f.cleanup();
  }
});
