import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, tempRepo } from './helpers/repo.js';

function snapline(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('snapline diff (CLI)', () => {
  const repo = tempRepo();
  before(() => {
    const lines = Array.from({ length: 400 }, (_, i) => `line ${i}\n`);
    writeFileSync(join(repo.dir, 'a.txt'), lines.join(''));
    writeFileSync(join(repo.dir, 'b.txt'), 'b\n');
    repo.git('add', '-A');
    repo.git('commit', '-qm', 'one');
    writeFileSync(join(repo.dir, 'a.txt'), lines.map((l, i) => (i % 7 === 0 ? `edited ${l}` : l)).join(''));
    writeFileSync(join(repo.dir, 'c.txt'), 'new\nfile\n');
    repo.git('add', '-A');
    repo.git('commit', '-qm', 'two');
  });
  after(() => repo.cleanup());

  it('--numstat output is git diff --numstat output', () => {
    const r = snapline(repo.dir, 'diff', 'HEAD~1', 'HEAD', '--numstat');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, repo.git('diff', '--numstat', 'HEAD~1', 'HEAD'));
  });

  it('--patch output is git diff output, and pages concatenate to the whole patch', () => {
    const whole = snapline(repo.dir, 'diff', 'HEAD~1', 'HEAD', '--patch');
    assert.equal(whole.status, 0, whole.stderr);
    assert.equal(whole.stdout, repo.git('diff', 'HEAD~1', 'HEAD'));
    let text = '';
    let cursor: string | undefined;
    let pages = 0;
    do {
      const r = snapline(repo.dir, 'diff', 'HEAD~1', 'HEAD', '--patch', '--max-bytes', '700', ...(cursor ? ['--continue', cursor] : []));
      assert.equal(r.status, 0, r.stderr);
      text += r.stdout;
      cursor = /--continue (\S+)/.exec(r.stderr)?.[1];
      pages++;
    } while (cursor && pages < 100);
    assert.ok(pages > 3, `expected several pages, got ${pages}`);
    assert.equal(text, whole.stdout);
  });

  it('--format json gives the per-file statistics', () => {
    const r = snapline(repo.dir, 'diff', 'HEAD~1', 'HEAD', '--format', 'json');
    assert.equal(r.status, 0, r.stderr);
    const stats = JSON.parse(r.stdout) as { file: string; status: string; additions: number; deletions: number }[];
    assert.deepEqual(
      stats.map((s) => [s.file, s.status, s.additions, s.deletions]),
      [
        ['a.txt', 'modified', 58, 58],
        ['c.txt', 'added', 2, 0],
      ],
    );
  });

  it('a tiny --budget gives bounded approximate counts, marked so', () => {
    const r = snapline(repo.dir, 'diff', 'HEAD~1', 'HEAD', '--format', 'json', '--budget', '1');
    assert.equal(r.status, 0, r.stderr);
    // 400 lines fit in 1 MiB: still exact
    assert.ok((JSON.parse(r.stdout) as { approximate?: boolean }[]).every((s) => !s.approximate));
  });

  const bad: [string, string[], RegExp][] = [
    ['an unknown revision', ['diff', 'HEAD~1', 'nosuchrev', '--numstat'], /unknown revision or tree: nosuchrev/],
    ['a path in neither tree', ['diff', 'HEAD~1', 'HEAD', '--numstat', '--', 'missing.txt'], /path not in either tree: missing.txt/],
    ['a negative context', ['diff', 'HEAD~1', 'HEAD', '--patch', '--context=-3'], /--context must be a whole number/],
    ['a context that looks like an option', ['diff', 'HEAD~1', 'HEAD', '--patch', '-U', '-3'], /'-U' argument is ambiguous/],
    ['an absurd context', ['diff', 'HEAD~1', 'HEAD', '--patch', '--context', '99999999999'], /--context must be a whole number from 0 to 100000/],
    ['one revision only', ['diff', 'HEAD', '--numstat'], /needs FROM and TO/],
    ['two output modes', ['diff', 'HEAD~1', 'HEAD', '--numstat', '--patch'], /one of --numstat, --stat, --patch/],
    ['an unknown option', ['diff', 'HEAD~1', 'HEAD', '--frobnicate'], /frobnicate/],
    ['a bad cursor', ['diff', 'HEAD~1', 'HEAD', '--patch', '--continue', 'abc'], /not a patch cursor/],
    ['a bad similarity', ['diff', 'HEAD~1', 'HEAD', '-M5x'], /expected a similarity like -M50%/],
    ['--binary without --patch', ['diff', 'HEAD~1', 'HEAD', '--binary'], /--binary goes with --patch/],
    ['--rename-limit without -M', ['diff', 'HEAD~1', 'HEAD', '--rename-limit', '5'], /--rename-limit goes with -M/],
  ];
  for (const [what, args, message] of bad) {
    it(`refuses ${what} with a one-line error and a non-zero exit`, () => {
      const r = snapline(repo.dir, ...args);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(r.stdout, '');
    });
  }

  it('refuses a directory that is not a repository', () => {
    const dir = mkdtempSync(join(tmpdir(), 'snapline-norepo-'));
    try {
      const r = snapline(dir, 'diff', 'HEAD~1', 'HEAD', '--repo', dir);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /not a git repository/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a missing object instead of wrong numbers', () => {
    const broken = tempRepo();
    try {
      writeFileSync(join(broken.dir, 'f.txt'), 'one\n');
      broken.git('add', '-A');
      broken.git('commit', '-qm', '1');
      writeFileSync(join(broken.dir, 'f.txt'), 'two\n');
      broken.git('add', '-A');
      broken.git('commit', '-qm', '2');
      const oid = broken.git('rev-parse', 'HEAD:f.txt').trim();
      unlinkSync(join(broken.dir, '.git', 'objects', oid.slice(0, 2), oid.slice(2)));
      const r = snapline(broken.dir, 'diff', 'HEAD~1', 'HEAD', '--numstat');
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, new RegExp(`${oid}.*missing|missing.*${oid}`));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    } finally {
      broken.cleanup();
    }
  });

  it('--dir compares two snapshots of a workspace, and says so when there are none yet', () => {
    const home = mkdtempSync(join(tmpdir(), 'snapline-home-'));
    const ws = mkdtempSync(join(tmpdir(), 'snapline-ws-'));
    const env = { ...process.env, SNAPLINE_HOME: home };
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: ws, encoding: 'utf8', env });
    try {
      const none = run('diff', '--dir', ws, 'HEAD', 'HEAD');
      assert.notEqual(none.status, 0);
      assert.match(none.stderr, /no snapshots for .* yet/);
      writeFileSync(join(ws, 'notes.txt'), 'one\ntwo\n');
      const t1 = run('snapshot', 'track', '--dir', ws).stdout.trim();
      writeFileSync(join(ws, 'notes.txt'), 'one\nthree\nfour\n');
      const t2 = run('snapshot', 'track', '--dir', ws).stdout.trim();
      assert.match(t1, /^[0-9a-f]{40}$/);
      const r = run('diff', '--dir', ws, t1, t2, '--numstat');
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, '2\t1\tnotes.txt\n');
    } finally {
      rmSync(home, { recursive: true, force: true });
      rmSync(ws, { recursive: true, force: true });
    }
  });

  it('given tree ids, finds the repository and trees in one git, and still honours replace refs as git does', () => {
    // Bodies over 256 KiB are read from the object files, unless replace refs are in use.
    const big = (tag: string) => Array.from({ length: 40_000 }, (_, i) => `${tag} ${i % 5 === 0 ? 'x' : i}\n`).join('');
    writeFileSync(join(repo.dir, 'big.txt'), big('one'));
    repo.git('add', 'big.txt');
    const t1 = repo.git('write-tree').trim();
    writeFileSync(join(repo.dir, 'big.txt'), big('two'));
    repo.git('add', 'big.txt');
    const t2 = repo.git('write-tree').trim();
    const plain = snapline(repo.dir, 'diff', t1, t2, '--numstat', '--', 'big.txt');
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(plain.stdout, repo.git('diff', '--numstat', t1, t2, '--', 'big.txt'));
    writeFileSync(join(repo.dir, 'stand-in.txt'), big('two').replace(/x/g, 'y'));
    const stand = repo.git('hash-object', '-w', 'stand-in.txt').trim();
    const old = repo.git('rev-parse', `${t1}:big.txt`).trim();
    repo.git('replace', old, stand);
    try {
      const replaced = snapline(repo.dir, 'diff', t1, t2, '--numstat', '--', 'big.txt');
      assert.equal(replaced.status, 0, replaced.stderr);
      assert.equal(replaced.stdout, repo.git('diff', '--numstat', t1, t2, '--', 'big.txt'));
      assert.notEqual(replaced.stdout, plain.stdout, 'the replacement changes git\'s answer');
    } finally {
      repo.git('replace', '-d', old);
      repo.git('reset', '-q');
      for (const f of ['big.txt', 'stand-in.txt']) unlinkSync(join(repo.dir, f));
    }
  });

  it('--help teaches the command', () => {
    const r = snapline(repo.dir, 'diff', '--help');
    assert.equal(r.status, 0);
    for (const word of ['--numstat', '--patch', '--max-bytes', '--continue', '-M[N%]', '--find-renames', '--rename-limit', '--binary', 'Examples']) assert.ok(r.stdout.includes(word), word);
  });

  it('leaves no stray processes or files behind', () => {
    assert.deepEqual(
      readdirSync(repo.dir).filter((f) => !['.git', 'a.txt', 'b.txt', 'c.txt'].includes(f)),
      [],
    );
  });
});
