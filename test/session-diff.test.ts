/** Session-wide `session diff`: it says what it covers, and --turns-only keeps to the turns' own paths. */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sessionFixture, sessionOf } from './session-helpers.js';

test('session diff covers the first to the last snapshot, hand edits between turns included; --turns-only leaves them out', () => {
  const f = sessionFixture();
  try {
    writeFileSync(join(f.dir, 'a.txt'), 'a1\na2\n');
    writeFileSync(join(f.dir, 'hand.txt'), 'mine\n');
    const sid = sessionOf(f.ok('run', 'turn 1', '--dir', f.dir, '--format', 'json', '--exec', "printf 'a1\\nA2\\n' > a.txt"));
    // Between the turns the user edits a file no turn touches.
    writeFileSync(join(f.dir, 'hand.txt'), 'mine\nedited by hand\n');
    f.ok('run', 'turn 2', '--session', sid, '--exec', "printf 'b\\n' > b.txt");

    const snaps = f.db<{ s: string }>(`SELECT json_extract(data, '$.snapshot') AS s FROM part WHERE session_id = '${sid}' AND json_extract(data, '$.type') IN ('step-start', 'step-finish') ORDER BY id`).map((r) => r.s);
    const [first, last] = [snaps[0]!, snaps[snaps.length - 1]!];
    const store = f.storeGitDir();
    const git = (...args: string[]) => execFileSync('git', ['--git-dir', store, ...args], { encoding: 'utf8' });

    // Default: everything between the first and the last snapshot, and it says so.
    const wide = f.ok('session', 'diff', sid);
    assert.match(wide.split('\n')[0]!, /all changes from its first snapshot to its last \(edits made between turns included/);
    assert.match(wide, /hand\.txt/);
    const wideJson = JSON.parse(f.ok('session', 'diff', sid, '--format', 'json')) as { turnsOnly: boolean; diffs: { file: string; additions: number; deletions: number }[] };
    assert.equal(wideJson.turnsOnly, false);
    assert.deepEqual(
      wideJson.diffs.map((d) => `${d.additions}\t${d.deletions}\t${d.file}`),
      git('diff', '--no-renames', '--numstat', first, last).trim().split('\n'),
    );
    const widePatch = f.ok('session', 'diff', sid, '--patch');
    assert.equal(widePatch.slice(widePatch.indexOf('\n') + 1), git('diff', first, last));

    // --turns-only: the paths the turns changed, the hand edit left out.
    const turns = f.ok('session', 'diff', sid, '--turns-only');
    assert.match(turns.split('\n')[0]!, /limited to the 2 paths its turns changed/);
    assert.doesNotMatch(turns, /hand\.txt/);
    assert.match(turns, /a\.txt/);
    assert.match(turns, /b\.txt/);
    const turnsJson = JSON.parse(f.ok('session', 'diff', sid, '--turns-only', '--format', 'json')) as { turnsOnly: boolean; diffs: { file: string }[] };
    assert.equal(turnsJson.turnsOnly, true);
    assert.deepEqual(turnsJson.diffs.map((d) => d.file), ['a.txt', 'b.txt']);
    const turnsPatch = f.ok('session', 'diff', sid, '--patch', '--turns-only');
    assert.equal(turnsPatch.slice(turnsPatch.indexOf('\n') + 1), git('diff', first, last, '--', 'a.txt', 'b.txt'));

    // A turn's own diff needs no such line, and --turns-only does not go with it.
    const user = f.db<{ id: string }>(`SELECT id FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user' ORDER BY id`)[0]!.id;
    assert.doesNotMatch(f.ok('session', 'diff', sid, '--message', user, '--patch'), /first snapshot/);
    const bad = f.cli('session', 'diff', sid, '--message', user, '--turns-only');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--turns-only goes with a session-wide diff/);
  } finally {
    f.cleanup();
  }
});
