/**
 * Patch pages produced in a patch process (the server's way for big files) are git's patch byte
 * for byte; the process exits at the end of the patch, when idle, when closed and when its
 * parent is killed; a page asked for after it died is produced again; its errors arrive as the
 * same errors.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SnaplineError } from '../src/errors.js';
import { PatchCache } from '../src/session/patch-cache.js';
import { patchProcess } from '../src/session/patch-process.js';
import { alive } from './helpers/processes.js';
import { rng, seededLines as lines, tempRepo } from './helpers/repo.js';

const repo = tempRepo('snapline-patch-process-');
let t1: string;
let t2: string;

before(() => {
  const edited = lines(6000, 1, 'line');
  writeFileSync(join(repo.dir, 'edit.txt'), edited.join('\n') + '\n');
  writeFileSync(join(repo.dir, 'rewrite.txt'), lines(3000, 2, 'old').join('\n') + '\n');
  repo.git('add', '.');
  repo.git('commit', '-qm', 'one');
  t1 = repo.git('rev-parse', 'HEAD^{tree}').trim();
  const r = rng(3);
  for (let i = 0; i < edited.length; i += 1 + Math.floor(r() * 40)) edited[i] = `changed ${i}`;
  writeFileSync(join(repo.dir, 'edit.txt'), edited.join('\n') + '\n');
  writeFileSync(join(repo.dir, 'rewrite.txt'), lines(2500, 4, 'new').join('\n') + '\n');
  repo.git('add', '.');
  repo.git('commit', '-qm', 'two');
  t2 = repo.git('rev-parse', 'HEAD^{tree}').trim();
});

after(() => repo.cleanup());

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const ctx = () => ({ cwd: repo.dir });

test('a patch process paged through a cache gives git’s patch byte for byte, from one process, which exits at the end', async () => {
  const cache = new PatchCache();
  const pids: number[] = [];
  const open = (cursor: string | undefined) => () => {
    const p = patchProcess({ ctx: ctx(), from: t1, to: t2, file: 'edit.txt', cursor });
    pids.push(p.pid!);
    return p;
  };
  try {
    let whole = '';
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await cache.page('edit', cursor, open(cursor), 3000);
      whole += page.bytes.toString('utf8');
      cursor = page.next;
      pages++;
    } while (cursor);
    assert.equal(whole, repo.git('diff', '--no-renames', t1, t2, '--', 'edit.txt'));
    assert.ok(pages > 10, `${pages} pages`);
    assert.equal(pids.length, 1, 'every later page came from the same process');
    assert.equal(cache.size, 0, 'an ended patch is not kept');
    await until('the process exits after the last page', () => !alive(pids[0]!));
  } finally {
    cache.close();
  }
});

test('two pages asked for at once queue, and both are right', async () => {
  const cache = new PatchCache();
  try {
    const open = () => patchProcess({ ctx: ctx(), from: t1, to: t2, file: 'rewrite.txt' });
    const [a, b] = await Promise.all([cache.page('rw', undefined, open, 5000), cache.page('rw', undefined, open, 5000)]);
    assert.deepEqual(a, b);
    assert.ok(repo.git('diff', '--no-renames', t1, t2, '--', 'rewrite.txt').startsWith(a.bytes.toString('utf8')));
    assert.ok(a.next);
  } finally {
    cache.close();
  }
});

test('a kept process that was killed, or that exited idle, is replaced: the next page is still right', async () => {
  const cache = new PatchCache();
  const pids: number[] = [];
  const open = (cursor: string | undefined, idleMs?: number) => () => {
    const p = patchProcess({ ctx: ctx(), from: t1, to: t2, file: 'edit.txt', cursor }, { idleMs });
    pids.push(p.pid!);
    return p;
  };
  const git = repo.git('diff', '--no-renames', t1, t2, '--', 'edit.txt');
  try {
    const first = await cache.page('edit', undefined, open(undefined), 4000);
    assert.equal(cache.size, 1);
    process.kill(pids[0]!, 'SIGKILL');
    await until('the killed process is gone', () => !alive(pids[0]!));
    const second = await cache.page('edit', first.next, open(first.next, 200), 4000);
    assert.equal(pids.length, 2, 'a new process for the page');
    assert.ok(git.startsWith(`${first.bytes}${second.bytes}`));
    // Unused for its idle time, the second one exits by itself; the page after it still works.
    await until('the idle process exits', () => !alive(pids[1]!), 10_000);
    const third = await cache.page('edit', second.next, open(second.next), 4000);
    assert.equal(pids.length, 3);
    assert.ok(git.startsWith(`${first.bytes}${second.bytes}${third.bytes}`));
  } finally {
    cache.close();
  }
  await until('closing the cache ends its processes', () => pids.every((p) => !alive(p)));
});

test('an error in the patch process arrives as the same error', async () => {
  const p = patchProcess({ ctx: ctx(), from: t1, to: t2, file: 'edit.txt', cursor: '7.0' });
  const e = await p.page(1000).then(
    () => assert.fail('a cursor past the end gives a page'),
    (e: unknown) => e,
  );
  assert.ok(e instanceof SnaplineError);
  assert.equal(e.code, 'usage');
  assert.match(e.message, /past the end/);
  assert.equal(p.position, undefined);
  await until('the failed process exits', () => !alive(p.pid!));
});

test('a patch process exits when its parent is killed', async () => {
  // A parent holding a process kept between pages, killed without a chance to close it.
  const script = `
    import { patchProcess } from ${JSON.stringify(new URL('../src/session/patch-process.js', import.meta.url).href)};
    const p = patchProcess({ ctx: { cwd: ${JSON.stringify(repo.dir)} }, from: '${t1}', to: '${t2}', file: 'edit.txt' });
    await p.page(2000);
    console.log(p.pid);
    setInterval(() => {}, 1000);
  `;
  const parent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = await new Promise<number>((resolve, reject) => {
    let out = '';
    parent.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    parent.once('exit', (c) => reject(new Error(`parent exited ${c}`)));
  });
  assert.ok(alive(pid), 'the process is kept while its parent lives');
  parent.kill('SIGKILL');
  await until('the patch process exits with its parent', () => !alive(pid));
});
