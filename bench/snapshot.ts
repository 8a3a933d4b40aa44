import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { idleNodeRss, measure, mib, printTable, type Measurement } from './measure.js';

/** The `snapline` command as installed (bin/snapline, which starts Node on dist/src/cli/main.js). */
const SNAPLINE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'snapline');

/** Writes `bytes` of deterministic ASCII text lines; `turn` changes every line. */
async function textFile(path: string, bytes: number, turn: number): Promise<void> {
  const out = createWriteStream(path);
  let written = 0;
  let line = 0;
  while (written < bytes) {
    let chunk = '';
    while (chunk.length < 1 << 20 && written + chunk.length < bytes) chunk += `turn ${turn} line ${line++} the quick brown fox jumps over the lazy dog ${(line * 2654435761) % 1000003}\n`;
    written += chunk.length;
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
}

function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** `git add -A && git write-tree` in a plain repository, as one measured process tree. */
function rawGit(cwd: string, config: string[] = []): Promise<Measurement> {
  const c = config.map((kv) => `-c ${kv}`).join(' ');
  return measure('sh', ['-c', `git ${c} add -A && git ${c} write-tree`], { cwd });
}

/**
 * For rows that report only wall time: no memory sampling. Sampling the process tree every 5 ms
 * costs the machine's two cores what it samples: 40 ms of a 20,000-file no-op `run` turn
 * (504 against 465 ms, medians of 5), 3 ms of a `git status` beside it.
 */
const TIME_ONLY = { intervalMs: 3_600_000 };

function track(dir: string, env: NodeJS.ProcessEnv, timeOnly = false): Promise<Measurement> {
  return measure(SNAPLINE, ['snapshot', 'track', '--dir', dir], { env, ...(timeOnly ? TIME_ONLY : {}) });
}

function check(m: Measurement, what: string): Measurement {
  if (m.status !== 0) throw new Error(`${what} failed: ${m.stderr}`);
  return m;
}

/** `count` small files in directories of 200, as case (a) has them (file i: i % 20 + 1 lines). */
function manyFiles(dir: string, count: number): void {
  for (let i = 0; i < count; i++) {
    const sub = join(dir, `dir${i % Math.ceil(count / 100)}`);
    if (i < Math.ceil(count / 100)) mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `file${i}.txt`), `file ${i}\n`.repeat(1 + (i % 20)));
  }
}

/** A git repository with everything in it committed (so `git status` has nothing to say). */
function committedRepo(dir: string): void {
  const env = { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@b', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@b' };
  // No background auto-gc: it would still be writing into .git when the workspace is removed.
  for (const args of [['init', '-q'], ['config', 'gc.auto', '0'], ['add', '-A'], ['commit', '-qm', 'files', '--allow-empty']]) execFileSync('git', args, { cwd: dir, env });
}

const gitStatus = (dir: string) => measure('git', ['status', '--porcelain', '-uall'], { cwd: dir, ...TIME_ONLY });

/**
 * Cost by number of files, beside `git status --porcelain -uall` on the same workspace (a git
 * repository with every file committed) in the same run: a no-change `snapshot track` process
 * on 20,000 and 100,000 files, and a no-op `snapline run` turn right after a turn that added
 * 20,000 files (each of its 3 repetitions in a fresh workspace).
 */
async function fileCounts(root: string, env: NodeJS.ProcessEnv): Promise<void> {
  const rows: string[][] = [['case (median)', 'snapline ms', 'git status ms', 'ratio', 'target']];
  for (const [count, reps, target] of [[20_000, 5, '≤ 3× git status'], [100_000, 3, '≤ 500 ms']] as const) {
    const dir = join(root, `files-${count}`);
    manyFiles(dir, count);
    committedRepo(dir);
    check(await track(dir, env), `first track of ${count} files`);
    const ours: number[] = [];
    const raw: number[] = [];
    const node: number[] = [];
    const viaNode: number[] = [];
    for (let k = 0; k < reps; k++) {
      ours.push(check(await track(dir, env, true), 'no-change track').wallMs);
      raw.push(check(await gitStatus(dir), 'git status').wallMs);
      node.push(check(await measure(process.execPath, ['-e', '0'], { env, ...TIME_ONLY }), 'node -e 0').wallMs);
      viaNode.push(check(await track(dir, { ...env, SNAPLINE_FAST_TRACK: '0' }, true), 'no-change track through Node').wallMs);
    }
    rows.push([`no-change track, ${count.toLocaleString('en')} files (of ${reps})`, median(ours).toFixed(0), median(raw).toFixed(0), (median(ours) / median(raw)).toFixed(2), target]);
    // The command answers a no-change track without Node (docs/snapshot.md); this is Node's own.
    rows.push([`  the same through Node (\`SNAPLINE_FAST_TRACK=0\`)`, median(viaNode).toFixed(0), median(raw).toFixed(0), (median(viaNode) / median(raw)).toFixed(2), '']);
    // The floor of any Node process here, measured beside them.
    rows.push([`  \`node -e 0\` beside it`, median(node).toFixed(0), median(raw).toFixed(0), (median(node) / median(raw)).toFixed(2), '']);
    rmSync(dir, { recursive: true, force: true });
  }
  const generator = join(root, 'add-files.mjs');
  writeFileSync(generator, `import { mkdirSync, writeFileSync } from 'node:fs';\nfor (let i = 0; i < 20000; i++) { const d = 'added/d' + (i % 200); if (i < 200) mkdirSync(d, { recursive: true }); writeFileSync(d + '/f' + i + '.txt', 'added ' + i + '\\n'); }\n`);
  const ours: number[] = [];
  const raw: number[] = [];
  for (let k = 0; k < 3; k++) {
    const dir = join(root, `turns-${k}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'README'), 'turns\n');
    committedRepo(dir);
    const runTurn = (message: string, cmd: string) => measure(SNAPLINE, ['run', message, '--dir', dir, '--continue', '--exec', cmd], { env, ...TIME_ONLY });
    check(await measure(SNAPLINE, ['run', 'start', '--dir', dir, '--exec', 'true'], { env }), 'first turn');
    check(await runTurn('add 20,000 files', `'${process.execPath}' '${generator}'`), 'turn adding 20,000 files');
    ours.push(check(await runTurn('nothing', 'true'), 'no-op turn').wallMs);
    raw.push(check(await gitStatus(dir), 'git status').wallMs);
    rmSync(dir, { recursive: true, force: true });
  }
  rows.push(['no-op run turn after a turn adding 20,000 files (of 3)', median(ours).toFixed(0), median(raw).toFixed(0), (median(ours) / median(raw)).toFixed(2), '≤ 500 ms']);
  printTable(rows);
  console.log(`(load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  console.log('');
}

/**
 * Snapshot store benchmark, side by side with git in the same run: cost by number of files
 * (see fileCounts), then (a) no-change track of 20,000 small files beside `git add -A && git
 * write-tree`, (b) the report's turn (128 MiB + 96 MiB + 512 KiB of text, every line
 * rewritten), (c) store growth per turn, (d) zlib levels for the store. SNAPLINE_BENCH_SCALE
 * (default 1) scales the file sizes of (b)–(d); SNAPLINE_BENCH_CASES=files runs only the
 * file-count cases.
 */
export async function run(): Promise<void> {
  const scale = Number(process.env.SNAPLINE_BENCH_SCALE ?? '1') || 1;
  const root = mkdtempSync(join(tmpdir(), 'snapline-bench-'));
  const env = { ...process.env, SNAPLINE_HOME: join(root, 'home'), SNAPLINE_CONFIG_CONTENT: '' };
  try {
    // Node reads this bundle at every start (tens of ms): `node -e 0` below pays for it, snapline's
    // command hands it over to what it runs without reading it (bin/snapline).
    const caCerts = process.env.NODE_EXTRA_CA_CERTS ? `NODE_EXTRA_CA_CERTS set in the environment` : 'NODE_EXTRA_CA_CERTS not set';
    console.log(`snapshot store by number of files (load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${caCerts})\n`);
    await fileCounts(root, env);
    if (process.env.SNAPLINE_BENCH_CASES === 'files') return;
    const idle = await idleNodeRss();
    console.log(`snapshot store benchmark (scale ${scale}; idle node RSS ${mib(idle)} MiB; contract: track/restore peak <= idle + 64 MiB)\n`);

    // (a) no-change track of a 20,000-file workspace
    const many = join(root, 'many');
    const manyPlain = join(root, 'many-plain');
    for (const d of [many, manyPlain]) {
      for (let i = 0; i < 20_000; i++) {
        const sub = join(d, `dir${i % 200}`);
        if (i < 200) mkdirSync(sub, { recursive: true });
        writeFileSync(join(sub, `file${i}.txt`), `file ${i}\n`.repeat(1 + (i % 20)));
      }
    }
    git(manyPlain, 'init', '-q');
    check(await track(many, env), 'first track');
    check(await rawGit(manyPlain), 'first raw add');
    const a = { ours: [] as Measurement[], raw: [] as Measurement[] };
    for (let k = 0; k < 5; k++) {
      a.ours.push(check(await track(many, env), 'no-change track'));
      a.raw.push(check(await rawGit(manyPlain), 'no-change raw add'));
    }
    const rows: string[][] = [['case', 'snapline ms', 'raw git ms', 'ratio', 'snapline peak MiB', 'raw git peak MiB']];
    const ms = (xs: Measurement[]) => median(xs.map((m) => m.wallMs));
    const peak = (xs: Measurement[]) => Math.max(...xs.map((m) => m.peakTreeRss));
    rows.push(['no-change track, 20,000 files', ms(a.ours).toFixed(0), ms(a.raw).toFixed(0), (ms(a.ours) / ms(a.raw)).toFixed(2), mib(peak(a.ours)), mib(peak(a.raw))]);

    // (b) + (c) the report's turn
    const sizes = [128 * 1048576, 96 * 1048576, 512 * 1024].map((s) => Math.max(4096, Math.round(s * scale)));
    const turnDir = join(root, 'turn');
    const turnPlain = join(root, 'turn-plain');
    const generate = async (turn: number) => {
      for (const d of [turnDir, turnPlain]) {
        mkdirSync(d, { recursive: true });
        for (const [i, size] of sizes.entries()) await textFile(join(d, `generated-${i}.txt`), size, turn);
      }
    };
    await generate(0);
    git(turnPlain, 'init', '-q');
    const tree0 = check(await track(turnDir, env), 'track turn 0').stdout.trim();
    const rawTree0 = check(await rawGit(turnPlain), 'raw turn 0').stdout.trim();
    const storeBefore = duBytes(join(root, 'home', 'snapshot'));
    const growth: string[][] = [['turn', 'store MiB', 'growth MiB', 'raw .git MiB']];
    growth.push(['0', mib(storeBefore), '', mib(duBytes(join(turnPlain, '.git')))]);
    const b = { ours: [] as Measurement[], raw: [] as Measurement[] };
    for (let turn = 1; turn <= 3; turn++) {
      await generate(turn);
      const before = duBytes(join(root, 'home', 'snapshot'));
      b.ours.push(check(await track(turnDir, env), `track turn ${turn}`));
      b.raw.push(check(await rawGit(turnPlain), `raw turn ${turn}`));
      const after = duBytes(join(root, 'home', 'snapshot'));
      growth.push([String(turn), mib(after), mib(after - before), mib(duBytes(join(turnPlain, '.git')))]);
    }
    const restoreTurn = check(await measure(SNAPLINE, ['snapshot', 'restore', tree0, '--dir', turnDir], { env }), 'restore turn 0');
    const rawCheckout = check(await measure('git', ['restore', `--source=${rawTree0}`, '--worktree', '--', '.'], { cwd: turnPlain }), 'raw checkout');
    const label = `report's turn (${sizes.map((s) => mib(s)).join(' + ')} MiB)`;
    rows.push([label, ms(b.ours).toFixed(0), ms(b.raw).toFixed(0), (ms(b.ours) / ms(b.raw)).toFixed(2), mib(peak(b.ours)), mib(peak(b.raw))]);
    rows.push([`restore turn 0 (vs git restore -s TREE -W .)`, restoreTurn.wallMs.toFixed(0), rawCheckout.wallMs.toFixed(0), (restoreTurn.wallMs / rawCheckout.wallMs).toFixed(2), mib(restoreTurn.peakTreeRss), mib(rawCheckout.peakTreeRss)]);
    printTable(rows);
    console.log(`\nsnapline peak over idle node: track ${mib(peak(b.ours) - idle)} MiB (report's turn), ${mib(peak(a.ours) - idle)} MiB (20,000 files); restore ${mib(restoreTurn.peakTreeRss - idle)} MiB\n`);
    printTable(growth);

    // (d) zlib level for big blobs (streamed into packs because core.bigFileThreshold=1m)
    console.log('');
    const levels: string[][] = [['core.compression', 'git add ms', 'stored MiB per turn']];
    for (const level of ['0', '1', '-1 (git default, zlib 6)']) {
      const dir = join(root, `level-${level.split(' ')[0]}`);
      mkdirSync(dir);
      for (const [i, size] of sizes.entries()) await textFile(join(dir, `generated-${i}.txt`), size, 7);
      git(dir, 'init', '-q');
      const before = duBytes(join(dir, '.git'));
      const m = check(await rawGit(dir, [`core.compression=${level.split(' ')[0]}`, 'core.bigFileThreshold=1m']), `level ${level}`);
      levels.push([level, m.wallMs.toFixed(0), mib(duBytes(join(dir, '.git')) - before)]);
      rmSync(dir, { recursive: true, force: true });
    }
    printTable(levels);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
