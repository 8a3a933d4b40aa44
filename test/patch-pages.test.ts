/**
 * Patch pages from a producer kept between pages (the server's cache) are the pages a fresh
 * producer gives at the same cursor, and together exactly git's patch; the cache stays bounded.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PatchProducer, patchStream, parseCursor } from '../src/diff/patch.js';
import { PatchCache, producerSource, type PageSource, type PatchPage } from '../src/session/patch-cache.js';
import { rng, seededLines as lines, tempRepo } from './helpers/repo.js';

const repo = tempRepo('snapline-patch-pages-');
let t1: string;
let t2: string;

before(() => {
  const edited = lines(4000, 1, 'line');
  writeFileSync(join(repo.dir, 'edit.txt'), edited.join('\n') + '\n');
  writeFileSync(join(repo.dir, 'rewrite.txt'), lines(3000, 2, 'old').join('\n') + '\n');
  writeFileSync(join(repo.dir, 'gone.txt'), 'bye\n'.repeat(500));
  repo.git('add', '.');
  repo.git('commit', '-qm', 'one');
  t1 = repo.git('rev-parse', 'HEAD^{tree}').trim();
  // Scattered edits (many hunks), a whole rewrite (no line in common), a deleted and a new file.
  const r = rng(3);
  for (let i = 0; i < edited.length; i += 1 + Math.floor(r() * 60)) edited[i] = `changed ${i}`;
  writeFileSync(join(repo.dir, 'edit.txt'), edited.join('\n')); // and no newline at the end
  writeFileSync(join(repo.dir, 'rewrite.txt'), lines(2500, 4, 'new').join('\n') + '\n');
  repo.git('rm', '-q', 'gone.txt');
  writeFileSync(join(repo.dir, 'new.txt'), lines(700, 5, 'fresh').join('\n') + '\n');
  repo.git('add', '.');
  repo.git('commit', '-qm', 'two');
  t2 = repo.git('rev-parse', 'HEAD^{tree}').trim();
});

after(() => repo.cleanup());

async function read(chunks: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const b of chunks) parts.push(b);
  return Buffer.concat(parts).toString('utf8');
}

/** A page as text, like freshPage's. */
function asText(p: PatchPage): { text: string; next?: string } {
  const text = p.bytes.toString('utf8');
  return p.next === undefined ? { text } : { text, next: p.next };
}

/** A page from a fresh producer at `cursor` (what every page was before producers were kept). */
async function freshPage(cursor: string | undefined, maxBytes: number, paths?: string[]): Promise<{ text: string; next?: string }> {
  const s = patchStream({ cwd: repo.dir }, t1, t2, { maxBytes, cursor: cursor === undefined ? undefined : parseCursor(cursor), paths });
  const text = await read(s.chunks);
  const next = s.next();
  return next === undefined ? { text } : { text, next };
}

test('one producer paged to the end gives, page for page, what fresh producers give at each cursor, and git’s patch', async () => {
  const git = repo.git('diff', '--no-renames', t1, t2);
  for (const [maxBytes, every] of [[1, 500], [700, 25], [5000, 1]] as const) {
    const p = new PatchProducer({ cwd: repo.dir }, t1, t2);
    let whole = '';
    let cursor: string | undefined;
    let pages = 0;
    try {
      for (;;) {
        const page = p.page(maxBytes);
        const text = await read(page.chunks);
        // Fresh producers (each comparing again) for some of the pages: one a line is slow.
        if (pages % every === 0 || text.startsWith('diff --git')) {
          const expected = await freshPage(cursor, maxBytes);
          assert.equal(text, expected.text, `page at ${cursor ?? 'start'} of ${maxBytes}-byte pages`);
          assert.equal(page.next(), expected.next);
        }
        assert.equal(p.position, page.next());
        whole += text;
        pages++;
        cursor = page.next();
        if (cursor === undefined) break;
      }
    } finally {
      p.close();
    }
    assert.equal(whole, git, `${maxBytes}-byte pages`);
    assert.ok(pages > 10, `${pages} pages`);
  }
});

test('a producer opened at a cursor goes on from there', async () => {
  const first = await freshPage(undefined, 30_000);
  const p = new PatchProducer({ cwd: repo.dir }, t1, t2, { cursor: parseCursor(first.next!) });
  try {
    const rest = await read(p.page().chunks);
    assert.equal(first.text + rest, repo.git('diff', '--no-renames', t1, t2));
    assert.equal(p.position, undefined, 'the patch ended');
    assert.throws(() => p.page(), /after the end/);
  } finally {
    p.close();
  }
});

test('a page left unread closes its producer: it is not kept', async () => {
  const cache = new PatchCache();
  try {
    // A source whose reader stops in the middle of the page (as a reader over a page's limit does).
    const open = (): PageSource => {
      const p = new PatchProducer({ cwd: repo.dir }, t1, t2, { paths: ['rewrite.txt'] });
      const source = producerSource(p);
      return {
        ...source,
        get position() {
          return source.position;
        },
        page: async (maxBytes) => {
          for await (const b of p.page(maxBytes).chunks) if (b.length) throw new Error('client went away');
          return { bytes: Buffer.alloc(0) };
        },
      };
    };
    await assert.rejects(cache.page('k', undefined, open, 100_000), /client went away/);
    assert.equal(cache.size, 0);
  } finally {
    cache.close();
  }
});

test('the cache: pages resume from kept producers, any cursor still works, concurrent pages queue, at most `entries` kept', async () => {
  const cache = new PatchCache({ entries: 2 });
  const paths = ['edit.txt'];
  const opened: string[] = [];
  const page = (key: string, cursor: string | undefined, maxBytes: number) =>
    cache.page(
      key,
      cursor,
      () => {
        opened.push(`${key}@${cursor ?? 'start'}`);
        return producerSource(new PatchProducer({ cwd: repo.dir }, t1, t2, { paths: [key], cursor: cursor === undefined ? undefined : parseCursor(cursor) }));
      },
      maxBytes,
    ).then(asText);
  try {
    const git = repo.git('diff', '--no-renames', t1, t2, '--', ...paths);
    let whole = '';
    const cursors: (string | undefined)[] = [];
    let cursor: string | undefined;
    do {
      cursors.push(cursor);
      const p = await page('edit.txt', cursor, 4000);
      whole += p.text;
      cursor = p.next;
    } while (cursor);
    assert.equal(whole, git);
    assert.deepEqual(opened, ['edit.txt@start'], 'every later page came from the kept producer');

    // An earlier cursor again (a client reloading a page): a new producer, the same page.
    const again = await page('edit.txt', cursors[3], 4000);
    assert.deepEqual(again, await freshPage(cursors[3], 4000, paths));
    assert.equal(opened.length, 2);

    // Two requests for the same page at once: they queue; both are right.
    const [a, b] = await Promise.all([page('new.txt', undefined, 2000), page('new.txt', undefined, 2000)]);
    const expected = await freshPage(undefined, 2000, ['new.txt']);
    assert.deepEqual(a, expected);
    assert.deepEqual(b, expected);

    // Three more patches paged: only the two most recent producers stay.
    for (const key of ['rewrite.txt', 'gone.txt', 'new.txt']) await page(key, undefined, 1000);
    assert.equal(cache.size, 2);
  } finally {
    cache.close();
  }
  assert.equal(cache.size, 0);
});

test('a kept producer unused for idleMs is closed', async () => {
  const cache = new PatchCache({ idleMs: 50 });
  try {
    await cache.page('k', undefined, () => producerSource(new PatchProducer({ cwd: repo.dir }, t1, t2, { paths: ['rewrite.txt'] })), 1000);
    assert.equal(cache.size, 1);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(cache.size, 0);
  } finally {
    cache.close();
  }
});
