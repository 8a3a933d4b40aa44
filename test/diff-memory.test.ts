import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { measureProcess } from '../src/procmem.js';
import { writeGenerated } from '../bench/workload.js';
import { CLI, tempRepo } from './helpers/repo.js';

/**
 * The memory contract, in child processes: numstat and one patch page over a pair of 128 MiB
 * generated files stay far below what loading the bodies would take (2 × 128 MiB and more).
 */
const SIZE = 128 * 1024 * 1024;
const CEILING = 200 * 1024 * 1024;

describe('memory contract on a 128 MiB pair', () => {
  const repo = tempRepo();
  let t1 = '';
  let t2 = '';
  before(async () => {
    repo.git('config', 'core.bigFileThreshold', '1m');
    repo.git('config', 'core.compression', '1');
    mkdirSync(join(repo.dir, 'build'));
    await writeGenerated(join(repo.dir, 'build/log.txt'), SIZE, 1);
    repo.git('add', '-A');
    t1 = repo.git('write-tree').trim();
    // 1% of the lines edited: the Myers search runs over the whole file
    await writeGenerated(join(repo.dir, 'build/log.txt'), SIZE, 1, { every: 100, turn: 2 });
    repo.git('add', '-A');
    t2 = repo.git('write-tree').trim();
  });
  after(() => repo.cleanup());

  it('numstat stays under 200 MiB peak RSS (git children included) and equals git', async () => {
    const m = await measureProcess(process.execPath, [CLI, 'diff', t1, t2, '--numstat'], { cwd: repo.dir });
    assert.equal(m.status, 0, m.stderr);
    assert.ok(m.peakTreeRss < CEILING, `peak ${(m.peakTreeRss / 1048576).toFixed(1)} MiB`);
    assert.equal(m.stdout, repo.git('-c', 'core.bigFileThreshold=512m', 'diff', '--numstat', t1, t2));
  });

  it('one 1 MiB patch page stays under 200 MiB peak RSS', async () => {
    const m = await measureProcess(process.execPath, [CLI, 'diff', t1, t2, '--patch', '--max-bytes', String(1 << 20)], { cwd: repo.dir });
    assert.equal(m.status, 0, m.stderr);
    assert.ok(m.peakTreeRss < CEILING, `peak ${(m.peakTreeRss / 1048576).toFixed(1)} MiB`);
    assert.ok(m.stdout.length >= 1 << 20 && m.stdout.length < (1 << 20) + 4096, `page of ${m.stdout.length} bytes`);
    assert.match(m.stderr, /--continue \d+\.\d+/);
    assert.ok(m.stdout.startsWith('diff --git a/build/log.txt b/build/log.txt\n'));
  });

  it('a whole patch of a 128 MiB rewrite (256 MiB of text) streams under 200 MiB, byte-identical to git diff', async () => {
    await writeGenerated(join(repo.dir, 'build/log.txt'), SIZE, 3);
    repo.git('add', '-A');
    const t3 = repo.git('write-tree').trim();
    const ours = createHash('sha1');
    let bytes = 0;
    const m = await measureProcess(process.execPath, [CLI, 'diff', t1, t3, '--patch'], {
      cwd: repo.dir,
      onStdout: (b) => {
        ours.update(b);
        bytes += b.length;
      },
    });
    assert.equal(m.status, 0, m.stderr);
    assert.ok(m.peakTreeRss < CEILING, `peak ${(m.peakTreeRss / 1048576).toFixed(1)} MiB`);
    assert.ok(bytes > 2 * SIZE, `patch of ${bytes} bytes`);
    const theirs = createHash('sha1');
    const git = spawn('git', ['-c', 'core.bigFileThreshold=512m', 'diff', t1, t3], { cwd: repo.dir });
    git.stdout.on('data', (b: Buffer) => theirs.update(b));
    await once(git, 'close');
    assert.equal(ours.digest('hex'), theirs.digest('hex'));
  });
});
