import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { CLI, tempRepo } from './helpers/repo.js';

/**
 * Patches and listings follow the repository's own settings the way git does: the length of
 * abbreviated ids on `index` lines, and core.quotePath. git is the oracle.
 */
function snapline(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Writes `count` distinct small blobs as one pack (git's automatic length counts packed objects).
 * Built here and indexed by `git index-pack`: much faster than fast-import on a busy machine.
 */
function packBlobs(repo: ReturnType<typeof tempRepo>, count: number): void {
  const head = Buffer.alloc(12);
  head.write('PACK');
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(count, 8);
  const parts = [head];
  for (let i = 0; i < count; i++) {
    const body = Buffer.from(`filler blob ${i}\n`);
    let size = body.length;
    const entry = [(3 << 4) | (size & 15)]; // type 3: blob
    size >>= 4;
    while (size) {
      entry[entry.length - 1]! |= 0x80;
      entry.push(size & 0x7f);
      size >>= 7;
    }
    parts.push(Buffer.from(entry), deflateSync(body, { level: 1 }));
  }
  const pack = Buffer.concat(parts);
  const file = join(repo.dir, '.git', 'objects', 'pack', 'pack-filler.pack');
  writeFileSync(file, Buffer.concat([pack, createHash('sha1').update(pack).digest()]));
  repo.git('index-pack', file);
}

describe('index lines abbreviate ids as git does', () => {
  const repo = tempRepo();
  before(() => {
    for (let i = 0; i < 12; i++) writeFileSync(join(repo.dir, `f${i}.txt`), `one ${i}\n`);
    repo.git('add', '-A');
    repo.git('commit', '-qm', 'one');
    for (let i = 0; i < 12; i++) {
      if (i % 4 === 0) repo.git('rm', '-q', `f${i}.txt`);
      else writeFileSync(join(repo.dir, `f${i}.txt`), `two ${i}\n`);
    }
    writeFileSync(join(repo.dir, 'added.txt'), 'added\n');
    repo.git('add', '-A');
    repo.git('commit', '-qm', 'two');
    // Over 2^14 packed objects git's automatic length is 8, no longer 7.
    packBlobs(repo, 20000);
  });
  after(() => repo.cleanup());

  it('uses git’s automatic length in a repository with many objects', () => {
    const expected = repo.git('diff', 'HEAD~1', 'HEAD');
    assert.match(expected, /^index [0-9a-f]{8}\.\.[0-9a-f]{8} /m, 'git should pick 8 digits here');
    const r = snapline(repo.dir, 'diff', 'HEAD~1', 'HEAD', '--patch');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, expected);
  });

  it('honours core.abbrev, lengthening ids that share a prefix', () => {
    repo.git('config', 'core.abbrev', '4');
    try {
      const expected = repo.git('diff', 'HEAD~1', 'HEAD');
      // 20,000 objects share many 4-digit prefixes: some ids need more digits
      const lengths = new Set([...expected.matchAll(/^index ([0-9a-f]+)\.\.([0-9a-f]+)/gm)].flatMap((m) => [m[1]!.length, m[2]!.length]));
      assert.ok(lengths.size > 1, `expected abbreviations of several lengths, got ${[...lengths]}`);
      const r = snapline(repo.dir, 'diff', 'HEAD~1', 'HEAD', '--patch');
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, expected);
    } finally {
      repo.git('config', '--unset', 'core.abbrev');
    }
  });
});

describe('core.quotePath is honoured like git', () => {
  const repo = tempRepo();
  const home = tempRepo('snapline-home-');
  const env = { ...process.env, SNAPLINE_HOME: home.dir, SNAPLINE_CONFIG_CONTENT: '' };
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: repo.dir, encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  const trees: string[] = [];
  before(() => {
    mkdirSync(join(repo.dir, 'répertoire'));
    writeFileSync(join(repo.dir, 'café.txt'), 'one\n');
    writeFileSync(join(repo.dir, 'répertoire', 'naïve "quoted".txt'), 'one\n');
    writeFileSync(join(repo.dir, 'plain.txt'), 'one\n');
    repo.git('add', '-A');
    repo.git('commit', '-qm', 'one');
    trees.push(JSON.parse(run('snapshot', 'track', '--dir', repo.dir, '--format', 'json')).tree);
    writeFileSync(join(repo.dir, 'café.txt'), 'two\n');
    writeFileSync(join(repo.dir, 'répertoire', 'naïve "quoted".txt'), 'two\nlines\n');
    writeFileSync(join(repo.dir, 'plain.txt'), 'two\n');
    writeFileSync(join(repo.dir, 'ünïcödé-new.txt'), 'new\n');
    repo.git('add', '-A');
    repo.git('commit', '-qm', 'two');
    trees.push(JSON.parse(run('snapshot', 'track', '--dir', repo.dir, '--format', 'json')).tree);
  });
  after(() => {
    repo.cleanup();
    home.cleanup();
  });

  for (const setting of ['true', 'false']) {
    it(`core.quotePath=${setting}: numstat, stat and patch name files as git does`, () => {
      repo.git('config', 'core.quotePath', setting);
      for (const mode of ['--numstat', '--stat', '--patch']) {
        const expected = repo.git('diff', mode === '--patch' ? '--no-ext-diff' : mode, 'HEAD~1', 'HEAD');
        assert.equal(/café/.test(expected), setting === 'false', `git's ${mode} with quotePath=${setting}`);
        assert.equal(run('diff', 'HEAD~1', 'HEAD', mode), expected, `snapline diff ${mode}`);
        // Snapshots of this workspace are named by the workspace's setting, not the store's.
        assert.equal(run('diff', '--dir', repo.dir, trees[0]!, trees[1]!, mode), expected, `snapline diff --dir ${mode}`);
      }
    });
  }
});

describe('--color paints like git diff --color=always', () => {
  const repo = tempRepo();
  before(() => {
    const body = (n: number) => Array.from({ length: n }, (_, i) => `  line ${i};\n`).join('');
    writeFileSync(join(repo.dir, 'f.c'), `int main() {\n${body(12)}}\n`);
    writeFileSync(join(repo.dir, 'ws.txt'), 'a\nb\nc\n');
    writeFileSync(join(repo.dir, 'crlf.txt'), 'one\r\ntwo\r\nthree\r\n');
    writeFileSync(join(repo.dir, 'nonl.txt'), 'x\ny');
    writeFileSync(join(repo.dir, 'b.bin'), 'bin\0ary');
    writeFileSync(join(repo.dir, 'mode.sh'), 'echo\n');
    writeFileSync(join(repo.dir, 'gone.txt'), 'bye\n\n');
    writeFileSync(join(repo.dir, 'blank1.txt'), 'a\n');
    writeFileSync(join(repo.dir, 'blank3.txt'), 'a\n');
    repo.git('add', '-A');
    repo.git('commit', '-qm', 'one');
    // only blank lines: git's trailing-blank count stops short at the start of the file
    writeFileSync(join(repo.dir, 'blank1.txt'), '\n');
    writeFileSync(join(repo.dir, 'blank3.txt'), '\n\n\n');
    // function-name hunk header, a trailing space, a blank line added at the end
    writeFileSync(join(repo.dir, 'f.c'), `int main() {\n${body(8)}  CHANGED; \n${body(12).split('\n').slice(9).join('\n')}}\n\n`);
    // leading tab, spaces before a tab, a whitespace-only line, trailing tab
    writeFileSync(join(repo.dir, 'ws.txt'), 'a\n\tindented\n  \tmixed\n \t \nb\t\nc\n');
    writeFileSync(join(repo.dir, 'crlf.txt'), 'one\r\nTWO\r\nthree\r\n');
    writeFileSync(join(repo.dir, 'nonl.txt'), 'x\nz');
    writeFileSync(join(repo.dir, 'b.bin'), 'bin\0arz');
    repo.git('update-index', '--chmod=+x', 'mode.sh');
    repo.git('rm', '-q', 'gone.txt');
    writeFileSync(join(repo.dir, 'new.txt'), 'new \tfile\n\n');
    repo.git('add', '-A');
    repo.git('commit', '-qm', 'two');
  });
  after(() => repo.cleanup());

  it('patches, with every kind of change, are byte-identical', () => {
    const expected = repo.git('diff', '--color=always', 'HEAD~1', 'HEAD');
    assert.match(expected, /\x1b\[36m@@ [^\n]*@@\x1b\[m \x1b\[mint main\(\) \{/, 'a coloured function name');
    assert.match(expected, /\x1b\[41m\+\x1b\[m\n/, 'a blank line at the end painted');
    const r = snapline(repo.dir, 'diff', 'HEAD~1', 'HEAD', '--patch', '--color=always');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, expected);
    // bare --color means always, like git
    assert.equal(snapline(repo.dir, 'diff', 'HEAD~1', 'HEAD', '--patch', '--color').stdout, expected);
  });

  it('--stat bars are byte-identical', () => {
    const r = snapline(repo.dir, 'diff', 'HEAD~1', 'HEAD', '--stat', '--color=always');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, repo.git('diff', '--stat', '--color=always', 'HEAD~1', 'HEAD'));
  });

  it('auto and never leave a pipe uncoloured; a bad value is a usage error', () => {
    for (const when of ['auto', 'never']) assert.equal(snapline(repo.dir, 'diff', 'HEAD~1', 'HEAD', '--patch', `--color=${when}`).stdout, repo.git('diff', 'HEAD~1', 'HEAD'));
    const bad = snapline(repo.dir, 'diff', 'HEAD~1', 'HEAD', '--color=sometimes');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--color must be auto, always or never/);
  });
});
