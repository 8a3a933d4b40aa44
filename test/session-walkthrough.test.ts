/**
 * A new user's walkthrough, end to end through the real CLI: three turns run from a subdirectory,
 * a hand edit to a file the session covers, revert refused, --dry-run, --force with the printed
 * command bringing the hand edit back, unrevert refused until forced — naming turns by number
 * and the session by a prefix, or not at all.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI } from './helpers/repo.js';
import { sessionFixture, type CliResult } from './session-helpers.js';

test('walkthrough: 3 turns from a subdirectory, hand edit, revert refused, dry run, forced revert, printed command restores the edit, unrevert refused until forced', { timeout: 180_000 }, () => {
  const f = sessionFixture();
  const lib = join(f.dir, 'lib');
  const bin = mkdtempSync(join(tmpdir(), 'snapline-bin-'));
  try {
    writeFileSync(join(f.dir, 'index.js'), 'one\n');
    mkdirSync(lib);
    writeFileSync(join(lib, 'util.js'), 'u\n');
    f.git('add', '.');
    f.git('commit', '-qm', 'init');
    const here = (...args: string[]): CliResult => {
      const r = spawnSync(process.execPath, [CLI, ...args], { cwd: lib, env: f.env, encoding: 'utf8' });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const ok = (...args: string[]): string => {
      const r = here(...args);
      assert.equal(r.status, 0, `snapline ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const read = (p: string) => readFileSync(join(f.dir, p), 'utf8');

    // Three turns from lib/: the edits to ../index.js are the workspace's (its git top level).
    ok('run', 'turn one', '--exec', 'echo two >> ../index.js');
    ok('run', 'turn two', '--continue', '--exec', 'echo three >> ../index.js; echo v >> util.js');
    ok('run', 'turn three', '--continue', '--exec', 'echo four >> ../index.js; echo notes > ../NOTES.md');
    const sessions = JSON.parse(ok('session', 'list', '--dir', '..', '--format', 'json')) as { id: string; directory: string }[];
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0]!.directory, f.dir, 'the session is rooted at the top level, not lib/');
    const sid = sessions[0]!.id;
    const prefix = sid.slice(0, 12);
    assert.match(ok('session', 'show'), /#1 .*\n[\s\S]*#2 [\s\S]*#3 /, 'session show numbers the turns');
    const turn2 = JSON.parse(ok('session', 'diff', prefix, '--message', '2', '--format', 'json')) as { turn: number; diffs: { file: string; additions: number }[] };
    assert.equal(turn2.turn, 2);
    assert.deepEqual(turn2.diffs.map((d) => [d.file, d.additions]), [['index.js', 1], ['lib/util.js', 1]]);

    // A hand edit to a file turn 2 changed, after the last turn.
    writeFileSync(join(f.dir, 'index.js'), read('index.js') + 'mine\n');
    const handEdited = read('index.js');

    // revert of turn 2: refused, naming the file; nothing written.
    const refused = here('session', 'revert', prefix, '--message', '2');
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /index\.js/);
    assert.match(refused.stderr, /--force/);
    assert.equal(read('index.js'), handEdited);

    // --dry-run lists what it would write and delete, and the edited file; writes nothing.
    const dry = ok('session', 'revert', '--message', '2', '--dry-run');
    assert.match(dry, /would write +index\.js/);
    assert.match(dry, /would write +lib\/util\.js/);
    assert.match(dry, /would delete +NOTES\.md/);
    assert.match(dry, /changed outside the session[^\n]*\n +index\.js/);
    assert.equal(read('index.js'), handEdited);
    assert.equal(read('NOTES.md'), 'notes\n');

    // --force: done, and it prints the one command that brings the hand edit back.
    const forced = ok('session', 'revert', prefix, '--message', '2', '--force');
    assert.equal(read('index.js'), 'one\ntwo\n');
    assert.equal(read('lib/util.js'), 'u\n');
    assert.throws(() => read('NOTES.md'));
    const command = /^ +(snapline snapshot restore .*)$/m.exec(forced)?.[1];
    assert.ok(command, `a command to get the edit back:\n${forced}`);

    // The printed command brings the hand edit back (and only it).
    writeFileSync(join(bin, 'snapline'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(join(bin, 'snapline'), 0o755);
    const restored = spawnSync('bash', ['-c', command], { cwd: tmpdir(), env: { ...f.env, PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8' });
    assert.equal(restored.status, 0, restored.stderr);
    assert.equal(read('index.js'), handEdited);
    assert.equal(read('lib/util.js'), 'u\n');

    // Unrevert: a covered file changed by hand since the revert makes it refuse, naming it, until
    // forced. (index.js, restored above, already holds what unrevert would write: no conflict.)
    writeFileSync(join(lib, 'util.js'), 'by hand\n');
    const unrefused = here('session', 'unrevert');
    assert.notEqual(unrefused.status, 0);
    assert.match(unrefused.stderr, /lib\/util\.js/);
    assert.doesNotMatch(unrefused.stderr, /index\.js/);
    assert.equal(read('lib/util.js'), 'by hand\n');
    ok('session', 'unrevert', prefix, '--force');
    // Exactly the state before the revert: the three turns and the first hand edit.
    assert.equal(read('index.js'), handEdited);
    assert.equal(read('lib/util.js'), 'u\nv\n');
    assert.equal(read('NOTES.md'), 'notes\n');
  } finally {
    rmSync(bin, { recursive: true, force: true });
    f.cleanup();
  }
});
