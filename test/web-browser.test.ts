/** The review page in a real browser: Debian's chromium driven by playwright-core, against `snapline serve`. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { sessionFixture, sessionOf } from './session-helpers.js';
import { startServe, type ServeProcess } from './server-helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const f = sessionFixture();
const shots = mkdtempSync(join(tmpdir(), 'snapline-web-shots-'));
let server: ServeProcess;
let browser: Browser;
let page: Page;
let sid: string;

const APP_V1 = 'function greet(name) {\n  return "hello " + name;\n}\nconst x = 1;\n';
const APP_V2 = 'function greet(name) {\n  // friendlier\n  return `hi ${name}!`;\n}\nconst x = 2;\nexport default greet;\n';

before(async () => {
  writeFileSync(join(f.dir, 'app.js'), APP_V1);
  writeFileSync(join(f.dir, 'notes.txt'), 'a\nb\n');
  f.git('add', '.');
  f.git('commit', '-qm', 'base');
  sid = sessionOf(f.ok('run', '--format', 'json', '--title', 'browser review', '--exec', 'seq 1 200000 > big.txt', 'make a big file'));
  const v2 = join(shots, 'v2.js'); // outside the workspace: only the turn's own changes count
  writeFileSync(v2, APP_V2);
  f.ok('run', '--session', sid, '--exec', `cp '${v2}' app.js && rm notes.txt && echo fresh > new.txt`, 'edit the app');
  server = await startServe(f.dir, f.env);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-gpu'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (e) => assert.fail(`page error: ${e.message}`));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  f.cleanup();
  process.stdout.write(`# screenshots in ${shots}\n`);
});

/** Waits for a selector; on timeout, fails with what the page's dialog and the server said. */
async function waitFor(selector: string, opts: { state?: 'attached' | 'detached' | 'visible' | 'hidden' } = {}): Promise<void> {
  try {
    await page.waitForSelector(selector, opts);
  } catch (e) {
    const dialog = await page.locator('#confirm').innerText().catch(() => '');
    assert.fail(`${(e as Error).message}\npage dialog: ${dialog || '(none)'}\nserver stderr: ${server.stderr() || '(empty)'}`);
  }
}

/** The turn's files as the server stored them (git-equal counts, checked by the session tests). */
function storedFiles(turn: number): { file: string; additions: number; deletions: number }[] {
  const users = f.db<{ data: string }>(`SELECT data FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user' ORDER BY id`);
  return (JSON.parse(users[turn]!.data) as { summary: { diffs: { file: string; additions: number; deletions: number }[] } }).summary.diffs;
}

test('pick a session, open a turn: the right files and counts, coloured diffs, split and unified', async () => {
  await page.goto(server.url);
  await page.click(`[data-session="${sid}"]`);
  await page.waitForSelector('.turn');
  assert.equal(await page.locator('.turn').count(), 2);
  await page.locator('.turn').nth(1).click();
  // The file list comes first, then each file's first page.
  await page.waitForSelector('#diffs[data-loaded]');
  const rows = await page.locator('ul.files li').allInnerTexts();
  const expected = storedFiles(1);
  assert.equal(rows.length, expected.length);
  for (const [i, d] of expected.entries()) {
    assert.match(rows[i]!, new RegExp(`\\+${d.additions}\\s+−${d.deletions}\\s+${d.file.replace('.', '\\.')}$`));
  }
  assert.deepEqual(expected.map((d) => d.file), ['app.js', 'new.txt', 'notes.txt']);
  assert.equal(await page.locator('#diffs .d2h-file-wrapper').count(), 3);
  assert.ok((await page.locator('#diffs .hljs-keyword').count()) > 0, 'syntax colours');
  assert.ok((await page.locator('#diffs .d2h-ins').count()) > 0);
  await page.screenshot({ path: join(shots, 'unified.png') });

  await page.click('#split');
  await page.waitForSelector('#diffs .d2h-file-side-diff');
  assert.ok((await page.locator('#diffs .d2h-file-side-diff').count()) >= 2, 'two sides per file');
  await page.screenshot({ path: join(shots, 'split.png') });
  await page.click('#unified');
  await page.waitForSelector('#split:not(.on)');
  assert.equal(await page.locator('#diffs .d2h-file-side-diff').count(), 0);
});

test('a big patch comes a page at a time with "load more"', async () => {
  await page.locator('.turn').nth(0).click();
  await page.waitForSelector('[data-more="big.txt"]');
  const lines = async () => page.locator('#diffs .d2h-ins').count();
  const first = await lines();
  // 1.27 MB, over 1 MiB: its pages come from a patch process of the server.
  assert.ok(first > 100 && first < 200000, `first page shows ${first} lines`);
  await page.click('[data-more="big.txt"]');
  await page.waitForFunction((n) => document.querySelectorAll('#diffs .d2h-ins').length > n, first);
  assert.ok((await lines()) > first);
});

test('revert with a preview of the files, see the workspace change on disk, then unrevert', async () => {
  await page.locator('.turn').nth(1).click();
  await page.waitForSelector('#revert');
  await page.click('#revert');
  await page.waitForSelector('#preview li');
  assert.deepEqual((await page.locator('#preview li').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ')), ['write app.js', 'write notes.txt', 'delete new.txt']);
  assert.equal(readFileSync(join(f.dir, 'app.js'), 'utf8'), APP_V2, 'the preview wrote nothing');
  await page.screenshot({ path: join(shots, 'revert-preview.png') });
  await page.click('#confirm-revert');
  await waitFor('#unrevert');
  assert.equal(readFileSync(join(f.dir, 'app.js'), 'utf8'), APP_V1);
  assert.equal(readFileSync(join(f.dir, 'notes.txt'), 'utf8'), 'a\nb\n');
  assert.ok(!existsSync(join(f.dir, 'new.txt')));
  await page.click('#unrevert');
  await waitFor('#revert-state:not([data-pending])', { state: 'attached' }); // the server has answered
  await waitFor('#unrevert', { state: 'detached' });
  assert.equal(readFileSync(join(f.dir, 'app.js'), 'utf8'), APP_V2);
  assert.ok(!existsSync(join(f.dir, 'notes.txt')));
});

test('a turn recorded by another process appears live', async () => {
  f.ok('run', '--session', sid, '--exec', 'echo live >> new.txt', 'a live turn');
  await page.waitForFunction(() => document.querySelectorAll('.turn').length === 3, undefined, { timeout: 20_000 });
  assert.match(await page.locator('.turn').nth(2).innerText(), /a live turn/);
  await page.locator('.turn').nth(2).click();
  await page.waitForSelector('#diffs .d2h-file-wrapper');
  await page.screenshot({ path: join(shots, 'live.png') });
  if (process.env.SNAPLINE_SCREENSHOT) await page.screenshot({ path: process.env.SNAPLINE_SCREENSHOT });
});
