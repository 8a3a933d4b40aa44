/** snapshot.include: ignored files an agent may touch (e.g. `.env`) are snapshotted, diffed and restored. */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from './snapshot-helpers.js';
import { sessionFixture, sessionOf } from './session-helpers.js';

/** `git diff --no-index --numstat` of two contents: git's own numbers for the change. */
function gitNumstat(before: string, after: string): string {
  const d = tempDir('numstat');
  try {
    writeFileSync(join(d.dir, 'old'), before);
    writeFileSync(join(d.dir, 'new'), after);
    let out = '';
    try {
      execFileSync('git', ['diff', '--no-index', '--numstat', 'old', 'new'], { cwd: d.dir, encoding: 'utf8' });
    } catch (e) {
      out = (e as { stdout: string }).stdout; // exit 1: the files differ
    }
    const [add, del] = out.split('\t');
    return `+${add} -${del}`;
  } finally {
    d.cleanup();
  }
}

const BEFORE = 'API_KEY=one\nDEBUG=0\nPORT=80\n';
const AFTER = 'API_KEY=two\nDEBUG=0\nPORT=8080\nNEW=1\n';

function turnOnEnv(include: string[] | null) {
  const f = sessionFixture();
  writeFileSync(join(f.dir, '.gitignore'), '.env\nsecrets/\n');
  writeFileSync(join(f.dir, '.env'), BEFORE);
  mkdirSync(join(f.dir, 'secrets'));
  writeFileSync(join(f.dir, 'secrets', 'other.key'), 'stays out\n');
  if (include) writeFileSync(join(f.dir, 'snapline.json'), JSON.stringify({ snapshot: { include } }));
  const sid = sessionOf(f.ok('run', 'edit env', '--dir', f.dir, '--format', 'json', '--exec', `printf '${AFTER.replace(/\n/g, '\\n')}' > .env; echo changed > secrets/other.key`));
  const user = f.db<{ id: string; data: string }>(`SELECT id, data FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user'`)[0]!;
  const diffs = (JSON.parse(user.data) as { summary: { diffs: { file: string; additions: number; deletions: number }[] } }).summary.diffs;
  return { f, sid, user: user.id, diffs };
}

test('an ignored .env named by snapshot.include is in the turn summary with git-exact counts, and revert restores it', () => {
  const { f, sid, user, diffs } = turnOnEnv(['.env']);
  try {
    const env = diffs.find((d) => d.file === '.env');
    assert.ok(env, `.env missing from the summary: ${JSON.stringify(diffs)}`);
    assert.equal(`+${env.additions} -${env.deletions}`, gitNumstat(BEFORE, AFTER));
    // Other ignored files stay out.
    assert.ok(!diffs.some((d) => d.file.startsWith('secrets/')), JSON.stringify(diffs));
    assert.match(f.ok('session', 'diff', sid, '--patch'), /^\+PORT=8080$/m);

    f.ok('session', 'revert', sid, '--message', user);
    assert.equal(readFileSync(join(f.dir, '.env'), 'utf8'), BEFORE);
    assert.equal(readFileSync(join(f.dir, 'secrets', 'other.key'), 'utf8'), 'changed\n', 'an ignored file not included is never written');
    f.ok('session', 'unrevert', sid);
    assert.equal(readFileSync(join(f.dir, '.env'), 'utf8'), AFTER);
  } finally {
    f.cleanup();
  }
});

test('without snapshot.include an ignored .env is not captured', () => {
  const { f, diffs } = turnOnEnv(null);
  try {
    assert.deepEqual(diffs, []);
  } finally {
    f.cleanup();
  }
});

test('snapshot.include must be a list of patterns', () => {
  const f = sessionFixture();
  try {
    writeFileSync(join(f.dir, 'snapline.json'), JSON.stringify({ snapshot: { include: '.env' } }));
    const r = f.cli('snapshot', 'track', '--dir', f.dir);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /'snapshot.include' must be an array of gitignore patterns/);
  } finally {
    f.cleanup();
  }
});
