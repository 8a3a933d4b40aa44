/**
 * `npm run bench -- serve`: the server's numbers. `GET /session/:id/message` of a 100-turn
 * session (the first request after start, then warm); the review page's first paint of the
 * report's rewrite turn (128 MiB + 96 MiB + 512 KiB files) as a real browser sees it (Debian's
 * chromium, when installed: click → file list, → first diff, → every file's first page); and the
 * peak RSS while a client pages through the 128 MiB rewrite's patch from its start: the server's
 * own (with its git children), each patch process's (the children that compare big files), and
 * their sum. SNAPLINE_BENCH_SCALE scales the file sizes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childrenMatching, idleNodeRss, mib, ownRss, peakRssOf, treeRss } from '../src/procmem.js';
import { REPORT_FILES } from '../src/session/report.js';
import { printTable } from './measure.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CLI = join(HERE, '..', 'src', 'cli', 'main.js');
const TURN_SCRIPT = join(HERE, '..', 'src', 'cli', 'demo-turn.js');
const PAGES = Number(process.env.SNAPLINE_BENCH_SERVE_PAGES ?? '6');
/** The command line of the server's patch processes (src/session/patch-worker.ts). */
const PATCH_PROCESS = 'patch-worker';

async function serve(cwd: string, env: NodeJS.ProcessEnv): Promise<{ url: string; pid: number; stop(): void }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0'], { cwd, env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (c) => reject(new Error(`serve exited ${c}`)));
  });
  return { url, pid: child.pid!, stop: () => child.kill('SIGTERM') };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const v = await fn();
  return [v, performance.now() - t];
}

/** Peaks over a time: the server's own (its git children included, patch processes not), each patch process's (with its git children), and the sum. */
interface Peaks {
  server: number;
  /** The server process alone, without its git children. */
  serverAlone: number;
  total: number;
  patchProcesses: Map<number, number>;
}

/** Samples the server's process tree every 5 ms until stopped. */
function samplePeaks(pid: number): { now(): Peaks; stop(): Peaks } {
  const peaks: Peaks = { server: 0, serverAlone: 0, total: 0, patchProcesses: new Map() };
  const sample = () => {
    const server = treeRss(pid, PATCH_PROCESS);
    let total = server;
    for (const c of childrenMatching(pid, PATCH_PROCESS)) {
      const rss = treeRss(c);
      total += rss;
      // The process's own high-water mark catches a peak between two samples.
      peaks.patchProcesses.set(c, Math.max(peaks.patchProcesses.get(c) ?? 0, rss, peakRssOf(c)));
    }
    peaks.server = Math.max(peaks.server, server);
    peaks.serverAlone = Math.max(peaks.serverAlone, ownRss(pid));
    peaks.total = Math.max(peaks.total, total);
  };
  sample();
  const timer = setInterval(sample, 5);
  const now = () => ({ ...peaks, patchProcesses: new Map(peaks.patchProcesses) });
  return {
    now,
    stop: () => {
      clearInterval(timer);
      sample();
      return now();
    },
  };
}

/** "idle + N" for each patch process that ran, largest first. */
function perProcess(p: Peaks, idle: number): string {
  const list = [...p.patchProcesses.values()].sort((a, b) => b - a);
  return list.length ? list.map((v) => `+${mib(v - idle)}`).join(', ') : 'none';
}

export async function run(): Promise<void> {
  const scale = Number(process.env.SNAPLINE_BENCH_SCALE ?? '1') || 1;
  const big = Math.round(128 * 1048576 * scale);
  const big2 = Math.round(96 * 1048576 * scale);
  const small = Math.round(512 * 1024 * scale);
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'snapline-bench-serve-')));
  const home = mkdtempSync(join(tmpdir(), 'snapline-bench-home-'));
  const env = { ...process.env, SNAPLINE_HOME: home };
  const rows: string[][] = [['measure', 'value', 'target']];
  const idle = await idleNodeRss();
  const cli = (cwd: string, ...args: string[]) => execFileSync(process.execPath, [CLI, ...args], { cwd, env, encoding: 'utf8', maxBuffer: 1 << 26 });
  const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' });
  let server: Awaited<ReturnType<typeof serve>> | undefined;
  try {
    // A 100-turn session of small edits.
    const turns = join(root, 'turns');
    execFileSync('mkdir', ['-p', turns]);
    git(turns, 'init', '-q');
    const first = JSON.parse(cli(turns, 'run', '--format', 'json', '--exec', 'echo 0 >> log.txt', 'turn 0').split('\n')[0]!) as { sessionID: string };
    for (let i = 1; i < 100; i++) cli(turns, 'run', '--session', first.sessionID, '--exec', `echo ${i} >> log.txt; echo ${i} > f${i % 10}.txt`, `turn ${i}`);

    // The report's rewrite: its three generated files written, then rewritten.
    const report = join(root, 'report');
    execFileSync('mkdir', ['-p', report]);
    git(report, 'init', '-q');
    const turn = (n: number) => `${JSON.stringify(process.execPath)} ${JSON.stringify(TURN_SCRIPT)} ${n} ${big} ${big2} ${small}`;
    const rsid = (JSON.parse(cli(report, 'run', '--format', 'json', '--exec', turn(1), 'write').split('\n')[0]!) as { sessionID: string }).sessionID;
    cli(report, 'run', '--session', rsid, '--exec', turn(2), 'rewrite');
    const rewrite = (JSON.parse(cli(report, 'session', 'show', rsid, '--format', 'json')) as { messages: { id: string; data: { role: string } }[] }).messages.filter((m) => m.data.role === 'user')[1]!.id;

    server = await serve(root, env);
    const { url } = server;
    await fetch(`${url}/global/health`);
    const messages = async () => {
      const [res, ms] = await timed(() => fetch(`${url}/session/${first.sessionID}/message`).then((r) => r.json() as Promise<unknown[]>));
      if (res.length !== 200) throw new Error(`expected 200 messages, got ${res.length}`);
      return ms;
    };
    const cold = await messages();
    const times: number[] = [];
    for (let i = 0; i < 7; i++) times.push(await messages());
    times.sort((a, b) => a - b);
    rows.push(['GET /session/:id/message, 100 turns (200 messages, 250 KB): first request after start', `${cold.toFixed(1)} ms`, '']);
    rows.push(['  the same, then: median of 7 (min)', `${times[3]!.toFixed(1)} ms (${times[0]!.toFixed(1)})`, '< 100 ms']);

    const [, listMs] = await timed(() => fetch(`${url}/session/${rsid}/diff?messageID=${rewrite}&patch=false`).then((r) => r.json()));
    rows.push([`GET /session/:id/diff?patch=false of the rewrite turn (files and counts, from the summary)`, `${listMs.toFixed(1)} ms`, '']);

    if (existsSync('/usr/bin/chromium')) {
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-gpu'] });
      try {
        const page = await browser.newPage();
        await page.goto(url);
        await page.click(`[data-session="${rsid}"]`);
        await page.waitForSelector(`[data-turn="${rewrite}"]`);
        // Each time is taken in the page, at the next frame after the element appeared.
        const painted = (selector: string) => page.waitForSelector(selector, { timeout: 600_000 }).then(() => page.evaluate(() => new Promise<number>((r) => requestAnimationFrame(() => r(performance.now())))));
        const loading = samplePeaks(server.pid);
        const clicked = await page.evaluate(() => performance.now());
        await page.click(`[data-turn="${rewrite}"]`);
        const [list, diff, all] = await Promise.all([painted('ul.files li'), painted('#diffs .d2h-file-wrapper'), painted('#diffs[data-loaded]')]);
        const load = loading.stop();
        rows.push(['review page (chromium): click on the rewrite turn → file list and counts painted', `${((list - clicked) / 1000).toFixed(2)} s`, '']);
        rows.push(['  → first diff painted', `${((diff - clicked) / 1000).toFixed(2)} s`, '< 2 s']);
        rows.push(['  → every file\'s first page painted (the 128 and 96 MiB rewrites compared)', `${((all - clicked) / 1000).toFixed(2)} s`, '']);
        rows.push(['  peak RSS meanwhile: server (own) / each patch process / sum of the tree', `idle + ${mib(load.server - idle)} / ${perProcess(load, idle)} / ${mib(load.total)} MiB`, '']);
      } finally {
        await browser.close();
      }
    } else rows.push(['review page first paint', 'skipped (no /usr/bin/chromium)', '< 2 s']);

    // Page through the rewrite's patch, 1 MiB at a time, sampling the server's process tree.
    const restServer = treeRss(server.pid, PATCH_PROCESS);
    const restKept = childrenMatching(server.pid, PATCH_PROCESS).map((c) => treeRss(c));
    const restSum = restKept.reduce((a, b) => a + b, restServer);
    rows.push(['RSS at rest before paging (the page loaded every file): server (own) / patch processes kept / sum', `idle + ${mib(restServer - idle)} / ${restKept.length ? restKept.map((v) => `+${mib(v - idle)}`).join(', ') : 'none'} / ${mib(restSum)} MiB`, '']);
    const paging = samplePeaks(server.pid);
    // From the start of the patch: the first page compares the pair, the others go on from it.
    let cursor: string | null = null;
    let bytes = 0;
    const pageMs: number[] = [];
    for (let p = 0; p < PAGES; p++) {
      const q: string = `${url}/session/${rsid}/diff/patch?messageID=${rewrite}&file=${encodeURIComponent(REPORT_FILES.big1)}&maxBytes=${1 << 20}${cursor ? `&cursor=${cursor}` : ''}`;
      const [page, ms] = await timed(async () => (await (await fetch(q)).json()) as { patch: string; next: string | null });
      pageMs.push(ms);
      bytes += Buffer.byteLength(page.patch);
      cursor = page.next;
      if (!cursor) break;
    }
    const peaks = paging.stop();
    const later = pageMs.slice(1).sort((a, b) => a - b);
    const what = `paging ${pageMs.length} × 1 MiB of the ${mib(big)} MiB rewrite's patch (${mib(bytes)} MiB)`;
    rows.push([`server peak RSS (own, with its git children) ${what}`, `${mib(peaks.server)} MiB = idle + ${mib(peaks.server - idle)}`, `≤ idle (${mib(idle)}) + 64`]);
    rows.push(['  the server process alone (without its git children)', `idle + ${mib(peaks.serverAlone - idle)}`, '']);
    rows.push(['  each patch process alive meanwhile: its peak RSS (its high-water mark, with its git children) over idle', perProcess(peaks, idle), '≤ idle + 64 each']);
    rows.push(['  sum: the whole tree\'s peak RSS', `${mib(peaks.total)} MiB = idle + ${mib(peaks.total - idle)}`, '']);
    rows.push(['  first page (compares the pair) / later pages (median)', `${(pageMs[0]! / 1000).toFixed(2)} s / ${later.length ? (later[later.length >> 1]! / 1000).toFixed(2) : '-'} s`, '']);
  } finally {
    server?.stop();
    rmSync(root, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
  console.log(`\n## serve (load average ${loadavg().map((l) => l.toFixed(2)).join(' ')})\n`);
  printTable(rows);
}
