/**
 * Reliability checks shared by test/reliability*.test.ts (light settings) and
 * scripts/torture.ts (full strength): kills, concurrency, hostile input, disk bounds.
 * Everything runs the built CLI as real child processes on real git repositories and a real
 * SQLite file; nothing is mocked. Each scenario returns figures plus a list of failures.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import { CLI, rng, tempRepo } from './helpers/repo.js';

/** Result of one CLI call. */
export interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A workspace (real git repository) and a private data directory, plus CLI runners. */
export interface Fixture {
  dir: string;
  home: string;
  env: NodeJS.ProcessEnv;
  /** Runs the CLI to completion. */
  cli: (args: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv }) => Promise<Run>;
  /** Starts the CLI in its own process group; `done` settles when it exits. */
  start: (args: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv }) => { pid: number; done: Promise<Run>; stderr: () => string };
  /** Runs the CLI and throws unless it exits 0; returns stdout. */
  ok: (args: string[]) => Promise<string>;
  git: (...args: string[]) => string;
  cleanup: () => void;
}

export interface FixtureOptions {
  /** snapline configuration (JSON) for every child, through SNAPLINE_CONFIG_CONTENT. */
  config?: unknown;
  home?: string;
}

export function fixture(opts: FixtureOptions = {}): Fixture {
  const repo = tempRepo('snapline-rel-');
  const home = opts.home ?? mkdtempSync(join(tmpdir(), 'snapline-rel-home-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SNAPLINE_HOME: home,
    SNAPLINE_CONFIG_CONTENT: opts.config === undefined ? '' : JSON.stringify(opts.config),
    XDG_CONFIG_HOME: join(home, 'config'),
  };
  const dir = realpathSync(repo.dir);
  const start = (args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [CLI, ...args], { cwd: o.cwd ?? dir, env: o.env ?? env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const done = new Promise<Run>((resolve) => {
      child.on('close', (status, signal) => resolve({ status, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms: Date.now() - t0 }));
    });
    return { pid: child.pid!, done, stderr: () => Buffer.concat(err).toString('utf8') };
  };
  const cli = (args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) => start(args, o).done;
  const ok = async (args: string[]) => {
    const r = await cli(args);
    if (r.status !== 0) throw new Error(`snapline ${args.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr.trim()}`);
    return r.stdout;
  };
  return {
    dir,
    home,
    env,
    cli,
    start,
    ok,
    git: repo.git,
    cleanup: () => {
      repo.cleanup();
      if (!opts.home) rmSync(home, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Observations shared by every scenario
// ---------------------------------------------------------------------------------------------

/** git's blob id of a file's content (what a snapshot tree would hold for it). */
export function blobId(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

/** Every file and symlink of a workspace (outside `.git`) → its blob id (`link:` target for symlinks). */
export function workspaceState(root: string, skip: (rel: string) => boolean = () => false): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (rel: string) => {
    for (const name of readdirSync(join(root, rel))) {
      if (name === '.git') continue;
      const r = rel ? `${rel}/${name}` : name;
      if (skip(r)) continue;
      let st;
      try {
        st = lstatSync(join(root, r));
      } catch {
        continue; // vanished while we looked
      }
      if (st.isDirectory()) visit(r);
      else if (st.isSymbolicLink()) out.set(r, 'link:' + readlinkSync(join(root, r)));
      else if (st.isFile()) {
        try {
          out.set(r, blobId(readFileSync(join(root, r))));
        } catch {
          /* vanished */
        }
      }
    }
  };
  visit('');
  return out;
}

/** Paths whose current state is neither `before` nor `after` (undefined = absent). */
export function neitherBeforeNorAfter(now: Map<string, string>, before: Map<string, string>, after: Map<string, string>): string[] {
  const bad: string[] = [];
  for (const p of new Set([...now.keys(), ...before.keys(), ...after.keys()])) {
    const v = now.get(p);
    if (v !== before.get(p) && v !== after.get(p)) bad.push(p);
  }
  return bad.sort();
}

/** The shadow store directories under a data directory. */
export function storeDirs(home: string): string[] {
  const root = join(home, 'snapshot');
  const out: string[] = [];
  for (const project of existsSync(root) ? readdirSync(root) : []) {
    for (const d of readdirSync(join(root, project))) if (/^[0-9a-f]{40}$/.test(d)) out.push(join(root, project, d));
  }
  return out;
}

/** The shadow store of one workspace (its `snapline-worktree` file names it). */
export function storeOf(home: string, workspace: string): string {
  const s = storeDirs(home).find((d) => existsSync(join(d, 'snapline-worktree')) && readFileSync(join(d, 'snapline-worktree'), 'utf8').trim() === workspace);
  if (!s) throw new Error(`no store for ${workspace}`);
  return s;
}

/**
 * Temporary files and locks left anywhere snapline writes: `*.lock`, `tmp_*`, `gc.pid` inside
 * stores, half-built stores (`<store>.tmp-*`), turn locks, and restore temporaries
 * (`*.snapline-tmp`) in the workspace.
 */
export function leftovers(home: string, workspace?: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, match: (name: string) => boolean, skipDir: (name: string) => boolean = () => false) => {
    for (const e of existsSync(dir) ? readdirSync(dir, { withFileTypes: true }) : []) {
      const p = join(dir, e.name);
      if (match(e.name)) found.push(p);
      else if (e.isDirectory() && !skipDir(e.name)) walk(p, match, skipDir);
    }
  };
  walk(join(home, 'snapshot'), (n) => n.endsWith('.lock') || n === 'packed-refs.new' || n.startsWith('tmp_') || n === 'gc.pid' || n === 'restore-journal' || n.endsWith('.snapline-tmp') || /\.tmp-\d+-\d+$/.test(n));
  walk(join(home, 'locks'), (n) => n.endsWith('.lock'));
  if (workspace) walk(workspace, (n) => n.endsWith('.snapline-tmp'), (n) => n === '.git');
  return found.sort();
}

/** `PRAGMA integrity_check` of the session database ('ok' when healthy or absent). */
export function integrity(home: string): string {
  const path = join(home, 'snapline.db');
  if (!existsSync(path)) return 'ok';
  const db = new Sqlite(path, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 10000');
    const rows = db.pragma('integrity_check') as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).join('; ');
  } finally {
    db.close();
  }
}

/** How each turn of the database is recorded. */
export interface TurnAudit {
  complete: number;
  /** Marked interrupted (finish "error", error.name "interrupted"), with the parts it captured. */
  interrupted: number;
  /** Not complete and not marked, while no live process runs it: a half-recorded turn. */
  half: string[];
  /** Not complete, and its session's process is still alive or was never recovered. */
  pending: string[];
}

interface MessageRow {
  id: string;
  session_id: string;
  data: string;
}

/**
 * Classifies every turn: complete (assistant completed with finish "stop", user summary, a
 * step-start and a step-finish part), marked interrupted, or half-recorded. A turn whose session
 * still carries the busy mark of a dead process counts as pending (the next writer marks it) when
 * `allowPending`, else as half-recorded.
 */
export function auditTurns(home: string, allowPending: boolean): TurnAudit {
  const audit: TurnAudit = { complete: 0, interrupted: 0, half: [], pending: [] };
  const path = join(home, 'snapline.db');
  if (!existsSync(path)) return audit;
  const db = new Sqlite(path, { fileMustExist: true, readonly: true });
  try {
    db.pragma('busy_timeout = 10000');
    const busy = new Set((db.prepare('SELECT id FROM session WHERE busy_pid IS NOT NULL').all() as { id: string }[]).map((r) => r.id));
    const messages = db.prepare('SELECT id, session_id, data FROM message ORDER BY id').all() as MessageRow[];
    const partTypes = db.prepare("SELECT json_extract(data, '$.type') AS t FROM part WHERE message_id = ?");
    const users = new Map<string, { summary: boolean }>();
    for (const m of messages) {
      const d = JSON.parse(m.data) as { role: string; summary?: unknown; parentID?: string; finish?: string; error?: { name: string }; time: { completed?: number } };
      if (d.role === 'user') {
        users.set(m.id, { summary: d.summary !== undefined });
        continue;
      }
      const user = users.get(d.parentID ?? '');
      const types = new Set((partTypes.all(m.id) as { t: string }[]).map((r) => r.t));
      const label = `${m.session_id}/${d.parentID}`;
      if (d.finish === 'stop' && d.time.completed && user?.summary && types.has('step-start') && types.has('step-finish')) audit.complete++;
      else if (d.finish === 'error' && d.error?.name === 'interrupted' && d.time.completed) audit.interrupted++;
      else if (d.finish === 'error' && d.time.completed) audit.complete++; // snapline itself failed and said so
      else if (allowPending && busy.has(m.session_id)) audit.pending.push(label);
      else audit.half.push(label);
    }
  } finally {
    db.close();
  }
  return audit;
}

/** Processes other than us whose working directory is `dir` or whose arguments name `dir`. */
export function processesUsing(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cwd = readlinkSync(`/proc/${name}/cwd`);
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (cwd === dir || args.some((a) => a === dir || a.startsWith(dir + '/'))) out.push(Number(name));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return out;
}

/** Waits until no process works in `dirs` (orphans of a killed run), up to `ms`. */
export async function waitQuiet(dirs: string[], ms = 20_000): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (dirs.every((d) => processesUsing(d).length === 0)) return true;
    if (Date.now() > until) return false;
    await sleep(25);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The session id from `run --format json` output. */
export function sessionOf(jsonLines: string): string {
  for (const line of jsonLines.split('\n')) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as { sessionID?: string };
    if (e.sessionID) return e.sessionID;
  }
  throw new Error('no sessionID in output: ' + jsonLines);
}

/** Bytes used by a directory tree (allocated blocks). */
export function diskBytes(dir: string): number {
  let sum = 0;
  for (const e of existsSync(dir) ? readdirSync(dir, { withFileTypes: true }) : []) {
    const p = join(dir, e.name);
    if (e.isDirectory()) sum += diskBytes(p);
    else {
      try {
        const st = statSync(p);
        sum += st.blocks * 512 || st.size;
      } catch {
        /* vanished */
      }
    }
  }
  return sum;
}

// ---------------------------------------------------------------------------------------------
// 1. Kill safety
// ---------------------------------------------------------------------------------------------

export type KillTarget = 'run' | 'track' | 'revert' | 'gc';

export interface KillOptions {
  seed: number;
  /** Kills that must land (the process was still running when SIGKILL arrived). */
  kills: number;
  /** Files in the workspace, and how many a turn rewrites. */
  files: number;
  touched: number;
  fileBytes: number;
  log?: (line: string) => void;
}

export interface KillReport {
  attempted: number;
  /** Kills after which every check passed. */
  survived: number;
  /** SIGKILLs sent to a process that had already finished (not counted as kills). */
  missed: number;
  byTarget: Record<KillTarget, { attempted: number; survived: number }>;
  nextCommands: number;
  turns: { complete: number; interrupted: number };
  filesLost: number;
  leftoversAfterGc: number;
  failures: string[];
}

/** Content a turn writes into file `i`: deterministic, so the harness knows the "after" state. */
function turnContent(turn: number, i: number, bytes: number): Buffer {
  const line = Buffer.from(`turn ${turn} file ${i}\n`);
  const out = Buffer.alloc(bytes);
  for (let o = 0; o < bytes; o += line.length) line.copy(out, o);
  return out;
}

const NAME = (i: number) => `src/f${String(i).padStart(4, '0')}.txt`;

/** The bash command of turn `turn`: rewrites `which` files atomically (tmp + mv), deletes one, creates one. */
function turnCommand(turn: number, which: number[], bytes: number, files: number): { cmd: string; apply: (s: Map<string, string>) => Map<string, string> } {
  const parts: string[] = [];
  const after = (s: Map<string, string>) => {
    const m = new Map(s);
    for (const i of which) m.set(NAME(i), blobId(turnContent(turn, i, bytes)));
    m.delete(`extra/t${turn - 1}.txt`);
    m.set(`extra/t${turn}.txt`, blobId(turnContent(turn, files, 64)));
    return m;
  };
  for (const i of which) parts.push(`yes 'turn ${turn} file ${i}' | head -c ${bytes} > ${NAME(i)}.new && mv -f ${NAME(i)}.new ${NAME(i)}`);
  parts.push(`rm -f extra/t${turn - 1}.txt`, `mkdir -p extra`, `yes 'turn ${turn} file ${files}' | head -c 64 > extra/t${turn}.new && mv -f extra/t${turn}.new extra/t${turn}.txt`);
  return { cmd: parts.join(' && '), apply: after };
}

/** Paths the killed command's own tmp files may leave (they belong to the command, not snapline). */
const commandTmp = (rel: string) => rel.endsWith('.new');

interface TurnRow {
  user: string;
  start?: string;
  end?: string;
}

function turnsOf(home: string, sid: string): TurnRow[] {
  const db = new Sqlite(join(home, 'snapline.db'), { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 10000');
    const msgs = db.prepare("SELECT id, json_extract(data, '$.role') AS role, json_extract(data, '$.parentID') AS parent FROM message WHERE session_id = ? ORDER BY id").all(sid) as { id: string; role: string; parent: string }[];
    const turns = new Map<string, TurnRow>();
    const owner = new Map<string, TurnRow>();
    for (const m of msgs) {
      if (m.role === 'user') turns.set(m.id, { user: m.id });
      else if (turns.has(m.parent)) owner.set(m.id, turns.get(m.parent)!);
    }
    const steps = db
      .prepare("SELECT message_id AS mid, json_extract(data, '$.type') AS type, json_extract(data, '$.snapshot') AS snap FROM part WHERE session_id = ? AND json_extract(data, '$.type') IN ('step-start','step-finish') ORDER BY id")
      .all(sid) as { mid: string; type: string; snap: string }[];
    for (const s of steps) {
      const t = owner.get(s.mid);
      if (!t) continue;
      if (s.type === 'step-start' && !t.start) t.start = s.snap;
      if (s.type === 'step-finish') t.end = s.snap;
    }
    return [...turns.values()];
  } finally {
    db.close();
  }
}

function sessionReverted(home: string, sid: string): boolean {
  const db = new Sqlite(join(home, 'snapline.db'), { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 10000');
    return (db.prepare('SELECT revert FROM session WHERE id = ?').get(sid) as { revert: string | null }).revert !== null;
  } finally {
    db.close();
  }
}

/** git in a shadow store, output as text. */
function storeGit(store: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['--git-dir', store, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out).toString('utf8')) : reject(new Error(`git ${args.join(' ')} exited ${code}`))));
  });
}

/** The workspace state a completed revert to turn `at` would leave (computed from the store). */
async function revertTarget(store: string, turns: TurnRow[], at: number, now: Map<string, string>): Promise<Map<string, string>> {
  const paths = new Set<string>();
  for (const t of turns.slice(at)) {
    if (!t.start || !t.end || t.start === t.end) continue;
    for (const p of (await storeGit(store, ['diff-tree', '-r', '-z', '--name-only', '--no-renames', t.start, t.end])).split('\0')) if (p) paths.add(p);
  }
  const target = new Map<string, string>();
  for (const rec of (await storeGit(store, ['ls-tree', '-r', '-z', turns[at]!.start!])).split('\0')) {
    if (!rec) continue;
    const [meta, path] = rec.split('\t') as [string, string];
    const [mode, , oid] = meta.split(' ');
    target.set(path, mode === '120000' ? `link:${oid}` : oid!);
  }
  const after = new Map(now);
  for (const p of paths) {
    const v = target.get(p);
    if (v === undefined) after.delete(p);
    else after.set(p, v);
  }
  return after;
}

/**
 * Kills `snapline run`, `snapshot track`, `session revert` and `snapshot gc` with SIGKILL at
 * staggered moments (fixed seed): half the time only snapline's own process (its git children
 * and the command live on as orphans), half the time its whole process group. After each kill,
 * the next command (of every kind, in turn) must succeed with no cleanup; then the database must
 * pass integrity_check, no turn may be half-recorded, every workspace file must be in its state
 * before or after the killed command, and after gc no temporary file or lock may remain.
 */
export async function killScenario(o: KillOptions): Promise<KillReport> {
  const random = rng(o.seed);
  const f = fixture({ config: { snapshot: { lockTimeoutMs: 60_000 } } });
  const log = o.log ?? (() => undefined);
  const report: KillReport = {
    attempted: 0,
    survived: 0,
    missed: 0,
    byTarget: { run: { attempted: 0, survived: 0 }, track: { attempted: 0, survived: 0 }, revert: { attempted: 0, survived: 0 }, gc: { attempted: 0, survived: 0 } },
    nextCommands: 0,
    turns: { complete: 0, interrupted: 0 },
    filesLost: 0,
    leftoversAfterGc: 0,
    failures: [],
  };
  try {
    mkdirSync(join(f.dir, 'src'));
    for (let i = 0; i < o.files; i++) writeFileSync(join(f.dir, NAME(i)), turnContent(0, i, o.fileBytes));
    f.git('add', '-A');
    f.git('commit', '-qm', 'base');
    let turn = 1;
    const pick = () => {
      const set = new Set<number>();
      while (set.size < Math.min(o.touched, o.files)) set.add(Math.floor(random() * o.files));
      return [...set];
    };
    const runArgs = (cmd: string, sid?: string) => ['run', `turn ${turn}`, '--dir', f.dir, '--format', 'json', ...(sid ? ['--session', sid] : []), '--exec', cmd];
    // A session with a few turns, and how long each command takes unkilled (to spread the kills).
    const durations: Record<KillTarget, number> = { run: 0, track: 0, revert: 0, gc: 0 };
    let t0 = Date.now();
    const sid = sessionOf(await f.ok(runArgs(turnCommand(turn++, pick(), o.fileBytes, o.files).cmd)));
    durations.run = Date.now() - t0;
    await f.ok(runArgs(turnCommand(turn++, pick(), o.fileBytes, o.files).cmd, sid));
    t0 = Date.now();
    await f.ok(['snapshot', 'track', '--dir', f.dir]);
    durations.track = Date.now() - t0;
    const firstTurns = turnsOf(f.home, sid);
    t0 = Date.now();
    await f.ok(['session', 'revert', sid, '--message', firstTurns[1]!.user]);
    durations.revert = Date.now() - t0;
    await f.ok(['session', 'unrevert', sid]);
    t0 = Date.now();
    await f.ok(['snapshot', 'gc', '--dir', f.dir]);
    durations.gc = Date.now() - t0;
    const store = storeOf(f.home, f.dir);
    log(`unkilled durations (ms): ${JSON.stringify(durations)}`);

    const targets: KillTarget[] = ['run', 'track', 'revert', 'gc'];
    const nextKinds = ['run', 'track', 'show', 'db', 'gc', 'revert', 'list', 'diff'] as const;
    const per = Math.ceil(o.kills / targets.length);
    let next = 0;
    for (let attempt = 0; report.attempted < o.kills && attempt < o.kills * 4; attempt++) {
      // The command with the fewest landed kills goes next (a kill after it finished does not count).
      const target = targets.reduce((best, t) => (report.byTarget[t].attempted < report.byTarget[best].attempted ? t : best), targets[attempt % targets.length]!);
      const k = report.byTarget[target].attempted;
      // Stratified over [0, 1.1 × the unkilled duration]: early, middle and late kills.
      const delay = Math.floor(((k % per) + random()) / per * durations[target] * 1.1);
      const group = attempt % 2 === 1;
      const before = workspaceState(f.dir, commandTmp);
      let after = before;
      let args: string[];
      if (target === 'run') {
        const t = turnCommand(turn++, pick(), o.fileBytes, o.files);
        after = t.apply(before);
        args = runArgs(t.cmd, sid);
      } else if (target === 'track') args = ['snapshot', 'track', '--dir', f.dir];
      else if (target === 'gc') args = ['snapshot', 'gc', '--dir', f.dir, ...(random() < 0.5 ? ['--prune-now'] : [])];
      else {
        const turns = turnsOf(f.home, sid).filter((t) => t.start);
        const at = Math.floor(random() * turns.length);
        after = await revertTarget(store, turns, at, before);
        args = ['session', 'revert', sid, '--message', turns[at]!.user];
      }
      const p = f.start(args);
      await sleep(delay);
      let landed = true;
      try {
        process.kill(group ? -p.pid : p.pid, 'SIGKILL');
      } catch {
        landed = false;
      }
      const r = await p.done;
      if (r.signal !== 'SIGKILL') landed = false;
      if (!landed) {
        report.missed++;
        // It finished sooner than measured: aim earlier next time.
        durations[target] = Math.max(20, Math.min(durations[target], r.ms) * 0.85);
        if (r.status !== 0) report.failures.push(`${target} (not killed) exited ${r.status}: ${r.stderr.trim()}`);
        await waitQuiet([f.dir, store]);
        if (target === 'revert' && sessionReverted(f.home, sid)) await f.ok(['session', 'unrevert', sid]);
        continue;
      }
      report.attempted++;
      report.byTarget[target].attempted++;
      const label = `kill #${report.attempted} (${target}, ${group ? 'group' : 'process'}, ${delay} ms)`;
      const failuresBefore = report.failures.length;
      // Each workspace file must be as before or as after the killed command.
      const bad = neitherBeforeNorAfter(workspaceState(f.dir, commandTmp), before, after);
      if (bad.length) {
        report.filesLost += bad.length;
        report.failures.push(`${label}: files neither before nor after: ${bad.slice(0, 5).join(', ')}`);
      }
      // The next command, of every kind in turn, right away: no waiting, no cleanup.
      const kind = nextKinds[next++ % nextKinds.length]!;
      let nextArgs: string[];
      if (kind === 'run') nextArgs = runArgs(turnCommand(turn++, pick(), o.fileBytes, o.files).cmd, sid);
      else if (kind === 'track') nextArgs = ['snapshot', 'track', '--dir', f.dir];
      else if (kind === 'show') nextArgs = ['session', 'show', sid];
      else if (kind === 'list') nextArgs = ['session', 'list'];
      else if (kind === 'diff') nextArgs = ['session', 'diff', sid];
      else if (kind === 'db') nextArgs = ['db', 'SELECT COUNT(*) AS n FROM part'];
      else if (kind === 'gc') nextArgs = ['snapshot', 'gc', '--dir', f.dir];
      else {
        const turns = turnsOf(f.home, sid).filter((t) => t.start);
        nextArgs = ['session', 'revert', sid, '--message', turns[Math.floor(random() * turns.length)]!.user];
      }
      const nr = await f.cli(nextArgs);
      report.nextCommands++;
      if (nr.status !== 0) report.failures.push(`${label}: next command '${nextArgs.slice(0, 2).join(' ')}' exited ${nr.status}: ${nr.stderr.trim()}`);
      if (!(await waitQuiet([f.dir, store]))) report.failures.push(`${label}: processes still working in the workspace after 20 s`);
      if (sessionReverted(f.home, sid)) {
        const u = await f.cli(['session', 'unrevert', sid]);
        if (u.status !== 0) report.failures.push(`${label}: unrevert exited ${u.status}: ${u.stderr.trim()}`);
      }
      const ic = integrity(f.home);
      if (ic !== 'ok') report.failures.push(`${label}: integrity_check: ${ic}`);
      const audit = auditTurns(f.home, kind === 'show' || kind === 'db' || kind === 'list' || kind === 'diff' || kind === 'track' || kind === 'gc');
      if (audit.half.length) report.failures.push(`${label}: half-recorded turns: ${audit.half.join(', ')}`);
      if (kind === 'gc') {
        const left = leftovers(f.home, f.dir);
        if (left.length) {
          report.leftoversAfterGc += left.length;
          report.failures.push(`${label}: left after gc: ${left.map((l) => l.slice(f.home.length)).join(', ')}`);
        }
      }
      if (report.failures.length === failuresBefore) {
        report.survived++;
        report.byTarget[target].survived++;
      }
      log(`${label}: next '${kind}' exit ${nr.status}${report.failures.length > failuresBefore ? ' FAILED' : ''}`);
    }
    // Finally: a writer, a gc with nothing running, and the strict checks.
    await f.ok(runArgs('true', sid));
    await f.ok(['snapshot', 'gc', '--dir', f.dir]);
    const left = leftovers(f.home, f.dir);
    if (left.length) {
      report.leftoversAfterGc += left.length;
      report.failures.push(`final gc left: ${left.join(', ')}`);
    }
    const audit = auditTurns(f.home, false);
    if (audit.half.length) report.failures.push(`final: half-recorded turns: ${audit.half.join(', ')}`);
    report.turns = { complete: audit.complete, interrupted: audit.interrupted };
    const doc = await f.cli(['snapshot', 'doctor', '--dir', f.dir]);
    if (doc.status !== 0) report.failures.push(`final: doctor says ${doc.stdout.trim()} ${doc.stderr.trim()}`);
  } finally {
    f.cleanup();
  }
  return report;
}

// ---------------------------------------------------------------------------------------------
// 2. Concurrency
// ---------------------------------------------------------------------------------------------

export interface ConcurrencyReport {
  /** `run`s started in all. */
  runs: number;
  /** Pairs on one workspace: the second waited (with a message) and started its snapshot after the first finished. */
  serialized: number;
  /** The second of a pair given a short lock timeout failed cleanly (one line, nothing recorded). */
  timedOutCleanly: number;
  /** Runs on different workspaces whose commands overlapped in time. */
  parallel: number;
  /** Slowest `session show` / `db` while a run held the workspace (and while a write transaction was open). */
  readerMaxMs: number;
  readers: number;
  failures: string[];
}

interface StepTimes {
  start: number;
  finish: number;
  toolStart: number;
  toolEnd: number;
}

/** When each turn's snapshots were recorded and its command ran, by user message order. */
function stepTimes(home: string): StepTimes[] {
  const db = new Sqlite(join(home, 'snapline.db'), { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 10000');
    const rows = db
      .prepare(
        `SELECT m.id AS mid, p.time_created AS t, json_extract(p.data, '$.type') AS type,
                json_extract(p.data, '$.state.time.start') AS ts, json_extract(p.data, '$.state.time.end') AS te
         FROM part p JOIN message m ON m.id = p.message_id WHERE json_extract(m.data, '$.role') = 'assistant' ORDER BY m.id, p.id`,
      )
      .all() as { mid: string; t: number; type: string; ts: number | null; te: number | null }[];
    const out = new Map<string, StepTimes>();
    for (const r of rows) {
      const s = out.get(r.mid) ?? { start: 0, finish: 0, toolStart: 0, toolEnd: 0 };
      if (r.type === 'step-start') s.start = r.t;
      if (r.type === 'step-finish') s.finish = r.t;
      if (r.type === 'tool') {
        s.toolStart = r.ts ?? 0;
        s.toolEnd = r.te ?? 0;
      }
      out.set(r.mid, s);
    }
    return [...out.values()];
  } finally {
    db.close();
  }
}

/** Message and part rows whose data mentions `text`. */
function mentions(home: string, text: string): number {
  const db = new Sqlite(join(home, 'snapline.db'), { readonly: true, fileMustExist: true });
  try {
    const q = "SELECT (SELECT COUNT(*) FROM message WHERE instr(data, @t) > 0) + (SELECT COUNT(*) FROM part WHERE instr(data, @t) > 0) AS n";
    return (db.prepare(q).get({ t: text }) as { n: number }).n;
  } finally {
    db.close();
  }
}

function rowCounts(home: string): string {
  const db = new Sqlite(join(home, 'snapline.db'), { readonly: true, fileMustExist: true });
  try {
    return JSON.stringify(db.prepare('SELECT (SELECT COUNT(*) FROM session) AS s, (SELECT COUNT(*) FROM message) AS m, (SELECT COUNT(*) FROM part) AS p').get());
  } finally {
    db.close();
  }
}

/**
 * `pairs` × two runs on one workspace at once (they must serialize on the workspace's lock, the
 * second saying it waits), one pair with a short lock timeout (the second must fail cleanly),
 * `pairs` × two runs on different workspaces (their commands must overlap), and readers
 * (`session show`, `db`) while a run holds the workspace and while another process holds a
 * write transaction open: each must answer within `readerBoundMs`.
 */
export async function concurrencyScenario(o: { pairs: number; readerBoundMs: number }): Promise<ConcurrencyReport> {
  const report: ConcurrencyReport = { runs: 0, serialized: 0, timedOutCleanly: 0, parallel: 0, readerMaxMs: 0, readers: 0, failures: [] };
  // A command that says it started, then holds until the test opens its gate (at most 60 s), so
  // the scenario does not depend on how fast processes start on a loaded machine.
  const gate = mkdtempSync(join(tmpdir(), 'snapline-gate-'));
  const gatedCmd = (name: string) => `touch '${gate}/${name}.started'; for i in $(seq 600); do [ -e '${gate}/${name}.open' ] && break; sleep 0.1; done; echo ${name} > ${name}.txt`;
  const until = async (cond: () => boolean) => {
    for (const t = Date.now(); !cond() && Date.now() - t < 60_000; ) await sleep(25);
  };
  const started = (name: string) => until(() => existsSync(join(gate, `${name}.started`)));
  const open = (name: string) => writeFileSync(join(gate, `${name}.open`), '');
  const a = fixture({ config: { snapshot: { lockTimeoutMs: 60_000 } } });
  const b = fixture({ home: a.home, config: { snapshot: { lockTimeoutMs: 60_000 } } });
  try {
    writeFileSync(join(a.dir, 'base.txt'), 'a\n');
    writeFileSync(join(b.dir, 'base.txt'), 'b\n');
    const sid = sessionOf(await a.ok(['run', 'setup', '--dir', a.dir, '--format', 'json', '--exec', 'true']));
    report.runs++;
    // Same workspace: serialize, the second one saying why it waits.
    for (let i = 0; i < o.pairs; i++) {
      const before = stepTimes(a.home).length;
      const first = a.start(['run', `first ${i}`, '--session', sid, '--exec', gatedCmd(`first${i}`)]);
      await started(`first${i}`);
      const second = a.start(['run', `second ${i}`, '--dir', a.dir, '--continue', '--exec', `echo second${i} > second${i}.txt`]);
      // Readers while the first holds the workspace.
      for (const args of [['session', 'show', sid], ['db', 'SELECT COUNT(*) AS n FROM message'], ['session', 'list']]) {
        const r = await a.cli(args);
        report.readers++;
        report.readerMaxMs = Math.max(report.readerMaxMs, r.ms);
        if (r.status !== 0 || r.ms > o.readerBoundMs) report.failures.push(`reader ${args.join(' ')} during a run: exit ${r.status} after ${r.ms} ms ${r.stderr.trim()}`);
      }
      await until(() => /waiting for/.test(second.stderr()));
      open(`first${i}`);
      const [r1, r2] = await Promise.all([first.done, second.done]);
      report.runs += 2;
      if (r1.status !== 0 || r2.status !== 0) {
        report.failures.push(`same-workspace pair ${i}: exits ${r1.status}, ${r2.status}: ${r1.stderr.trim()} ${r2.stderr.trim()}`);
        continue;
      }
      const times = stepTimes(a.home).slice(before);
      const waited = /waiting for pid \d+ .* to release the workspace/.test(r2.stderr);
      const ordered = times.length === 2 && times[1]!.start >= times[0]!.finish;
      if (waited && ordered) report.serialized++;
      else report.failures.push(`same-workspace pair ${i}: waited message ${waited}, serialized ${ordered} (${JSON.stringify(times)}; stderr: ${r2.stderr.trim()})`);
    }
    // A short timeout: the second gives up with one line, and records nothing.
    {
      const short = { ...a.env, SNAPLINE_CONFIG_CONTENT: JSON.stringify({ session: { waitSeconds: 1 } }) };
      // Compared while the first run's command holds (its start rows are in).
      const first = a.start(['run', 'long', '--session', sid, '--exec', gatedCmd('long')]);
      await started('long');
      const sessions = rowCounts(a.home).replace(/,"m".*$/, '');
      const r2 = await a.cli(['run', 'impatient', '--dir', a.dir, '--exec', 'echo no > no.txt'], { env: short });
      open('long');
      const r1 = await first.done;
      // Nothing of the impatient run is recorded (the first run's own rows keep arriving meanwhile).
      const after = { sessions: rowCounts(a.home).replace(/,"m".*$/, ''), impatient: mentions(a.home, 'impatient') };
      report.runs += 2;
      const lines = r2.stderr.split('\n').filter((l) => l.trim() && !/waiting for/.test(l));
      if (r2.status !== 0 && lines.length === 1 && /workspace .* is busy: pid \d+ .*gave up after [\d.]+ s/.test(lines[0]!) && after.sessions === sessions && after.impatient === 0 && !existsSync(join(a.dir, 'no.txt')) && r1.status === 0) report.timedOutCleanly++;
      else report.failures.push(`short timeout: exit ${r2.status}, stderr ${JSON.stringify(r2.stderr)}, sessions ${sessions} -> ${after.sessions}, ${after.impatient} rows of it, first exit ${r1.status}`);
    }
    // Different workspaces: in parallel.
    for (let i = 0; i < o.pairs; i++) {
      const before = stepTimes(a.home).length;
      const p1 = a.start(['run', `par a ${i}`, '--dir', a.dir, '--exec', gatedCmd(`pa${i}`)]);
      const p2 = b.start(['run', `par b ${i}`, '--dir', b.dir, '--exec', gatedCmd(`pb${i}`)]);
      // Both commands running at once is the proof; the gates open only then.
      await Promise.all([started(`pa${i}`), started(`pb${i}`)]);
      open(`pa${i}`);
      open(`pb${i}`);
      const [r1, r2] = await Promise.all([p1.done, p2.done]);
      report.runs += 2;
      const t = stepTimes(a.home).slice(before);
      const overlap = t.length === 2 && t[0]!.toolStart < t[1]!.toolEnd && t[1]!.toolStart < t[0]!.toolEnd;
      if (r1.status === 0 && r2.status === 0 && overlap && !/waiting/.test(r1.stderr + r2.stderr)) report.parallel++;
      else report.failures.push(`different workspaces ${i}: exits ${r1.status}, ${r2.status}, overlap ${overlap}: ${r1.stderr.trim()} ${r2.stderr.trim()}`);
    }
    // Readers while another process holds a write transaction open.
    {
      const db = new Sqlite(join(a.home, 'snapline.db'));
      db.exec('BEGIN IMMEDIATE');
      try {
        for (const args of [['session', 'show', sid], ['db', 'SELECT COUNT(*) AS n FROM part'], ['session', 'list']]) {
          const r = await a.cli(args);
          report.readers++;
          report.readerMaxMs = Math.max(report.readerMaxMs, r.ms);
          if (r.status !== 0 || r.ms > o.readerBoundMs) report.failures.push(`reader ${args.join(' ')} during a write transaction: exit ${r.status} after ${r.ms} ms ${r.stderr.trim()}`);
        }
      } finally {
        db.exec('COMMIT');
        db.close();
      }
    }
    const ic = integrity(a.home);
    if (ic !== 'ok') report.failures.push(`integrity_check: ${ic}`);
    const audit = auditTurns(a.home, false);
    if (audit.half.length) report.failures.push(`half-recorded turns: ${audit.half.join(', ')}`);
  } finally {
    b.cleanup();
    a.cleanup();
    rmSync(gate, { recursive: true, force: true });
  }
  return report;
}

// ---------------------------------------------------------------------------------------------
// 3. Hostile input
// ---------------------------------------------------------------------------------------------

export interface HostileCase {
  input: string;
  /** What snapline did (the error line, or the result). */
  outcome: string;
  ok: boolean;
  /** Files whose content was lost or written to the wrong place. */
  lost: number;
}

export interface HostileOptions {
  /** Files created (and reverted, and unreverted) by the many-files turn. */
  manyFiles: number;
}

/** The one line a failed command printed (or its whole stderr when there are more). */
function errorLine(r: Run): string {
  const lines = r.stderr.split('\n').filter((l) => l.trim());
  return lines.length === 1 ? lines[0]!.replace(/^snapline: /, '') : `(${lines.length} lines) ${r.stderr.trim().slice(0, 300)}`;
}

function oneLine(r: Run): boolean {
  return r.status !== 0 && r.stderr.split('\n').filter((l) => l.trim()).length === 1 && !/internal error/.test(r.stderr);
}

function sameState(a: Map<string, string>, b: Map<string, string>): string[] {
  return neitherBeforeNorAfter(a, b, b);
}

/** The user message ids of a session's turns, oldest first. */
function userMessages(home: string, sid: string): string[] {
  return turnsOf(home, sid).map((t) => t.user);
}

/**
 * Hostile names, symlinks leading outside, edited database rows, a huge turn, a file turned
 * into a directory and back, FIFOs and sockets, vanishing files, `/` and home as workspaces, a
 * corrupt store, and write attempts through `db`. Every case must end with a clear one-line
 * error or the right result, and no file lost.
 */
export async function hostileScenario(o: HostileOptions): Promise<HostileCase[]> {
  const cases: HostileCase[] = [];
  const fs = await import('node:fs');
  const add = (input: string, outcome: string, ok: boolean, lost = 0) => cases.push({ input, outcome, ok, lost });

  // Names, file/directory flips and symlinks: a turn creates them, revert removes, unrevert restores.
  {
    const f = fixture();
    const outside = mkdtempSync(join(tmpdir(), 'snapline-outside-'));
    try {
      fs.writeFileSync(join(outside, 'victim.txt'), 'outside, never to be written\n');
      fs.writeFileSync(join(f.dir, 'keep.txt'), 'keep\n');
      fs.writeFileSync(join(f.dir, 'flip'), 'a file first\n');
      fs.mkdirSync(join(f.dir, 'dir'));
      fs.writeFileSync(join(f.dir, 'dir', 'inner.txt'), 'inner\n');
      const sid = sessionOf(await f.ok(['run', 'setup', '--dir', f.dir, '--format', 'json', '--exec', 'true']));
      const names: [string, string][] = [
        ['newline in name', 'new\nline.txt'],
        ['quotes in name', `it's "quoted".txt`],
        ['leading dash', '-rf'],
        ['leading double dash', '--help.txt'],
        ['spaces and unicode', 'spa ce/ünï cödé ✓.txt'],
        ['pathspec magic', ':(exclude)*.txt'],
        ['255-byte name', 'L'.repeat(251) + '.txt'],
        ['deep path (40 levels)', Array.from({ length: 40 }, (_, i) => `d${i}`).join('/') + '/deep.txt'],
      ];
      const before = workspaceState(f.dir);
      const outsideBefore = workspaceState(outside);
      // Turn 1: create all of them; turn the file `flip` into a directory; `dir` into a symlink leading outside.
      const script = [
        ...names.map(([, n]) => `mkdir -p -- "$(dirname -- ${shq(n)})" && printf '%s' ${shq('content of ' + n)} > ${shq(n)}`),
        'rm flip && mkdir flip && echo now-a-dir > flip/child.txt',
        `rm -r dir && ln -s ${shq(outside)} dir`,
        `ln -s ${shq(join(outside, 'victim.txt'))} link-out`,
      ].join(' && ');
      const r1 = await f.cli(['run', 'hostile names', '--session', sid, '--exec', script]);
      const during = workspaceState(f.dir);
      const turn = userMessages(f.home, sid).at(-1)!;
      const rv = await f.cli(['session', 'revert', sid, '--message', turn]);
      const reverted = workspaceState(f.dir);
      const lostRevert = sameState(reverted, before);
      const un = await f.cli(['session', 'unrevert', sid]);
      const unreverted = workspaceState(f.dir);
      const lostUn = sameState(unreverted, during);
      const outsideLost = sameState(workspaceState(outside), outsideBefore);
      const outsideNew = fs.readdirSync(outside).filter((n) => n !== 'victim.txt');
      for (const [label, n] of names) {
        const okName = r1.status === 0 && rv.status === 0 && un.status === 0 && !lostRevert.includes(n) && !lostUn.includes(n) && during.has(n);
        add(label, okName ? 'recorded; revert removed it, unrevert put it back byte-exact' : `run ${r1.status} revert ${rv.status} unrevert ${un.status}: ${errorLine(rv)} ${errorLine(un)}`, okName, okName ? 0 : 1);
      }
      const flipOk = rv.status === 0 && un.status === 0 && reverted.get('flip') === before.get('flip') && unreverted.get('flip/child.txt') === during.get('flip/child.txt');
      add('file turned into a directory and back (revert / unrevert)', flipOk ? 'file restored, then directory restored' : `revert ${errorLine(rv)} / unrevert ${errorLine(un)}`, flipOk, flipOk ? 0 : 1);
      const linkOk = rv.status === 0 && un.status === 0 && outsideLost.length === 0 && outsideNew.length === 0 && reverted.get('dir/inner.txt') === before.get('dir/inner.txt') && unreverted.get('dir') === during.get('dir');
      add('directory replaced by a symlink leading outside (revert / unrevert)', linkOk ? 'directory restored in the workspace; nothing written outside' : `outside changed: ${outsideLost.join(',')} ${outsideNew.join(',')}; ${errorLine(rv)}`, linkOk, outsideLost.length + outsideNew.length);
      const lost = lostRevert.length + lostUn.length;
      add('unrelated files during those reverts', lost === 0 ? 'untouched' : `differ: ${[...lostRevert, ...lostUn].join(', ')}`, lost === 0, lost);
      // Writing through a symlinked parent is refused.
      const tree = (await f.ok(['snapshot', 'track', '--dir', f.dir])).trim();
      const rs = await f.cli(['snapshot', 'restore', tree, '--dir', f.dir, '--', 'dir/victim.txt']);
      add('restore of a path through a symlink leading outside', oneLine(rs) ? errorLine(rs) : `exit ${rs.status}: ${rs.stderr.trim()}`, oneLine(rs) && /outside the workspace/.test(rs.stderr) && sameState(workspaceState(outside), outsideBefore).length === 0);
      for (const p of ['../escape.txt', '/etc/passwd', 'a/../../b', '.git/config']) {
        const r = await f.cli(['snapshot', 'restore', tree, '--dir', f.dir, '--', p]);
        add(`restore path '${p}'`, errorLine(r), oneLine(r) && r.status === 2);
      }
    } finally {
      rmSync(outside, { recursive: true, force: true });
      f.cleanup();
    }
  }

  // Invalid UTF-8 in a file name.
  {
    const f = fixture();
    try {
      fs.writeFileSync(join(f.dir, 'a.txt'), 'a\n');
      const sid = sessionOf(await f.ok(['run', 'setup', '--dir', f.dir, '--format', 'json', '--exec', 'true']));
      const bad = Buffer.concat([Buffer.from(f.dir + '/bad-'), Buffer.from([0xff, 0xfe]), Buffer.from('.bin')]);
      const r1 = await f.cli(['run', 'invalid utf-8', '--session', sid, '--exec', `printf 'x' > $'bad-\\xff\\xfe.bin'`]);
      const turn = userMessages(f.home, sid).at(-1)!;
      const rv = await f.cli(['session', 'revert', sid, '--message', turn]);
      const gone = !fs.existsSync(bad);
      const badName = bad.subarray(f.dir.length + 1);
      const stray = fs.readdirSync(f.dir, { encoding: 'buffer' }).filter((n) => n.toString('utf8').includes('\ufffd') && !n.equals(badName));
      const un = await f.cli(['session', 'unrevert', sid]);
      const back = fs.existsSync(bad) && fs.readFileSync(bad, 'utf8') === 'x';
      const warnedVanished = /deleted while being snapshotted/.test(r1.stderr);
      const ok = r1.status === 0 && !warnedVanished && stray.length === 0 && rv.status === 0 && gone && un.status === 0 && back;
      add('invalid UTF-8 file name (run, revert, unrevert)', (rv.status === 0 ? `revert ${gone ? 'removed it' : 'left it'}, unrevert ${back ? 'put it back' : 'did not restore it'}${stray.length ? `; wrote ${stray.length} mangled name(s)` : ''}` : `revert refused: ${errorLine(rv)}`) + (warnedVanished ? ' (run wrongly warned it vanished)' : ''), ok, back || !gone ? 0 : 1);
    } finally {
      f.cleanup();
    }
  }

  // FIFO, socket and files vanishing while a snapshot runs.
  {
    const f = fixture();
    try {
      fs.writeFileSync(join(f.dir, 'a.txt'), 'a\n');
      const sid = sessionOf(await f.ok(['run', 'setup', '--dir', f.dir, '--format', 'json', '--exec', 'true']));
      const r = await f.cli(['run', 'fifo', '--session', sid, '--exec', 'mkfifo pipe && echo b > b.txt']);
      add('FIFO in the workspace', r.status === 0 ? `turn recorded in ${r.ms} ms; the FIFO is not a file and is not opened` : errorLine(r), r.status === 0 && r.ms < 20_000);
      const net = await import('node:net');
      const server = net.createServer();
      await new Promise<void>((res) => server.listen(join(f.dir, 'sock'), res));
      try {
        const rs = await f.cli(['run', 'socket', '--session', sid, '--exec', 'echo c > c.txt']);
        add('Unix socket in the workspace', rs.status === 0 ? 'turn recorded; the socket is skipped' : errorLine(rs), rs.status === 0);
      } finally {
        server.close();
      }
      // Files created and deleted continuously while the step-finish snapshot is taken.
      const churn = `mkdir -p churn; (for i in $(seq 1 400); do echo $i > churn/f$i; rm -f churn/f$((i-1)); done) & sleep 0.05; echo d > d.txt`;
      const rv = await f.cli(['run', 'vanishing files', '--session', sid, '--exec', churn]);
      await waitQuiet([f.dir]);
      add('files vanishing during a snapshot', rv.status === 0 ? `turn recorded${/deleted while being snapshotted/.test(rv.stderr) ? ', vanished files warned about' : ''}` : errorLine(rv), rv.status === 0);
      add('unreadable file (chmod 000)', process.getuid?.() === 0 ? 'not testable: the tests run as root, which reads any file' : 'see snapshot tests', true);
    } finally {
      f.cleanup();
    }
  }

  // Edited database rows: directory, snapshot ids, and a tree naming ../ paths.
  {
    const f = fixture();
    try {
      fs.writeFileSync(join(f.dir, 'a.txt'), 'a\n');
      const sid = sessionOf(await f.ok(['run', 'one', '--dir', f.dir, '--format', 'json', '--exec', 'echo b > b.txt']));
      await f.ok(['run', 'two', '--session', sid, '--exec', 'echo c > c.txt']);
      const [t1, t2] = userMessages(f.home, sid);
      const state = workspaceState(f.dir);
      const sql = (q: string) => f.ok(['db', '--write', q]);
      const check = async (input: string, edit: string, undo: string, args: string[], expect: RegExp) => {
        await sql(edit);
        const r = await f.cli(args);
        await sql(undo);
        const lost = sameState(workspaceState(f.dir), state);
        add(input, errorLine(r), oneLine(r) && expect.test(r.stderr) && lost.length === 0, lost.length);
      };
      const elsewhere = mkdtempSync(join(tmpdir(), 'snapline-elsewhere-'));
      for (const dir of ['/', '../..', 'relative/dir', elsewhere]) {
        await check(`session.directory edited to '${dir === elsewhere ? 'another directory' : dir}'`, `UPDATE session SET directory = '${dir}' WHERE id = '${sid}'`, `UPDATE session SET directory = '${f.dir}' WHERE id = '${sid}'`, ['session', 'revert', sid, '--message', t2!], dir === '/' ? /refusing to snapshot \/|not an absolute/ : /not an absolute path|does not hold|refusing/);
      }
      const snapshotted = existsSync(join(f.home, 'snapshot')) && storeDirs(f.home).some((d) => readFileSync(join(d, 'snapline-worktree'), 'utf8').trim() === elsewhere);
      add('edited session.directory: the other directory is not snapshotted', snapshotted ? 'it was snapshotted' : 'not touched', !snapshotted);
      rmSync(elsewhere, { recursive: true, force: true });
      // A step-start snapshot replaced by a crafted tree whose entries climb out with '..'.
      const store = storeOf(f.home, f.dir);
      const blob = (await storeGitInput(store, ['hash-object', '-w', '--stdin'], 'pwned\n')).trim();
      let evil = '';
      try {
        evil = (await storeGitInput(store, ['mktree'], `100644 blob ${blob}\t..\n`)).trim();
      } catch {
        evil = '';
      }
      if (evil) {
        const inner = (await storeGitInput(store, ['mktree'], `040000 tree ${evil}\tsub\n`)).trim();
        for (const [label, tree] of [["tree entry '..'", evil], ["tree entry 'sub/..'", inner]] as const) {
          await check(
            `step-start snapshot edited to a crafted ${label}`,
            `UPDATE part SET data = json_set(data, '$.snapshot', '${tree}') WHERE session_id = '${sid}' AND json_extract(data, '$.type') = 'step-start' AND message_id > '${t2}'`,
            `UPDATE part SET data = json_set(data, '$.snapshot', json_extract(data, '$.snapshot')) WHERE 0`,
            ['session', 'revert', sid, '--message', t2!],
            /refusing path|outside the workspace|could not restore|invalid|not a valid/,
          );
        }
        // A directory named '..' holding a file: `snapshot restore` of the whole tree (no paths given).
        const withFile = (await storeGitInput(store, ['mktree'], `100644 blob ${blob}\tpwned.txt\n`)).trim();
        const climbing = (await storeGitInput(store, ['mktree'], `040000 tree ${withFile}\t..\n100644 blob ${blob}\tkeep.txt\n`)).trim();
        const before = workspaceState(f.dir);
        const rc = await f.cli(['snapshot', 'restore', climbing, '--dir', f.dir]);
        const lostHere = sameState(workspaceState(f.dir), before).length;
        add("snapshot restore of a crafted tree with a directory '..' (whole tree)", errorLine(rc), oneLine(rc) && /outside the workspace/.test(rc.stderr) && lostHere === 0 && !fs.existsSync(join(f.dir, '..', 'pwned.txt')), lostHere);
        // The crafted blob says "pwned": no file next to or above the workspace may hold it.
        const pwned = [join(f.dir, '..'), join(f.dir, '..', '..')].flatMap((d) => fs.readdirSync(d).map((n) => join(d, n))).filter((p) => {
          try {
            return fs.lstatSync(p).isFile() && fs.statSync(p).size === 6 && fs.readFileSync(p, 'utf8') === 'pwned\n';
          } catch {
            return false;
          }
        });
        add('nothing written outside the workspace by crafted trees', pwned.length ? `written: ${pwned.join(', ')}` : 'nothing written', pwned.length === 0, pwned.length);
      } else add("crafted tree entry '..'", 'git mktree refuses such trees', true);
      await check('step-start snapshot edited to a missing tree', `UPDATE part SET data = json_set(data, '$.snapshot', '${'0'.repeat(40)}') WHERE session_id = '${sid}' AND json_extract(data, '$.type') = 'step-start' AND message_id > '${t1}' AND message_id < '${t2}'`, 'SELECT 1', ['session', 'revert', sid, '--message', t1!], /does not hold/);
      await check('message.data edited to invalid JSON', `UPDATE message SET data = '{not json' WHERE id = '${t1}'`, `SELECT 1`, ['session', 'show', sid], /damaged|corrupt/);
    } finally {
      f.cleanup();
    }
  }

  // `db` write attempts without --write.
  {
    const f = fixture();
    try {
      fs.writeFileSync(join(f.dir, 'a.txt'), 'a\n');
      await f.ok(['run', 'one', '--dir', f.dir, '--exec', 'true']);
      const counts = rowCounts(f.home);
      for (const q of ["DELETE FROM session", "UPDATE message SET data = '{}'", "INSERT INTO project (id, worktree, time_created, time_updated) VALUES ('x', '/', 0, 0)", 'DROP TABLE part', 'CREATE TABLE t (x)', 'PRAGMA user_version = 99', 'VACUUM', "ATTACH DATABASE '/tmp/x.db' AS x", 'SELECT 1; DELETE FROM session', 'WITH x AS (SELECT 1) DELETE FROM message']) {
        const r = await f.cli(['db', q]);
        const unchanged = rowCounts(f.home) === counts && integrity(f.home) === 'ok';
        add(`db without --write: ${q}`, errorLine(r), oneLine(r) && unchanged);
      }
    } finally {
      f.cleanup();
    }
  }

  // `/` and the home directory as workspaces; a workspace that is a file.
  {
    const f = fixture();
    const home = mkdtempSync(join(tmpdir(), 'snapline-fakehome-'));
    try {
      fs.writeFileSync(join(home, 'h.txt'), 'h\n');
      const env = { ...f.env, HOME: home };
      for (const [label, args] of [
        ['workspace /', ['snapshot', 'track', '--dir', '/']],
        ['run in /', ['run', 'x', '--dir', '/', '--exec', 'true']],
        ['workspace = home directory', ['snapshot', 'track', '--dir', home]],
        ['run in the home directory', ['run', 'x', '--dir', home, '--exec', 'true']],
        ['workspace is a file', ['snapshot', 'track', '--dir', join(home, 'h.txt')]],
      ] as const) {
        const r = await f.cli([...args], { env, cwd: home });
        add(label, errorLine(r), oneLine(r) && r.status === 2 && !existsSync(join(f.home, 'snapshot')));
      }
      const forced = await f.cli(['snapshot', 'track', '--dir', home, '--force'], { env, cwd: home });
      add('home directory with --force', forced.status === 0 ? 'snapshotted (the user asked for it)' : errorLine(forced), forced.status === 0);
    } finally {
      rmSync(home, { recursive: true, force: true });
      f.cleanup();
    }
  }

  // A corrupt store: a clear error, doctor finds it, --rebuild replaces it, tracking works again.
  {
    const f = fixture();
    try {
      fs.writeFileSync(join(f.dir, 'a.txt'), 'a\n');
      const sid = sessionOf(await f.ok(['run', 'one', '--dir', f.dir, '--format', 'json', '--exec', 'echo b > b.txt']));
      const store = storeOf(f.home, f.dir);
      await storeGitInput(store, ['repack', '-a', '-d', '-q'], '');
      const packDir = join(store, 'objects', 'pack');
      const pack = fs.readdirSync(packDir).find((n) => n.endsWith('.pack'))!;
      const buf = fs.readFileSync(join(packDir, pack));
      for (let i = 200; i < buf.length - 40; i += 7) buf[i] = buf[i]! ^ 0x5a;
      fs.chmodSync(join(packDir, pack), 0o644);
      fs.writeFileSync(join(packDir, pack), buf);
      const state = workspaceState(f.dir);
      const turn = userMessages(f.home, sid)[0]!;
      const rv = await f.cli(['session', 'revert', sid, '--message', turn]);
      add('corrupt store: revert', errorLine(rv), oneLine(rv) && sameState(workspaceState(f.dir), state).length === 0);
      const d = await f.cli(['snapshot', 'doctor', '--dir', f.dir]);
      add('corrupt store: doctor', d.status === 1 ? d.stdout.trim().replace(store, '<store>') : `exit ${d.status}: ${d.stdout.trim()}`, d.status === 1 && /damaged/.test(d.stdout));
      const rb = await f.cli(['snapshot', 'doctor', '--dir', f.dir, '--rebuild']);
      const tr = await f.cli(['snapshot', 'track', '--dir', f.dir]);
      const again = await f.cli(['run', 'after rebuild', '--dir', f.dir, '--exec', 'echo c > c.txt']);
      add('corrupt store: doctor --rebuild, then track and run', rb.status === 0 && tr.status === 0 && again.status === 0 ? 'rebuilt (broken store kept aside); track and run work' : `${errorLine(rb)} ${errorLine(tr)} ${errorLine(again)}`, rb.status === 0 && tr.status === 0 && again.status === 0);
      fs.rmSync(join(store, 'objects'), { recursive: true });
      const tm = await f.cli(['snapshot', 'track', '--dir', f.dir]);
      add('store with its objects directory deleted', errorLine(tm), oneLine(tm) && /doctor --rebuild/.test(tm.stderr));
    } finally {
      f.cleanup();
    }
  }

  // A turn that changes many files: recorded with exact totals, a capped list, and reverted.
  {
    const f = fixture();
    try {
      fs.writeFileSync(join(f.dir, 'a.txt'), 'a\n');
      const sid = sessionOf(await f.ok(['run', 'one', '--dir', f.dir, '--format', 'json', '--exec', 'true']));
      const before = workspaceState(f.dir);
      const n = o.manyFiles;
      const gen = `node -e 'const fs=require("fs");for(let d=0;d<${Math.ceil(n / 1000)};d++){fs.mkdirSync("many/"+d,{recursive:true});for(let i=0;i<1000&&d*1000+i<${n};i++)fs.writeFileSync("many/"+d+"/f"+i+".txt","file "+(d*1000+i)+"\\n")}'`;
      const r = await f.cli(['run', 'many', '--session', sid, '--exec', gen]);
      const turn = userMessages(f.home, sid).at(-1)!;
      const row = JSON.parse(await f.ok(['db', `SELECT length(data) AS bytes, json_extract(data, '$.summary.total.files') AS files, json_extract(data, '$.summary.truncated') AS truncated FROM message WHERE id = '${turn}'`])) as { bytes: number; files: number; truncated: number }[];
      const t0 = Date.now();
      const rv = await f.cli(['session', 'revert', sid, '--message', turn]);
      const revertMs = Date.now() - t0;
      const afterRevert = workspaceState(f.dir);
      const un = await f.cli(['session', 'unrevert', sid]);
      const back = workspaceState(f.dir);
      const lost = sameState(afterRevert, before).length + (back.size === before.size + n ? 0 : Math.abs(back.size - before.size - n));
      const ok = r.status === 0 && rv.status === 0 && un.status === 0 && row[0]?.files === n && row[0]!.bytes < 64 * 1024 && lost === 0;
      add(`a turn changing ${n.toLocaleString('en')} files`, ok ? `recorded in ${(r.ms / 1000).toFixed(1)} s (total ${row[0]!.files} files, row ${row[0]!.bytes} bytes, list capped); revert in ${(revertMs / 1000).toFixed(1)} s, unrevert in ${(un.ms / 1000).toFixed(1)} s` : `run ${r.status} ${errorLine(r)}; revert ${rv.status} ${errorLine(rv)}; row ${JSON.stringify(row)}; lost ${lost}`, ok, lost);
    } finally {
      f.cleanup();
    }
  }
  return cases;
}

/** Single-quoted for bash. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** git in a shadow store with text on stdin. */
function storeGitInput(store: string, args: string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['--git-dir', store, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out).toString('utf8')) : reject(new Error(`git ${args.join(' ')}: ${Buffer.concat(err).toString('utf8')}`))));
    child.stdin.end(input);
  });
}

// ---------------------------------------------------------------------------------------------
// 4. Disk
// ---------------------------------------------------------------------------------------------

export interface DiskOptions {
  /** Turns in all (half in an old, idle session, half in a live one). */
  turns: number;
  big1Bytes: number;
  big2Bytes: number;
  smallBytes: number;
  log?: (line: string) => void;
}

export interface DiskReport {
  turns: number;
  /** The configured snapshot.retention.maxBytes (bytes). */
  bound: number;
  /** Store bytes after the turns and some unretained snapshots, before any gc. */
  before: number;
  /** After `gc`: unretained snapshots pruned, both sessions kept whole. */
  afterGc: number;
  /** After `gc --force`: the idle session past maxAgeDays released. */
  afterForce: number;
  /** `snapshot du` per session before gc (bytes). */
  sessions: { id: string; bytes: number }[];
  failures: string[];
}

/**
 * The report's workload (two big generated files and a small one rewritten every turn) over
 * `turns` turns, half in a session then left idle (its retention ref is dated 30 days back),
 * half in a live one, plus snapshots no session keeps. `snapshot.retention.maxBytes` is set to
 * 1.25 × what the live session holds. `gc` must prune what no session keeps and never a
 * session's snapshot; `gc --force` must then release the idle session and bring the store
 * inside the bound, the live session's snapshots all intact.
 */
export async function diskScenario(o: DiskOptions): Promise<DiskReport> {
  const log = o.log ?? (() => undefined);
  const report: DiskReport = { turns: 0, bound: 0, before: 0, afterGc: 0, afterForce: 0, sessions: [], failures: [] };
  const f = fixture();
  try {
    const { dirname } = await import('node:path');
    writeFileSync(join(f.dir, 'README'), 'disk scenario\n');
    f.git('add', '-A');
    f.git('commit', '-qm', 'base');
    const gen = (t: number) => `${shq(process.execPath)} ${shq(join(dirname(CLI), 'demo-turn.js'))} ${t} ${o.big1Bytes} ${o.big2Bytes} ${o.smallBytes}`;
    const half = Math.floor(o.turns / 2);
    const old = sessionOf(await f.ok(['run', 'turn 1', '--dir', f.dir, '--format', 'json', '--title', 'old idle session', '--exec', gen(1)]));
    for (let t = 2; t <= half; t++) await f.ok(['run', `turn ${t}`, '--session', old, '--exec', gen(t)]);
    const live = sessionOf(await f.ok(['run', `turn ${half + 1}`, '--dir', f.dir, '--format', 'json', '--title', 'live session', '--exec', gen(half + 1)]));
    for (let t = half + 2; t <= o.turns; t++) await f.ok(['run', `turn ${t}`, '--session', live, '--exec', gen(t)]);
    report.turns = o.turns;
    // Snapshots no session keeps: the workspace tracked with junk files that are then deleted.
    for (let i = 0; i < 3; i++) {
      writeFileSync(join(f.dir, `junk${i}.bin`), (await import('node:crypto')).randomBytes(Math.max(4096, o.smallBytes)));
      await f.ok(['snapshot', 'track', '--dir', f.dir]);
      rmSync(join(f.dir, `junk${i}.bin`));
    }
    await f.ok(['snapshot', 'track', '--dir', f.dir]);
    const store = storeOf(f.home, f.dir);
    // The idle session: its retention commit dated 30 days ago (same trees).
    const ref = `refs/snapline/sessions/${old}`;
    const tree = (await storeGit(store, ['rev-parse', `${ref}^{tree}`])).trim();
    const date = `${Math.floor(Date.now() / 1000) - 30 * 86400} +0000`;
    const commit = (await new Promise<string>((resolve, reject) => {
      const c = spawn('git', ['--git-dir', store, 'commit-tree', tree, '-m', 'aged'], { env: { ...process.env, GIT_AUTHOR_NAME: 's', GIT_AUTHOR_EMAIL: 's@s', GIT_COMMITTER_NAME: 's', GIT_COMMITTER_EMAIL: 's@s', GIT_COMMITTER_DATE: date, GIT_AUTHOR_DATE: date } });
      const out: Buffer[] = [];
      c.stdout.on('data', (b: Buffer) => out.push(b));
      c.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out).toString('utf8').trim()) : reject(new Error('commit-tree failed'))));
    }));
    await storeGit(store, ['update-ref', ref, commit]);

    const du = JSON.parse(await f.ok(['snapshot', 'du', '--dir', f.dir, '--format', 'json'])) as { bytes: number; sessions: { id: string; bytes: number }[] }[];
    report.sessions = du[0]!.sessions;
    report.before = diskBytes(store);
    const liveBytes = du[0]!.sessions.find((s) => s.id === live)?.bytes ?? 0;
    if (!du[0]!.sessions.some((s) => s.id === old) || liveBytes === 0) report.failures.push(`du does not list both sessions: ${JSON.stringify(du)}`);
    report.bound = Math.ceil(liveBytes * 1.25) + 256 * 1024;
    const env = { ...f.env, SNAPLINE_CONFIG_CONTENT: JSON.stringify({ snapshot: { retention: { maxAgeDays: 7, maxBytes: report.bound } } }) };
    log(`before gc: store ${report.before} bytes, live session ${liveBytes}, bound ${report.bound}`);

    const allTrees = async (sid: string) => turnsOf(f.home, sid).flatMap((t) => [t.start, t.end]).filter((t): t is string => !!t);
    const present = async (trees: string[]) => {
      const out = await storeGitInput(store, ['cat-file', '--batch-check=%(objecttype)'], trees.join('\n') + '\n');
      return out.split('\n').filter((l) => l === 'tree').length;
    };
    const oldTrees = await allTrees(old);
    const liveTrees = await allTrees(live);
    // gc, no force: nothing a session keeps may go.
    const g = await f.cli(['snapshot', 'gc', '--dir', f.dir, '--format', 'json'], { env });
    if (g.status !== 0) report.failures.push(`gc exited ${g.status}: ${g.stderr.trim()}`);
    report.afterGc = diskBytes(store);
    if ((await present(oldTrees)) !== oldTrees.length || (await present(liveTrees)) !== liveTrees.length) report.failures.push('gc without --force dropped a session snapshot');
    const patch = await f.cli(['session', 'diff', old, '--patch', '--max-bytes', '4096']);
    if (patch.status !== 0) report.failures.push(`session diff --patch of the idle session after gc: ${patch.stderr.trim()}`);
    if (report.afterGc > report.before) report.failures.push(`gc grew the store: ${report.before} -> ${report.afterGc}`);
    // gc --force: the idle session is released (past maxAgeDays), the live one kept whole.
    const gf = await f.cli(['snapshot', 'gc', '--dir', f.dir, '--force', '--format', 'json'], { env });
    if (gf.status !== 0) report.failures.push(`gc --force exited ${gf.status}: ${gf.stderr.trim()}`);
    else {
      const released = (JSON.parse(gf.stdout) as { released: string[] }[])[0]!.released;
      if (released.length !== 1 || released[0] !== old) report.failures.push(`gc --force released ${JSON.stringify(released)}, expected only the idle session`);
    }
    report.afterForce = diskBytes(store);
    if ((await present(liveTrees)) !== liveTrees.length) report.failures.push('gc --force dropped a snapshot of the live session');
    if (report.afterForce > report.bound) report.failures.push(`store ${report.afterForce} bytes after gc --force, over the bound ${report.bound}`);
    const rv = await f.cli(['session', 'revert', live, '--message', turnsOf(f.home, live)[0]!.user]);
    if (rv.status !== 0) report.failures.push(`revert of the live session after gc --force: ${rv.stderr.trim()}`);
    const left = leftovers(f.home, f.dir);
    if (left.length) report.failures.push(`left after gc: ${left.join(', ')}`);
    log(`after gc ${report.afterGc}, after gc --force ${report.afterForce}`);
  } finally {
    f.cleanup();
  }
  return report;
}
