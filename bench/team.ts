/**
 * Team benchmarks: what sharing sessions between machines costs.
 * PostgreSQL: one database for everyone ($SNAPLINE_TEST_PG, else a throwaway cluster).
 * 1. 8 writers (each its own workspace and data dir, like 8 machines) record 50 turns each at
 *    once; then every row is counted — nothing lost, nothing doubled, turns in order — beside
 *    git committing the same changes in 8 repositories at once.
 * 2. `session list` over 10,000 sessions (CLI process, and the library call alone), PostgreSQL
 *    and SQLite, beside `git log` over 10,000 commits.
 * 3. Snapshots through a git remote: see snapshotRemoteBench.
 * SNAPLINE_BENCH_TEAM=listing (or writers, remote; comma-separated) runs only those parts.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listSessions, newId, openDatabase, type Database } from '../src/index.js';
import { idleNodeRss, measureProcess, mib, type ProcessMeasurement } from '../src/procmem.js';
import { freshDatabase } from '../test/helpers/postgres.js';
import { printTable } from './measure.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CLI = join(HERE, '..', 'src', 'cli', 'main.js');
const WRITER = join(HERE, 'team-writer.js');
const TURN_SCRIPT = join(HERE, '..', 'src', 'cli', 'demo-turn.js');
const WRITERS = 8;
const TURNS = Number(process.env.SNAPLINE_BENCH_TURNS ?? '50');
const SESSIONS = 10_000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function exited(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { ...opts, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (s) => (s === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${s}: ${err}`))));
  });
}

function repo(root: string, name: string): string {
  const dir = join(root, name);
  execFileSync('git', ['init', '-q', dir]);
  writeFileSync(join(dir, 'a.txt'), 'a\n');
  return dir;
}

async function writers(root: string, url: string): Promise<string[][]> {
  const dirs = Array.from({ length: WRITERS }, (_, i) => repo(root, `w${i}`));
  const t0 = performance.now();
  await Promise.all(
    dirs.map((dir, i) => exited(process.execPath, [WRITER, dir, `w${i}`, String(TURNS)], { env: { ...process.env, SNAPLINE_HOME: join(root, `home${i}`), SNAPLINE_DATABASE_URL: url } })),
  );
  const ours = performance.now() - t0;

  // Every row accounted for.
  const db = openDatabase(url);
  try {
    const one = (sql: string) => db.prepare(sql).pluck().get() as number;
    const sessions = one('SELECT count(*) FROM session');
    const users = one("SELECT count(*) FROM message WHERE data->>'role' = 'user'");
    const assistants = one("SELECT count(*) FROM message WHERE data->>'role' = 'assistant'");
    const parts = one('SELECT count(*) FROM part');
    const distinct = one('SELECT count(DISTINCT id) FROM (SELECT id FROM message UNION ALL SELECT id FROM part) x') === users + assistants + parts;
    let ordered = true;
    for (const sid of db.prepare('SELECT id FROM session').pluck().all() as string[]) {
      const texts = db.prepare(`SELECT p.data->>'text' FROM message m JOIN part p ON p.message_id = m.id WHERE m.session_id = ? AND m.data->>'role' = 'user' ORDER BY m.id`).pluck().all(sid) as string[];
      const name = texts[0]?.split(' ')[0];
      ordered &&= texts.length === TURNS && texts.every((t, k) => t === `${name} turn ${k + 1}`);
    }
    const ok = sessions === WRITERS && users === WRITERS * TURNS && assistants === WRITERS * TURNS && parts === WRITERS * TURNS * 5 && distinct && ordered;
    console.log(`rows: ${sessions} sessions, ${users} user + ${assistants} assistant messages, ${parts} parts (want ${WRITERS}, ${WRITERS * TURNS}, ${WRITERS * TURNS}, ${WRITERS * TURNS * 5}); ids unique: ${distinct}; turns in order: ${ordered} → ${ok ? 'OK' : 'LOST OR DUPLICATED ROWS'}`);
    if (!ok) process.exitCode = 1;
  } finally {
    db.close();
  }

  // git doing the same work: the same 50 changes committed in 8 repositories at once.
  const gitDirs = Array.from({ length: WRITERS }, (_, i) => repo(root, `g${i}`));
  const script = (i: number) => `for t in $(seq 1 ${TURNS}); do echo g${i}-$t >> a.txt; git add -A && git -c user.name=b -c user.email=b@b commit -qm "turn $t"; done`;
  const g0 = performance.now();
  await Promise.all(gitDirs.map((dir, i) => exited('bash', ['-c', script(i)], { cwd: dir })));
  const git = performance.now() - g0;
  return [
    [`${WRITERS} writers × ${TURNS} turns, snapline → PostgreSQL`, (ours / 1000).toFixed(1), ((WRITERS * TURNS) / (ours / 1000)).toFixed(1)],
    [`${WRITERS} repos × ${TURNS} commits, git add + commit`, (git / 1000).toFixed(1), ((WRITERS * TURNS) / (git / 1000)).toFixed(1)],
  ];
}

function fillSessions(db: Database, dir: string): void {
  const now = Date.now();
  db.transaction(() => {
    db.prepare("INSERT INTO project (id, worktree, vcs, time_created, time_updated) VALUES ('global', '/', NULL, ?, ?)").run(now, now);
    const put = db.prepare("INSERT INTO session (id, project_id, slug, directory, title, version, time_created, time_updated) VALUES (?, 'global', '', ?, ?, '0.1.0', ?, ?)");
    for (let i = 0; i < SESSIONS; i++) put.run(newId('session'), dir, `session ${i}`, now, now);
  });
  // Table statistics, as autovacuum keeps them in any database that grew to 10,000 sessions
  // (without them PostgreSQL's planner guesses a small table and sorts instead of reading the id index).
  db.exec('ANALYZE');
}

function timeList(env: NodeJS.ProcessEnv, location: string, cwd: string): [number, number, number, number] {
  const cli: number[] = [];
  const page: number[] = [];
  const lib: number[] = [];
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [CLI, 'session', 'list', '--limit', String(SESSIONS)], { env, cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
    cli.push(performance.now() - t0);
    if (r.status !== 0 || r.stdout.trim().split('\n').length !== SESSIONS) throw new Error(`session list: ${r.stderr}`);
    const t2 = performance.now();
    const p = spawnSync(process.execPath, [CLI, 'session', 'list'], { env, cwd, encoding: 'utf8' });
    page.push(performance.now() - t2);
    if (p.status !== 0) throw new Error(`session list: ${p.stderr}`);
    const db = openDatabase(location);
    const t1 = performance.now();
    const n = listSessions(db).length;
    lib.push(performance.now() - t1);
    db.close();
    if (n !== SESSIONS) throw new Error(`listSessions gave ${n}`);
  }
  const idle: number[] = [];
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now();
    spawnSync(process.execPath, ['-e', '']);
    idle.push(performance.now() - t0);
  }
  return [median(cli), median(page), median(lib), median(idle)];
}

async function listing(root: string, url: string): Promise<string[][]> {
  const dir = repo(root, 'listed');
  const pg = openDatabase(url);
  fillSessions(pg, dir);
  pg.close();
  const sqlitePath = join(root, 'listed.db');
  const lite = openDatabase(sqlitePath);
  fillSessions(lite, dir);
  lite.close();
  const [pgCli, pgPage, pgLib, idle] = timeList({ ...process.env, SNAPLINE_HOME: join(root, 'h-pg'), SNAPLINE_DATABASE_URL: url }, url, dir);
  // SQLite: the default location inside SNAPLINE_HOME.
  const home = join(root, 'h-lite');
  execFileSync('mkdir', ['-p', home]);
  execFileSync('cp', [sqlitePath, join(home, 'snapline.db')]);
  const env = { ...process.env, SNAPLINE_HOME: home, SNAPLINE_DATABASE_URL: '' };
  const [liteCli, litePage, liteLib] = timeList(env, join(home, 'snapline.db'), dir);

  // git: `log` over as many commits (made by fast-import).
  const g = repo(root, 'log');
  const stream = Array.from({ length: SESSIONS }, (_, i) => `commit refs/heads/main\ncommitter b <b@b> ${1700000000 + i} +0000\ndata 10\nsession ${String(i).padStart(2, '0').slice(-2)}\n`).join('');
  execFileSync('git', ['fast-import', '--quiet'], { cwd: g, input: stream });
  const gitMs: number[] = [];
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now();
    execFileSync('git', ['log', '--oneline', 'main'], { cwd: g, maxBuffer: 1 << 28 });
    gitMs.push(performance.now() - t0);
  }
  return [
    [`PostgreSQL: session list (first page of 100; CLI process)`, pgPage.toFixed(0)],
    [`PostgreSQL: session list --limit ${SESSIONS} (CLI process)`, pgCli.toFixed(0)],
    [`PostgreSQL: listSessions(), all ${SESSIONS}, in process`, pgLib.toFixed(0)],
    [`SQLite: session list (first page of 100; CLI process)`, litePage.toFixed(0)],
    [`SQLite: session list --limit ${SESSIONS} (CLI process)`, liteCli.toFixed(0)],
    [`SQLite: listSessions(), all ${SESSIONS}, in process`, liteLib.toFixed(0)],
    [`node -e '' (process start, for scale)`, idle.toFixed(0)],
    [`git log --oneline, ${SESSIONS} commits`, median(gitMs).toFixed(0)],
  ];
}

/** The parts to run: all, or those named in SNAPLINE_BENCH_TEAM (comma-separated: writers, listing, remote). */
function parts(): Set<string> {
  const all = ['writers', 'listing', 'remote'];
  const named = (process.env.SNAPLINE_BENCH_TEAM ?? '').split(',').filter(Boolean);
  for (const n of named) if (!all.includes(n)) throw new Error(`SNAPLINE_BENCH_TEAM: unknown part '${n}' (have: ${all.join(', ')})`);
  return new Set(named.length ? named : all);
}

export async function run(): Promise<void> {
  const want = parts();
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'snapline-bench-team-')));
  try {
    console.log(`\nteam (load average ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);
    if (want.has('writers')) printTable([['writers', 'wall s', 'turns/s'], ...(await writers(root, freshDatabase()))]);
    if (want.has('listing')) {
      console.log('');
      printTable([['listing (median of 3)', 'ms'], ...(await listing(root, freshDatabase()))]);
    }
    if (want.has('remote')) await snapshotRemoteBench();
    console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    try {
      rmSync(root, { recursive: true, force: true });
    } catch {
      // Writers still running after another failed may be writing into it: leave it then.
    }
  }
}

/**
 * Snapshots through a git remote, on the report's workload (one turn writing 128 MiB + 96 MiB +
 * 512 KiB of new content; SNAPLINE_BENCH_SCALE scales it): the push a turn makes
 * (`snapline sync --push`, the very process a turn starts) beside `git push` of a commit of the
 * same files, and a second machine's first `session diff --patch` (which fetches the session's
 * snapshots on demand) beside `git fetch` of that commit. Each to a local bare repository;
 * medians of 3 fresh runs; process trees measured (git children included).
 */
export async function snapshotRemoteBench(): Promise<void> {
  const scale = Number(process.env.SNAPLINE_BENCH_SCALE ?? '1') || 1;
  const sizes = [Math.round(128 * 1048576 * scale), Math.round(96 * 1048576 * scale), Math.round(512 * 1024 * scale)];
  const idle = await idleNodeRss();
  const samples = new Map<string, ProcessMeasurement[]>();
  const add = (name: string, m: ProcessMeasurement) => {
    if (m.status !== 0) throw new Error(`${name} failed (${m.status}): ${m.stderr}`);
    samples.set(name, [...(samples.get(name) ?? []), m]);
  };
  const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@example.com', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@example.com' } });
  for (let i = 0; i < 3; i++) {
    const root = realpathSync(mkdtempSync(join(tmpdir(), 'snapline-bench-team-')));
    try {
      const a = join(root, 'a', 'proj');
      mkdirSync(a, { recursive: true });
      git(a, 'init', '-q');
      writeFileSync(join(a, 'README'), 'bench\n');
      git(a, 'add', '.');
      git(a, 'commit', '-qm', 'init');
      for (const bare of ['snaps.git', 'plain.git', 'fetched.git']) git(root, 'init', '-q', '--bare', bare);
      const database = join(root, 'sessions.db');
      const machine = (name: string, remote?: string) => ({
        ...process.env,
        SNAPLINE_HOME: join(root, `home-${name}`),
        SNAPLINE_DB: database,
        SNAPLINE_CONFIG_CONTENT: JSON.stringify({ snapshot: remote ? { remote } : {} }),
      });
      const snaps = join(root, 'snaps.git');
      // The turn is recorded without a remote, so its push can be measured on its own.
      const turn = await measureProcess(process.execPath, [CLI, 'run', 'turn 1', '--format', 'json', '--exec', `node '${TURN_SCRIPT}' 1 ${sizes.join(' ')}`], { cwd: a, env: machine('a') });
      if (turn.status !== 0) throw new Error(turn.stderr);
      const sid = (JSON.parse(turn.stdout.split('\n')[0]!) as { sessionID: string }).sessionID;
      add('snapline: a turn\'s push (sync --push)', await measureProcess(process.execPath, [CLI, 'sync', '--push'], { cwd: a, env: machine('a', snaps) }));
      git(a, 'add', '-A');
      git(a, 'commit', '-qm', 'turn 1');
      add('git push of a commit of the same files', await measureProcess('git', ['push', '-q', join(root, 'plain.git'), 'HEAD:refs/heads/turn'], { cwd: a }));

      // Machine B: its own data dir and clone; A's disk out of sight.
      const b = join(root, 'b', 'proj');
      git(root, 'clone', '-q', a, b);
      renameSync(a, `${a}.away`);
      add('snapline: B\'s first diff --patch (fetches), 1 MiB page', await measureProcess(process.execPath, [CLI, 'session', 'diff', sid, '--patch', '--max-bytes', '1048576'], { cwd: b, env: machine('b', snaps) }));
      add('git fetch of that commit', await measureProcess('git', ['fetch', '-q', join(root, 'plain.git'), 'refs/heads/turn'], { cwd: join(root, 'fetched.git') }));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
  const rows: string[][] = [['step (median of 3)', 'wall s', 'peak MiB', 'over idle MiB']];
  for (const [name, ms] of samples) {
    const peak = median(ms.map((m) => m.peakTreeRss));
    rows.push([name, (median(ms.map((m) => m.wallMs)) / 1000).toFixed(2), mib(peak), name.startsWith('git') ? '' : mib(peak - idle)]);
  }
  console.log(`\nsnapshots through a git remote — one turn of the report's workload, ${mib(sizes[0]! + sizes[1]! + sizes[2]!)} MiB of new objects (idle node ${mib(idle)} MiB; contract: idle + 64 MiB)`);
  printTable(rows);
  // Where the peak is: each process's own peak (sending and receiving git side by side).
  const byProcess: string[][] = [['process peaks (median of 3)', 'MiB each']];
  for (const [name, ms] of samples) {
    const labels = [...new Set(ms.flatMap((m) => [...m.peakByProcess.keys()]))].sort();
    byProcess.push([name, labels.map((l) => `${l} ${mib(median(ms.map((m) => m.peakByProcess.get(l) ?? 0)))}`).join(', ')]);
  }
  console.log('');
  printTable(byProcess);
}
