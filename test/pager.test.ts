/**
 * On a terminal, text output goes through a pager with colours on, as git does. The terminal is
 * a real pseudo-terminal (util-linux `script`); the pager writes what it receives to a file.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, tempRepo } from './helpers/repo.js';
import { sessionFixture, sessionOf } from './session-helpers.js';

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs the CLI with stdout on a pseudo-terminal; returns what reached the terminal. */
function onTerminal(cwd: string, args: string[], env: Record<string, string | undefined>): { status: number | null; screen: string } {
  const command = [process.execPath, CLI, ...args].map(shellQuote).join(' ');
  const r = spawnSync('script', ['-qfec', command, '/dev/null'], { cwd, encoding: 'utf8', env: { ...process.env, TERM: 'xterm', NO_COLOR: undefined, PAGER: undefined, ...env } });
  return { status: r.status, screen: r.stdout };
}

describe('pager and --color auto on a terminal', () => {
  const repo = tempRepo();
  const paged = join(repo.dir, '.git', 'paged.txt');
  const pager = { SNAPLINE_PAGER: `cat > ${shellQuote(paged)}` };
  before(() => {
    writeFileSync(join(repo.dir, 'a.txt'), 'one\ntwo\n');
    repo.git('add', '-A');
    repo.git('commit', '-qm', 'one');
    writeFileSync(join(repo.dir, 'a.txt'), 'one\nTWO \n');
    repo.git('add', '-A');
    repo.git('commit', '-qm', 'two');
  });
  after(() => repo.cleanup());
  const fresh = () => rmSync(paged, { force: true });

  it('pages a patch, coloured as git colours it (auto follows the terminal, not the pager)', () => {
    fresh();
    const r = onTerminal(repo.dir, ['diff', 'HEAD~1', 'HEAD', '--patch'], pager);
    assert.equal(r.status, 0, r.screen);
    assert.equal(readFileSync(paged, 'utf8'), repo.git('diff', '--color=always', 'HEAD~1', 'HEAD'));
    assert.doesNotMatch(r.screen, /diff --git/, 'the patch went to the pager, not the terminal');
  });

  it('pages --stat too, and honours --color=never and NO_COLOR', () => {
    fresh();
    assert.equal(onTerminal(repo.dir, ['diff', 'HEAD~1', 'HEAD', '--stat'], pager).status, 0);
    assert.equal(readFileSync(paged, 'utf8'), repo.git('diff', '--stat', '--color=always', 'HEAD~1', 'HEAD'));
    fresh();
    onTerminal(repo.dir, ['diff', 'HEAD~1', 'HEAD', '--patch', '--color=never'], pager);
    assert.equal(readFileSync(paged, 'utf8'), repo.git('diff', 'HEAD~1', 'HEAD'));
    fresh();
    onTerminal(repo.dir, ['diff', 'HEAD~1', 'HEAD', '--patch'], { ...pager, NO_COLOR: '1' });
    assert.equal(readFileSync(paged, 'utf8'), repo.git('diff', 'HEAD~1', 'HEAD'));
  });

  it('--no-pager, an empty pager, cat, or a pager that cannot start: straight to the terminal', () => {
    const cases: [Record<string, string>, string[]][] = [
      [pager, ['--no-pager']],
      [{ SNAPLINE_PAGER: '' }, []],
      [{ SNAPLINE_PAGER: 'cat' }, []],
      [{ SNAPLINE_PAGER: '/nonexistent/pager' }, []],
    ];
    for (const [env, flags] of cases) {
      fresh();
      const args = ['diff', 'HEAD~1', 'HEAD', '--patch', ...flags];
      const r = onTerminal(repo.dir, args, env);
      assert.equal(r.status, 0, `${JSON.stringify(env)}: ${r.screen}`);
      assert.match(r.screen, /diff --git a\/a\.txt b\/a\.txt/, JSON.stringify(env));
      assert.ok(!existsSync(paged), `${JSON.stringify(env)}: the pager ran`);
    }
  });

  it('$PAGER is used when $SNAPLINE_PAGER is not set; a pipe is never paged', () => {
    fresh();
    onTerminal(repo.dir, ['diff', 'HEAD~1', 'HEAD', '--numstat'], { PAGER: pager.SNAPLINE_PAGER });
    assert.equal(readFileSync(paged, 'utf8'), repo.git('diff', '--numstat', 'HEAD~1', 'HEAD'));
    fresh();
    const r = spawnSync(process.execPath, [CLI, 'diff', 'HEAD~1', 'HEAD', '--patch'], { cwd: repo.dir, encoding: 'utf8', env: { ...process.env, ...pager } });
    assert.equal(r.stdout, repo.git('diff', 'HEAD~1', 'HEAD'));
    assert.ok(!existsSync(paged));
  });
});

describe('session show and session diff page and colour too', () => {
  it('pages session show, and session diff --patch in colour', () => {
    const f = sessionFixture();
    const paged = join(f.home, 'paged.txt');
    try {
      writeFileSync(join(f.dir, 'a.txt'), 'one\n');
      const sid = sessionOf(f.ok('run', 'edit', '--dir', f.dir, '--format', 'json', '--exec', "printf 'one\\ntwo\\n' > a.txt"));
      const env = { ...f.env, SNAPLINE_PAGER: `cat > ${shellQuote(paged)}` };
      assert.equal(onTerminal(f.dir, ['session', 'show', sid], env).status, 0);
      assert.equal(readFileSync(paged, 'utf8'), f.ok('session', 'show', sid));
      rmSync(paged);
      assert.equal(onTerminal(f.dir, ['session', 'diff', sid, '--patch'], env).status, 0);
      const text = readFileSync(paged, 'utf8');
      assert.match(text, /^session .* all changes from its first snapshot to its last/);
      assert.match(text, /\x1b\[32m\+\x1b\[m\x1b\[32mtwo\x1b\[m\n/);
    } finally {
      f.cleanup();
    }
  });
});
