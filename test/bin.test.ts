/** The `snapline` command as npm installs it: bin/snapline (POSIX sh), reached through a symlink. */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MALLOC_TUNABLES, restoreTunables, withMallocTunables } from '../src/malloc.js';
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

test("the installed command starts Node with snapline's malloc settings, the user's after them; the commands snapline runs get GLIBC_TUNABLES as the user set it", () => {
  const f = sessionFixture();
  const shim = mkdtempSync(join(tmpdir(), 'snapline-node-'));
  try {
    // glibc rewrites the variable once it has read it, so Node's environment is caught before it
    // starts: a `node` first on PATH notes GLIBC_TUNABLES and execs the real one.
    writeFileSync(join(shim, 'node'), `#!/bin/sh\nprintf '%s' "\${GLIBC_TUNABLES-unset}" > "$PWD/node-saw.txt"\nexec '${process.execPath}' "$@"\n`, { mode: 0o755 });
    const env: NodeJS.ProcessEnv = { ...f.env, PATH: `${shim}:${process.env.PATH}` };
    delete env.GLIBC_TUNABLES;
    const show = 'printf "%s|%s" "${GLIBC_TUNABLES-unset}" "${SNAPLINE_GLIBC_TUNABLES-unset}" > seen.txt';
    const turn = (name: string, ...more: string[]) => {
      const r = spawnSync(BIN, ['run', name, ...more, '--exec', show], { cwd: f.dir, env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return { node: readFileSync(join(f.dir, 'node-saw.txt'), 'utf8'), command: readFileSync(join(f.dir, 'seen.txt'), 'utf8') };
    };
    assert.deepEqual(turn('unset'), { node: MALLOC_TUNABLES, command: 'unset|unset' });
    env.GLIBC_TUNABLES = 'glibc.malloc.tcache_count=7';
    assert.deepEqual(turn('set', '--continue'), { node: `${MALLOC_TUNABLES}:glibc.malloc.tcache_count=7`, command: 'glibc.malloc.tcache_count=7|unset' });
    env.GLIBC_TUNABLES = '';
    assert.deepEqual(turn('empty', '--continue'), { node: `${MALLOC_TUNABLES}:`, command: '|unset' });
  } finally {
    rmSync(shim, { recursive: true, force: true });
    f.cleanup();
  }
});

test('background processes start with the same malloc settings, and give the user their own back', () => {
  for (const theirs of [undefined, '', 'glibc.malloc.tcache_count=7']) {
    const env: NodeJS.ProcessEnv = theirs === undefined ? { HOME: '/h' } : { HOME: '/h', GLIBC_TUNABLES: theirs };
    const started = withMallocTunables(env);
    assert.equal(started.GLIBC_TUNABLES, theirs === undefined ? MALLOC_TUNABLES : `${MALLOC_TUNABLES}:${theirs}`);
    restoreTunables(started);
    assert.deepEqual(started, env);
  }
});
