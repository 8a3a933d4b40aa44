import { strict as assert } from 'node:assert';
import { mkdirSync, symlinkSync, unlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { numstatBetween } from '../src/diff/numstat.js';
import { patchStream } from '../src/diff/patch.js';
import { quotePath } from '../src/diff/quote.js';
import { formatStat } from '../src/diff/stat.js';
import { execFileSync } from 'node:child_process';
import { tempRepo } from './helpers/repo.js';

async function patchText(dir: string, from: string, to: string, context?: number): Promise<string> {
  const parts: Buffer[] = [];
  for await (const b of patchStream({ cwd: dir }, from, to, { context }).chunks) parts.push(b);
  return Buffer.concat(parts).toString('utf8');
}

/** Each case: the same two trees through snapline and through git, which must agree exactly. */
describe('diff edge cases against git', () => {
  const repo = tempRepo();
  let t1 = '';
  let t2 = '';
  const w = (p: string, s: string | Buffer) => {
    mkdirSync(join(repo.dir, p, '..'), { recursive: true });
    writeFileSync(join(repo.dir, p), s);
  };
  before(() => {
    w('crlf.txt', 'a\r\nb\r\nc\r\n');
    w('no-final-newline.txt', 'one\ntwo');
    w('gains-final-newline.txt', 'x\ny');
    w('empty-to-text.txt', '');
    w('text-to-empty.txt', 'gone\nsoon\n');
    w('deleted.txt', 'bye\n');
    w('mode-only.sh', 'echo hi\n');
    w('mode-only.bin', 'a\0b');
    w('late-nul.bin', 'x'.repeat(9000) + '\0' + '\n');
    w('early-nul.bin', 'ab\0cd\n');
    w('dir with space/fi le.txt', 'a\nb\n');
    w('unicodé/ñame.txt', 'a\n');
    w('quote"and\\back.txt', 'q\n');
    w('tab\tname.txt', 't\n');
    w('func.c', 'int main(void)\n{\n' + Array.from({ length: 30 }, (_, i) => `    step(${i});\n`).join('') + '}\n\nstatic int helper(int x)\n{\n' + '    x++;\n'.repeat(8) + '    return x;\n}\n');
    // Function names git cuts at 80 bytes, then at the first byte that does not complete a
    // valid UTF-8 character: one cut inside a 3-byte character, one with a Latin-1 byte.
    const body = (n: number, mark: string) => Array.from({ length: n }, (_, i) => `  line ${i}${i === n - 2 ? mark : ''}\n`).join('');
    const funcs = (mark: string) =>
      Buffer.concat([Buffer.from(`Types changes (file ${'\u2194'.repeat(30)}\n` + body(8, mark)), Buffer.from([0x64, 0x65, 0x66, 0x20, 0x67, 0xe9, 0x74, 0x65, 0x0a]), Buffer.from(body(8, mark))]);
    w('utf8-func.txt', funcs(''));
    symlinkSync('target-one', join(repo.dir, 'link'));
    w('becomes-link', 'plain\n');
    repo.git('add', '-A');
    t1 = repo.git('write-tree').trim();

    w('crlf.txt', 'a\r\nB\r\nc\r\n');
    w('no-final-newline.txt', 'one\ntwo\nthree');
    w('gains-final-newline.txt', 'x\ny\n');
    w('empty-to-text.txt', 'now\nsome\n');
    w('text-to-empty.txt', '');
    unlinkSync(join(repo.dir, 'deleted.txt'));
    chmodSync(join(repo.dir, 'mode-only.sh'), 0o755);
    chmodSync(join(repo.dir, 'mode-only.bin'), 0o755);
    w('late-nul.bin', 'y'.repeat(9000) + '\0' + '\n');
    w('early-nul.bin', 'ab\0ce\n');
    w('dir with space/fi le.txt', 'a\nc\n');
    w('unicodé/ñame.txt', 'b\n');
    w('quote"and\\back.txt', 'r\n');
    w('tab\tname.txt', 'u\n');
    w('added-empty.txt', '');
    w('func.c', 'int main(void)\n{\n' + Array.from({ length: 30 }, (_, i) => `    step(${i === 20 ? 99 : i});\n`).join('') + '}\n\nstatic int helper(int x)\n{\n' + '    x++;\n'.repeat(8) + '    return x + 1;\n}\n');
    w('utf8-func.txt', funcs(' changed'));
    unlinkSync(join(repo.dir, 'link'));
    symlinkSync('target-two', join(repo.dir, 'link'));
    unlinkSync(join(repo.dir, 'becomes-link'));
    symlinkSync('plain', join(repo.dir, 'becomes-link'));
    repo.git('add', '-A');
    t2 = repo.git('write-tree').trim();
  });
  after(() => repo.cleanup());

  it('numstat matches git for CRLF, final newlines, empty, added, deleted, mode-only, binary, symlinks, type changes', async () => {
    const stats = await numstatBetween({ cwd: repo.dir }, t1, t2);
    const ours = stats.map((s) => (s.binary ? `-\t-\t${quotePath(s.file)}` : `${s.additions}\t${s.deletions}\t${quotePath(s.file)}`)).join('\n');
    assert.equal(ours, repo.git('diff', '--no-renames', '--numstat', t1, t2).trimEnd());
    const byName = new Map(stats.map((s) => [s.file, s]));
    assert.equal(byName.get('deleted.txt')?.status, 'deleted');
    assert.equal(byName.get('added-empty.txt')?.status, 'added');
    assert.equal(byName.get('late-nul.bin')?.binary, undefined, 'a NUL after byte 8000 is text to git');
    assert.equal(byName.get('early-nul.bin')?.binary, true);
    assert.equal(byName.get('mode-only.sh')?.after?.mode, '100755');
    assert.equal(byName.get('mode-only.bin')?.binary, true, 'a binary file whose mode alone changed is still binary to git');
  });

  for (const context of [3, 1, 0, 10]) {
    it(`patch with ${context} context lines is byte-identical to git diff -U${context}`, async () => {
      assert.equal(await patchText(repo.dir, t1, t2, context), repo.git('diff', '--no-renames', `-U${context}`, t1, t2));
    });
  }

  it('--stat is laid out as git lays it out, at any width', async () => {
    const stats = await numstatBetween({ cwd: repo.dir }, t1, t2);
    for (const columns of [80, 40, 132]) {
      const git = execFileSync('git', ['diff', '--no-renames', '--stat', t1, t2], { cwd: repo.dir, env: { ...process.env, COLUMNS: String(columns) } }).toString();
      assert.equal(formatStat(stats, columns), git, `at ${columns} columns`);
    }
  });

  it('hunk headers carry the function line git would show', async () => {
    const patch = await patchText(repo.dir, t1, t2);
    assert.match(patch, /^@@ -\d+,\d+ \+\d+,\d+ @@ int main\(void\)$/m);
    assert.match(patch, /^@@ -\d+,\d+ \+\d+,\d+ @@ static int helper\(int x\)$/m);
  });

  it('a path limit keeps only that path and refuses a path in neither tree', async () => {
    const only = await numstatBetween({ cwd: repo.dir }, t1, t2, { paths: ['crlf.txt'] });
    assert.deepEqual(
      only.map((s) => s.file),
      ['crlf.txt'],
    );
    await assert.rejects(numstatBetween({ cwd: repo.dir }, t1, t2, { paths: ['no/such/file'] }), /not in either tree: no\/such\/file/);
  });
});
