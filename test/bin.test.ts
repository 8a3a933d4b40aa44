/** The `snapline` command as npm installs it: bin/snapline (POSIX sh), reached through a symlink. */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sessionFixture } from './session-helpers.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'snapline');

test('the installed command runs through symlinks; Node does not read NODE_EXTRA_CA_CERTS, and the commands snapline runs get it back as the user set it', () => {
  const f = sessionFixture();
  const links = mkdtempSync(join(tmpdir(), 'snapline-bin-'));
  try {
    // As npm links it: PATH/snapline -> ../lib/node_modules/snapline/bin/snapline, here through two links.
    mkdirSync(join(links, 'lib'));
    symlinkSync(BIN, join(links, 'lib', 'snapline'));
    mkdirSync(join(links, 'bin'));
    symlinkSync(join('..', 'lib', 'snapline'), join(links, 'bin', 'snapline'));
    // A bundle Node cannot read: Node warns on stderr at start when it reads the variable.
    const missing = join(links, 'no-such-bundle.pem');
    const env: NodeJS.ProcessEnv = { ...f.env, PATH: `${join(links, 'bin')}:${process.env.PATH}`, NODE_EXTRA_CA_CERTS: missing };
    const run = (...args: string[]) => spawnSync('snapline', args, { cwd: f.dir, env, encoding: 'utf8' });
    const version = run('--version');
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^snapline \d/);
    assert.equal(version.stderr, '', 'Node did not read the bundle');
    const direct = spawnSync(process.execPath, ['-e', '0'], { env, encoding: 'utf8' });
    assert.match(direct.stderr, /extra certs/i, 'the check above can fail: Node warns about this bundle when it reads it');
    const turn = run('run', 'env', '--exec', 'printf "%s|%s" "$NODE_EXTRA_CA_CERTS" "${SNAPLINE_NODE_EXTRA_CA_CERTS-unset}" > seen.txt');
    assert.equal(turn.status, 0, turn.stderr);
    assert.equal(readFileSync(join(f.dir, 'seen.txt'), 'utf8'), `${missing}|unset`);
    // Unset stays unset.
    delete env.NODE_EXTRA_CA_CERTS;
    const plain = run('run', 'env2', '--continue', '--exec', 'printf "%s|%s" "${NODE_EXTRA_CA_CERTS-unset}" "${SNAPLINE_NODE_EXTRA_CA_CERTS-unset}" > seen.txt');
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(readFileSync(join(f.dir, 'seen.txt'), 'utf8'), 'unset|unset');
  } finally {
    rmSync(links, { recursive: true, force: true });
    f.cleanup();
  }
});
