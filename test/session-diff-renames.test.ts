/** `session diff -M` and `--binary`: renames and binary patches of a turn, like git diff -M --binary. */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { oneLineError, sessionFixture, sessionOf } from './session-helpers.js';

test('session diff -M pairs a turn\'s renames and --binary writes a patch git applies, as git diff -M --binary', () => {
  const f = sessionFixture();
  try {
    writeFileSync(join(f.dir, 'notes.txt'), Array.from({ length: 40 }, (_, i) => `note ${i}\n`).join(''));
    writeFileSync(join(f.dir, 'logo.bin'), Buffer.from([1, 0, 2, 0, 3, 0, 4]));
    const turn = `mkdir docs && mv notes.txt docs/notes.txt && echo 'note 40' >> docs/notes.txt && printf 'x\\000y' > logo.bin`;
    const sid = sessionOf(f.ok('run', 'move notes', '--dir', f.dir, '--format', 'json', '--exec', turn));
    const { from, to } = JSON.parse(f.ok('session', 'diff', sid, '--patch', '--format', 'json')) as { from: string; to: string };
    const git = (...args: string[]) => execFileSync('git', ['--git-dir', f.storeGitDir(), ...args], { env: { ...process.env, COLUMNS: '80' } }).toString('utf8');

    // Stored summaries stay --no-renames; -M compares the snapshots again: one turn (--message 1)
    // and the whole session (first snapshot to last, here the same trees).
    const stored = JSON.parse(f.ok('session', 'diff', sid, '--message', '1', '--format', 'json')) as { diffs: { file: string; status: string }[] };
    assert.deepEqual(stored.diffs.map((d) => d.status).sort(), ['added', 'deleted', 'modified']);
    const similarity = Number(/R0*(\d+)/.exec(git('diff', '-M', '--raw', from, to))![1]);
    for (const args of [['--message', '1'], []]) {
      const renamed = JSON.parse(f.ok('session', 'diff', sid, ...args, '-M', '--format', 'json')) as { diffs: { file: string; status: string; from?: string; similarity?: number }[] };
      const rename = renamed.diffs.find((d) => d.status === 'renamed');
      assert.deepEqual(rename && { file: rename.file, from: rename.from, similarity: rename.similarity }, { file: 'docs/notes.txt', from: 'notes.txt', similarity }, args.join(' '));
      const text = f.ok('session', 'diff', sid, ...args, '-M');
      assert.equal(text.slice(text.indexOf('\n') + 1), execFileSync('git', ['--git-dir', f.storeGitDir(), 'diff', '-M', '--stat', from, to]).toString('utf8'), args.join(' '));
    }

    const patch = f.ok('session', 'diff', sid, '--message', '1', '-M', '--patch', '--binary');
    assert.equal(patch, git('diff', '-M', '--binary', from, to));
    // Session-wide, the coverage line comes first ('git apply' skips it).
    const wide = f.ok('session', 'diff', sid, '-M', '--patch', '--binary');
    assert.equal(wide.slice(wide.indexOf('\n') + 1), patch);
    assert.match(patch, /^rename from notes\.txt$/m);
    assert.match(patch, /^GIT binary patch$/m);
    // The workspace holds the turn's result: the patch reversed applies to it.
    execFileSync('git', ['apply', '-R', '--check', '-'], { cwd: f.dir, input: patch });

    assert.match(oneLineError(f.cli('session', 'diff', sid, '--binary')), /--binary goes with --patch/);
    assert.match(oneLineError(f.cli('session', 'show', sid, '-M')), /-M and --binary go with session diff/);
  } finally {
    f.cleanup();
  }
});
