import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
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
/** The contract itself (idle Node, about 40 MiB, + 64 MiB) with a little room, for paths that stream with no git child. */
const CONTRACT = 110 * 1024 * 1024;

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

  // Measured 119 MiB here (numstat of the same pair without -M: about 95): over the contract's
  // idle + 64 MiB, so this test holds the file's general ceiling until that is found (docs/diff.md).
  it('-M numstat of the 128 MiB file renamed with 1 % of its lines edited stays under 200 MiB and equals git -M', async () => {
    repo.git('read-tree', t2);
    repo.git('checkout-index', '-f', '-a');
    renameSync(join(repo.dir, 'build/log.txt'), join(repo.dir, 'build/log-renamed.txt'));
    repo.git('add', '-A');
    const t4 = repo.git('write-tree').trim();
    const m = await measureProcess(process.execPath, [CLI, 'diff', t1, t4, '--numstat', '-M'], { cwd: repo.dir });
    assert.equal(m.status, 0, m.stderr);
    assert.ok(m.peakTreeRss < CEILING, `peak ${(m.peakTreeRss / 1048576).toFixed(1)} MiB`);
    assert.match(m.stdout, /^\d+\t\d+\tbuild\/\{log.txt => log-renamed.txt\}\n$/);
    assert.equal(m.stdout, repo.git('-c', 'core.bigFileThreshold=512m', 'diff', '-M', '--numstat', t1, t4));
  });

  it('a --binary patch of a 64 MiB binary file streams within the contract and git apply gives the new file', async () => {
    const big = join(repo.dir, 'build/blob.bin');
    // Incompressible content: deflate's output is as large as the file.
    const write = (variant: number) => {
      const parts: Buffer[] = [];
      for (let k = 0; k < 64; k++) parts.push(k === 33 ? Buffer.alloc(1 << 20, variant) : randomBytes(1 << 20));
      writeFileSync(big, Buffer.concat(parts));
    };
    write(1);
    repo.git('add', '-A');
    const before = repo.git('write-tree').trim();
    write(2);
    repo.git('add', '-A');
    const after = repo.git('write-tree').trim();
    const patch: Buffer[] = [];
    const m = await measureProcess(process.execPath, [CLI, 'diff', before, after, '--patch', '--binary'], { cwd: repo.dir, onStdout: (b) => patch.push(b) });
    assert.equal(m.status, 0, m.stderr);
    assert.ok(m.peakTreeRss < CONTRACT, `peak ${(m.peakTreeRss / 1048576).toFixed(1)} MiB`);
    const env = { ...process.env, GIT_INDEX_FILE: join(repo.dir, '.git', 'apply-index') };
    execFileSync('git', ['read-tree', before], { cwd: repo.dir, env });
    execFileSync('git', ['apply', '--cached', '-'], { cwd: repo.dir, env, input: Buffer.concat(patch), maxBuffer: 1 << 30 });
    assert.equal(execFileSync('git', ['write-tree'], { cwd: repo.dir, env }).toString().trim(), after);
  });
});
