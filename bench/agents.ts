/**
 * Agents benchmark: what snapline costs an agent.
 *   1. A no-change step (Claude Code's PostToolUse) on a 20,000-file workspace, run as Claude
 *      Code runs the command `hooks install` writes (the step hook script, answering without
 *      Node), and the same step through Node (SNAPLINE_FAST_STEP=0: what any step that changed
 *      something costs): wall time and peak RSS, medians of 7, interleaved with
 *      `git status --porcelain -uall` on the same workspace and an idle `node -e 0`.
 *   2. The report's turn (128 MiB + 96 MiB + 512 KiB rewritten, SNAPLINE_BENCH_SCALE scales)
 *      recorded through the hook: begin, step after the rewrite, end (as installed: through the
 *      step hook script, which answers it when nothing changed since the step) — peak RSS of each process,
 *      the background summarizer the end starts (time until the summary is recorded, its peak
 *      RSS), and the bytes stored per user message (message and part rows).
 *   3. The same turn through each real agent — Claude Code, Codex CLI, Gemini CLI, OpenCode
 *      (scripted model server; SNAPLINE_BENCH_AGENTS=claude,codex picks some) — without snapline
 *      and with it (for Claude Code also with its hooks each doing nothing: its own cost of
 *      dispatching them; for OpenCode also with its own snapshots off): the agent's wall time
 *      and peak RSS (median of SNAPLINE_BENCH_AGENT_RUNS, default 3, runs each, the setups in
 *      turn), the ratios, and the background summarizer's work after the agent exited
 *      (agentTurns).
 * Targets (docs/agents.md): step ≤ 150 ms, turn ≤ 1.15×, every process ≤ idle + 64 MiB, < 4 KiB per message.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hookCommand } from '../src/agents/install.js';
import { idleNodeRss, measureProcess, mib } from '../src/procmem.js';
import { printTable } from './measure.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CLI = join(HERE, '..', 'src', 'cli', 'main.js');
const TURN_SCRIPT = join(HERE, '..', 'src', 'cli', 'demo-turn.js');

function gitInit(dir: string): void {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, env: { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@example.com', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@example.com' } });
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'init', '--allow-empty');
}

/** Runs `snapline hook claude` with `event` on stdin (through a file: the measured process is node itself). */
async function hookOnce(dir: string, env: NodeJS.ProcessEnv, event: object): Promise<{ wallMs: number; rss: number; stderr: string }> {
  const file = join(dir, '..', 'event.json');
  writeFileSync(file, JSON.stringify(event));
  const m = await measureProcess('sh', ['-c', 'exec "$0" "$1" hook claude < "$2"', process.execPath, CLI, file], { cwd: dir, env, intervalMs: 2 });
  return { wallMs: m.wallMs, rss: m.peakMainRss, stderr: m.stderr };
}

/** Runs a hook command line as Claude Code does (`sh -c COMMAND`, the event on stdin); with `rss`, samples its memory. */
async function commandOnce(dir: string, env: NodeJS.ProcessEnv, command: string, event: object, rss = false): Promise<{ wallMs: number; rss: number; stderr: string }> {
  const file = join(dir, '..', 'event.json');
  writeFileSync(file, JSON.stringify(event));
  const args = ['-c', `exec ${command} < "$0"`, file];
  if (!rss) return { ...(await wallTime('sh', args, { cwd: dir, env })), rss: 0 };
  const m = await measureProcess('sh', args, { cwd: dir, env, intervalMs: 2 });
  return { wallMs: m.wallMs, rss: m.peakMainRss, stderr: m.stderr };
}

/**
 * Wall time of a process, nothing else: sampling memory every few ms costs CPU that a
 * short process on a small machine would feel (the timed runs of part 1 are not sampled).
 */
function wallTime(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ wallMs: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    child.on('error', reject);
    child.on('close', () => resolve({ wallMs: performance.now() - start, stderr }));
  });
}

/** Where hooks.log has got to: the background summarizer's lines after it are this run's. */
function logOffset(env: NodeJS.ProcessEnv): number {
  return statSync(join(env.SNAPLINE_HOME!, 'hooks.log'), { throwIfNoEntry: false })?.size ?? 0;
}

/**
 * Waits until the background summarizer has logged `count` summaries after `offset` in hooks.log
 * (so measured runs never overlap it); returns when, and the largest peak RSS it logged (bytes).
 */
async function summariesLogged(env: NodeJS.ProcessEnv, offset: number, count: number): Promise<{ doneAt: number; rss: number }> {
  const file = join(env.SNAPLINE_HOME!, 'hooks.log');
  for (const deadline = Date.now() + 600_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
    const size = statSync(file, { throwIfNoEntry: false })?.size ?? 0;
    if (size <= offset) continue;
    const fd = openSync(file, 'r');
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    closeSync(fd);
    const text = buf.toString('utf8');
    const problem = /summarize: (.*)/.exec(text);
    if (problem) throw new Error(`background summarizer: ${problem[1]}`);
    const done = [...text.matchAll(/ summary ses_\S+ msg_\S+: .*peak RSS ([\d.]+) MiB/g)];
    if (done.length >= count) return { doneAt: Date.now(), rss: Math.max(...done.map((m) => Number(m[1]) * 1048576)) };
  }
  throw new Error('the background summarizer did not record the summary within 10 minutes');
}

/**
 * Before a timed agent run: the sealer of the run before has finished (no pending copies left in
 * any store) and the page cache holds no dirty data of earlier runs (`sync`), so neither side of
 * the comparison pays for the other's writeback.
 */
async function quiesce(env: NodeJS.ProcessEnv): Promise<void> {
  // Stores are snapshot/<project>/<workspace>/: only their snapline-pending directories are read.
  const root = join(env.SNAPLINE_HOME!, 'snapshot');
  const list = (dir: string) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  };
  const pending = () => list(root).some((p) => list(join(root, p)).some((w) => list(join(root, p, w, 'snapline-pending')).some((n) => n !== 'snapline.lock')));
  for (const deadline = Date.now() + 120_000; Date.now() < deadline && pending(); ) await new Promise((r) => setTimeout(r, 100));
  execFileSync('sync');
}

/**
 * The setups each agent's turn is measured in, in turn: no hooks; for Claude Code, the hooks
 * `hooks install` writes with every command replaced by one that does nothing (Claude Code's own
 * cost of dispatching them); snapline installed; for OpenCode, snapline installed and OpenCode's
 * own snapshots off (`"snapshot": false` in opencode.json, what `hooks install opencode` suggests).
 */
interface AgentTurns {
  name: 'claude' | 'codex' | 'gemini' | 'opencode';
  title: string;
  /** The agent's hook settings file in the project, when its hooks can be made no-ops. */
  noop?: string;
  ownSnapshotsOff?: boolean;
}

const AGENT_TURNS: AgentTurns[] = [
  { name: 'claude', title: 'Claude Code', noop: join('.claude', 'settings.json') },
  { name: 'codex', title: 'Codex CLI' },
  { name: 'gemini', title: 'Gemini CLI' },
  { name: 'opencode', title: 'OpenCode', ownSnapshotsOff: true },
];

/**
 * The report's turn through the real agent (scripted model server), `runs` times in each setup,
 * the setups in turn: the agent's wall time and peak RSS (its process tree, sampled), the ratios
 * against the turn without snapline, and snapline's background summary after the agent exited
 * (waited for before the next run, and the sealer, and `sync`: each run starts without the
 * writeback of the one before).
 */
async function agentTurns(agent: AgentTurns, o: { root: string; env: NodeJS.ProcessEnv; sizes: number[]; runs: number; idle: number; deferred: boolean }): Promise<string[][]> {
  const { runAgent } = await import('../test/helpers/agent-drivers.js');
  const { startModelServer } = await import('../test/helpers/model-server.js');
  type Setup = 'without' | 'no-op' | 'with' | 'with, own snapshots off';
  const setups: Setup[] = ['without', ...(agent.noop ? (['no-op'] as const) : []), 'with', ...(agent.ownSnapshotsOff ? (['with, own snapshots off'] as const) : [])];
  const wall = new Map<Setup, number[]>(setups.map((s) => [s, []]));
  const rss = new Map<Setup, number[]>(setups.map((s) => [s, []]));
  const after: number[] = [];
  let bgRss = 0;
  for (let run = 0; run < o.runs * setups.length; run++) {
    const setup = setups[run % setups.length]!;
    const dir = join(o.root, `${agent.name}-${run}`);
    mkdirSync(join(dir, 'src'), { recursive: true });
    writeFileSync(join(dir, 'src', 'main.txt'), 'hello\n');
    gitInit(dir);
    if (setup !== 'without') execFileSync(process.execPath, [CLI, 'hooks', 'install', agent.name, '--dir', dir], { env: o.env });
    if (setup === 'no-op') {
      const file = join(dir, agent.noop!);
      const settings = JSON.parse(readFileSync(file, 'utf8')) as { hooks: Record<string, { hooks: { command: string }[] }[]> };
      for (const groups of Object.values(settings.hooks)) for (const g of groups) for (const h of g.hooks) h.command = 'cat > /dev/null';
      writeFileSync(file, JSON.stringify(settings, null, 2));
    }
    if (setup === 'with, own snapshots off') writeFileSync(join(dir, 'opencode.json'), JSON.stringify({ snapshot: false }));
    await quiesce(o.env);
    const server = await startModelServer();
    try {
      server.enqueue({ tool: 'bash', command: `'${process.execPath}' '${TURN_SCRIPT}' 1 ${o.sizes.join(' ')}` }, { text: 'Done.' });
      const offset = logOffset(o.env);
      const r = await runAgent(agent.name, { dir, message: 'Regenerate the build files.', serverUrl: server.url, env: { SNAPLINE_HOME: o.env.SNAPLINE_HOME!, ...(o.deferred ? {} : { SNAPLINE_DEFER_SUMMARY: '0' }) }, timeoutMs: 600_000 });
      const exited = Date.now();
      if (r.exit !== 0) throw new Error(`${agent.name} exited ${r.exit}: ${r.stderr.slice(-500)}`);
      wall.get(setup)!.push(r.durationMs);
      rss.get(setup)!.push((r.peakRssKiB ?? 0) * 1024);
      if ((setup === 'with' || setup === 'with, own snapshots off') && o.deferred) {
        // snapline's work after the agent exited; the next run starts only once it is done.
        const bg = await summariesLogged(o.env, offset, 1);
        after.push(bg.doneAt - exited);
        bgRss = Math.max(bgRss, bg.rss);
      }
      rmSync(r.profile, { recursive: true, force: true });
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const secs = (ms: number[]) => ms.map((m) => (m / 1000).toFixed(1)).join(', ');
  const without = median(wall.get('without')!);
  const noop = wall.get('no-op')?.length ? median(wall.get('no-op')!) : undefined;
  const rows: string[][] = [];
  for (const setup of setups) {
    const ms = wall.get(setup)!;
    const t = median(ms);
    const peak = `peak RSS ${mib(median(rss.get(setup)!))} MiB`;
    if (setup === 'without') rows.push([`${agent.title} turn without snapline (median of ${o.runs})`, `${(t / 1000).toFixed(1)} s (${secs(ms)}), ${peak}`, '']);
    else if (setup === 'no-op') rows.push([`  with the same hooks doing nothing`, `${(t / 1000).toFixed(1)} s (${secs(ms)}): ${(t / without).toFixed(2)}×`, '']);
    else {
      // Each run is a new agent session in a new workspace; from the second on, the spare standby
      // the session before left (docs/agents.md, "The spare") takes it (not OpenCode's plugin).
      const spare = agent.name === 'opencode' ? '' : '; from the 2nd run on, the spare takes the session';
      const label = setup === 'with' ? `${agent.title} turn with snapline (median of ${o.runs}${spare})` : `  with snapline, OpenCode's own snapshots off`;
      rows.push([label, `${(t / 1000).toFixed(1)} s (${secs(ms)}): ${(t / without).toFixed(2)}×${noop && setup === 'with' ? ` (${(t / noop).toFixed(2)}× the no-op hooks)` : ''}, ${peak}`, setup === 'with' ? '≤ 1.15×' : '']);
    }
  }
  if (o.deferred) rows.push([`  snapline's background summary after the agent exited (median of ${after.length})`, `${(median(after) / 1000).toFixed(1)} s (${secs(after)}), peak RSS ${mib(bgRss)} MiB (idle + ${mib(bgRss - o.idle)})`, '≤ idle + 64']);
  return rows;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function run(): Promise<void> {
  const scale = Number(process.env.SNAPLINE_BENCH_SCALE ?? '1') || 1;
  const sizes = [Math.round(128 * 1048576 * scale), Math.round(96 * 1048576 * scale), Math.round(512 * 1024 * scale)];
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'snapline-bench-agents-')));
  const env = { ...process.env, SNAPLINE_HOME: join(root, 'home'), SNAPLINE_CONFIG_CONTENT: '' };
  const idle = await idleNodeRss();
  const rows: string[][] = [['measure', 'value', 'target']];
  try {
    // 1. No-change step on 20,000 files.
    const many = join(root, 'many');
    for (let d = 0; d < 200; d++) {
      mkdirSync(join(many, `d${d}`), { recursive: true });
      for (let i = 0; i < 100; i++) writeFileSync(join(many, `d${d}`, `f${i}.txt`), `file ${d}/${i}\n`);
    }
    gitInit(many);
    const base = { session_id: 'bench', cwd: many, transcript_path: '/dev/null' };
    const stepEvent = { ...base, hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'true' }, tool_response: { stdout: '', stderr: '' } };
    const stepCommand = hookCommand('claude', process.execPath, CLI, true);
    await hookOnce(many, env, { ...base, hook_event_name: 'UserPromptSubmit', prompt: 'bench' });
    // Files written in the second of the snapshot that recorded them are racily clean to git
    // (listed by every scan until a later snapshot rewrites the index): a second apart, then
    // two steps, as in an agent's session, where steps are seconds apart.
    await new Promise((r) => setTimeout(r, 1100));
    for (let i = 0; i < 2; i++) await commandOnce(many, env, stepCommand, stepEvent);
    const pending = join(env.SNAPLINE_HOME, 'fast-steps', 'claude', 'bench', 'pending');
    const fast = [];
    const node = [];
    // Measured in turns (the load varies): the step as installed, the step through Node, git's own scan, a bare Node.
    const status: number[] = [];
    const idleNode: number[] = [];
    let answered = 0;
    for (let i = 0; i < 7; i++) {
      const before = readdirSync(pending).length;
      fast.push(await commandOnce(many, env, stepCommand, stepEvent));
      if (readdirSync(pending).length === before + 1) answered++;
      node.push(await commandOnce(many, { ...env, SNAPLINE_FAST_STEP: '0' }, stepCommand, stepEvent));
      status.push((await wallTime('git', ['status', '--porcelain', '-uall'], { cwd: many })).wallMs);
      idleNode.push((await wallTime(process.execPath, ['-e', '0'])).wallMs);
    }
    // Memory: one sampled run of each.
    const fastRss = await commandOnce(many, env, stepCommand, stepEvent, true);
    const nodeRss = await commandOnce(many, { ...env, SNAPLINE_FAST_STEP: '0' }, stepCommand, stepEvent, true);
    const problems = [...fast, ...node, fastRss, nodeRss].map((s) => s.stderr).filter(Boolean);
    if (problems.length) throw new Error(`hook step reported: ${problems[0]}`);
    const peak = (ms: { rss: number }[]) => Math.max(...ms.map((m) => m.rss));
    rows.push([`no-change step as installed (step hook script; ${answered} of 7 answered without Node)`, `${median(fast.map((s) => s.wallMs)).toFixed(0)} ms`, '≤ 150 ms']);
    rows.push(['  git status --porcelain -uall, same workspace', `${median(status).toFixed(0)} ms`, '']);
    rows.push(['  idle node -e 0', `${median(idleNode).toFixed(0)} ms`, '']);
    rows.push(['  the same step through Node (as every step with a change)', `${median(node.map((s) => s.wallMs)).toFixed(0)} ms`, '']);
    rows.push(['  peak RSS: script / Node', `${mib(peak([fastRss]))} MiB / ${mib(peak([nodeRss]))} MiB (idle + ${mib(peak([nodeRss]) - idle)})`, '≤ idle + 64']);

    // 2. The report's turn through the hook, without an agent.
    const report = join(root, 'report');
    mkdirSync(join(report, 'src'), { recursive: true });
    writeFileSync(join(report, 'src', 'main.txt'), 'hello\n');
    gitInit(report);
    const rbase = { session_id: 'report', cwd: report, transcript_path: '/dev/null' };
    const endCommand = hookCommand('claude', process.execPath, CLI, true);
    let worst = 0;
    // SNAPLINE_DEFER_SUMMARY=0 measures the ends computing the summary before they return.
    const deferred = process.env.SNAPLINE_DEFER_SUMMARY !== '0';
    for (let t = 1; t <= 2; t++) {
      const b = await hookOnce(report, env, { ...rbase, hook_event_name: 'UserPromptSubmit', prompt: `Regenerate the build files (turn ${t}).` });
      execFileSync(process.execPath, [TURN_SCRIPT, String(t), ...sizes.map(String)], { cwd: report });
      const s = await hookOnce(report, env, { ...rbase, hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: `node demo-turn.js ${t}` } });
      const offset = logOffset(env);
      const endAt = Date.now();
      // The end as installed (through the step hook script, which answers an end with nothing changed since the step).
      const e = await commandOnce(report, env, endCommand, { ...rbase, hook_event_name: 'Stop', stop_hook_active: false }, true);
      for (const [name, m] of [['begin', b], ['step', s], ['end', e]] as const) {
        if (m.stderr) throw new Error(`hook ${name}: ${m.stderr}`);
        worst = Math.max(worst, m.rss);
        rows.push([`report turn ${t}: hook ${name}`, `${(m.wallMs / 1000).toFixed(2)} s, ${mib(m.rss)} MiB`, '']);
      }
      if (!deferred) continue;
      const bg = await summariesLogged(env, offset, 1);
      worst = Math.max(worst, bg.rss);
      rows.push([`report turn ${t}: summary recorded in the background`, `${((bg.doneAt - endAt) / 1000).toFixed(2)} s after the end began, ${mib(bg.rss)} MiB`, '']);
    }
    rows.push(['report turn: worst hook process', `idle + ${mib(worst - idle)} MiB`, '≤ idle + 64']);
    const stored = JSON.parse(
      spawnSync(process.execPath, [CLI, 'db', '--format', 'json', `SELECT u.id, length(u.data) + (SELECT COALESCE(SUM(length(m.data)), 0) FROM message m WHERE json_extract(m.data, '$.parentID') = u.id) + (SELECT COALESCE(SUM(length(p.data)), 0) FROM part p WHERE p.message_id = u.id OR p.message_id IN (SELECT m.id FROM message m WHERE json_extract(m.data, '$.parentID') = u.id)) AS bytes FROM message u WHERE json_extract(u.data, '$.role') = 'user' AND u.session_id = (SELECT id FROM session WHERE agent_session = 'report')`], { env, encoding: 'utf8' }).stdout,
    ) as { bytes: number }[];
    rows.push(['bytes stored per user message (report turn)', stored.map((r) => r.bytes).join(', '), '< 4096']);

    // 3. The report's turn through each real agent, without and with snapline.
    if (process.env.SNAPLINE_SKIP_AGENT_TESTS !== '1') {
      const runs = Math.max(1, Number(process.env.SNAPLINE_BENCH_AGENT_RUNS ?? '3') || 3);
      const only = process.env.SNAPLINE_BENCH_AGENTS?.split(',').filter(Boolean);
      for (const agent of AGENT_TURNS) {
        if (only && !only.includes(agent.name)) continue;
        try {
          rows.push(...(await agentTurns(agent, { root, env, sizes, runs, idle, deferred })));
        } catch (e) {
          rows.push([`${agent.title} turn`, `not measured: ${(e as Error).message.split('\n')[0]}`, '']);
        }
      }
    }
  } finally {
    // The agents' standbys wait as spares for 5 minutes: ended before their data directory goes.
    const { quietBackground } = await import('../test/helpers/summarizers.js');
    quietBackground(env.SNAPLINE_HOME);
    rmSync(root, { recursive: true, force: true, maxRetries: 5 });
  }
  console.log(`\nagents — what snapline's hooks cost (sizes ×${scale}; idle node ${mib(idle)} MiB; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  printTable(rows);
}
