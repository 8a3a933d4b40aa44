/** Which workspace a command records: the git top level around the directory, however it is written. */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { CLI } from './helpers/repo.js';
import { oneLineError, sessionFixture, sessionOf, type CliResult } from './session-helpers.js';

type Fixture = ReturnType<typeof sessionFixture>;

/** The real CLI run from `cwd` (the fixture's runner always starts in the workspace). */
function cliIn(f: Fixture, cwd: string, args: string[], env: NodeJS.ProcessEnv = f.env): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, env, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function okIn(f: Fixture, cwd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const r = cliIn(f, cwd, args, env);
  assert.equal(r.status, 0, `snapline ${args.join(' ')} in ${cwd}: ${r.stderr}`);
  return r.stdout;
}

test('run from a subdirectory of a git work tree records the whole work tree and runs the command where it was started', () => {
  const f = sessionFixture();
  try {
    const lib = join(f.dir, 'lib');
    mkdirSync(lib);
    writeFileSync(join(f.dir, 'index.js'), 'one\n');
    writeFileSync(join(lib, 'util.js'), 'u\n');
    const sid = sessionOf(okIn(f, lib, ['run', 'edit the parent', '--format', 'json', '--exec', 'echo two >> ../index.js && echo v >> util.js']));
    assert.equal(readFileSync(join(f.dir, 'index.js'), 'utf8'), 'one\ntwo\n', 'the command ran in lib/');
    const [s] = f.db<{ directory: string }>(`SELECT directory FROM session WHERE id = '${sid}'`);
    assert.equal(s!.directory, f.dir);
    const [turn] = f.db<{ summary: string; cwd: string; root: string }>(
      `SELECT json_extract(u.data, '$.summary') AS summary, json_extract(a.data, '$.path.cwd') AS cwd, json_extract(a.data, '$.path.root') AS root
       FROM message u JOIN message a ON json_extract(a.data, '$.parentID') = u.id WHERE u.session_id = '${sid}'`,
    );
    const files = (JSON.parse(turn!.summary) as { diffs: { file: string; additions: number }[] }).diffs.map((d) => `${d.file} +${d.additions}`);
    assert.deepEqual(files.sort(), ['index.js +1', 'lib/util.js +1']);
    assert.equal(turn!.cwd, lib);
    assert.equal(turn!.root, f.dir);
    // --continue from the subdirectory finds that session; so does session list from there.
    assert.equal(sessionOf(okIn(f, lib, ['run', 'again', '--continue', '--format', 'json', '--exec', 'echo three >> ../index.js'])), sid);
    assert.match(okIn(f, lib, ['session', 'list', '--dir', '.']), new RegExp(sid));
  } finally {
    f.cleanup();
  }
});

test('every spelling of --dir names the same workspace: relative, ".", trailing slash, symlink, subdirectory', () => {
  const f = sessionFixture();
  const links = mkdtempSync(join(tmpdir(), 'snapline-links-'));
  try {
    mkdirSync(join(f.dir, 'src', 'deep'), { recursive: true });
    const sid = sessionOf(f.ok('run', 'first', '--dir', f.dir, '--format', 'json', '--exec', 'echo a > a.txt'));
    symlinkSync(f.dir, join(links, 'ws'));
    const spellings: [string, string][] = [
      [f.dir, '.'],
      [f.dir, './'],
      [f.dir, f.dir + '/'],
      [join(f.dir, 'src'), '..'],
      [join(f.dir, 'src'), 'deep'],
      [links, 'ws'],
      [links, 'ws/src/'],
      [tmpdir(), relative(tmpdir(), f.dir)],
    ];
    for (const [cwd, dir] of spellings) {
      const listed = okIn(f, cwd, ['session', 'list', '--dir', dir, '--format', 'json']);
      assert.deepEqual((JSON.parse(listed) as { id: string }[]).map((s) => s.id), [sid], `session list --dir ${dir} from ${cwd}`);
    }
    // A run given any spelling adds to the same workspace's sessions, and --continue finds it.
    assert.equal(sessionOf(okIn(f, links, ['run', 'via link', '--dir', 'ws/src/', '--continue', '--format', 'json', '--exec', 'echo b > b.txt'])), sid);
    const tracked = okIn(f, links, ['snapshot', 'track', '--dir', 'ws/src/deep']).trim();
    assert.deepEqual(f.git('--git-dir', f.storeGitDir(), 'ls-tree', '-r', '--name-only', tracked).split('\n').filter(Boolean).sort(), ['a.txt', 'src/b.txt']);
    assert.match(oneLineError(cliIn(f, f.dir, ['session', 'list', '--dir', join(f.dir, 'missing')])), /no such directory: .*missing/);
  } finally {
    rmSync(links, { recursive: true, force: true });
    f.cleanup();
  }
});

test('outside a git work tree the workspace is the directory given; a work tree at home does not widen a subdirectory to home', () => {
  const f = sessionFixture();
  const plain = realpathSync(mkdtempSync(join(tmpdir(), 'snapline-plain-')));
  try {
    mkdirSync(join(plain, 'sub'));
    const sid = sessionOf(okIn(f, join(plain, 'sub'), ['run', 'plain', '--format', 'json', '--exec', 'echo x > x.txt']));
    const [s] = f.db<{ directory: string }>(`SELECT directory FROM session WHERE id = '${sid}'`);
    assert.equal(s!.directory, join(plain, 'sub'));
    // A home directory that is itself a git work tree (dotfiles): its subdirectories stay workspaces of their own, home is refused.
    const home = { ...f.env, HOME: f.dir };
    mkdirSync(join(f.dir, 'project'));
    const inHome = sessionOf(okIn(f, join(f.dir, 'project'), ['run', 'in home', '--format', 'json', '--exec', 'true'], home));
    const [h] = f.db<{ directory: string }>(`SELECT directory FROM session WHERE id = '${inHome}'`);
    assert.equal(h!.directory, join(f.dir, 'project'));
    assert.match(oneLineError(cliIn(f, f.dir, ['run', 'at home', '--exec', 'true'], home)), /refusing to snapshot .*root or home/);
  } finally {
    rmSync(plain, { recursive: true, force: true });
    f.cleanup();
  }
});
