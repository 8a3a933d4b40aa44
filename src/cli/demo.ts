import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';
import { idleNodeRss, measureProcess, mib, type ProcessMeasurement } from '../procmem.js';
import { REPORT_QUERIES, reportPrompt, reportQuery, type ReportSizes } from '../session/report.js';
import { intOption, parse, write, type Command } from './command.js';

const help = `snapline demo — replay the user report's scenario (OpenCode issue 17226) through snapline

Usage:
  snapline demo [--turns N] [--big1-mib N] [--big2-mib N] [--small-kib N] [--home DIR] [--keep]

Creates a temporary git repository and runs N turns of 'snapline run --exec' as child processes;
each turn rewrites build/CMakeFiles/CMakeConfigureLog.yaml (--big1-mib), build/build.ninja
(--big2-mib) and build/.ninja_log (--small-kib) with deterministic text and appends a line to
src/main.txt. Then prints each turn's +/- summary, the report's SQL queries run through
'snapline db --format json', and the peak memory of every step (process tree, git included).
Progress goes to stderr.

Options:
  --turns N        turns to record (default 3)
  --big1-mib N     size of CMakeConfigureLog.yaml in MiB (default 128)
  --big2-mib N     size of build.ninja in MiB (default 96)
  --small-kib N    size of .ninja_log in KiB (default 512)
  --home DIR       snapline data directory to use (default: a temporary one, so your own
                   sessions are never touched)
  --keep           keep the temporary workspace and data directory (paths are printed)
`;

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CLI = join(HERE, 'main.js');
const TURN_SCRIPT = join(HERE, 'demo-turn.js');

interface Step {
  name: string;
  m: ProcessMeasurement;
}

const command: Command = {
  summary: "replay the report's workload (3 turns of 128+96 MiB files) and show memory and rows",
  help,
  async run(argv) {
    const { values: v, positionals } = parse(argv, {
      turns: { type: 'string' },
      'big1-mib': { type: 'string' },
      'big2-mib': { type: 'string' },
      'small-kib': { type: 'string' },
      home: { type: 'string' },
      keep: { type: 'boolean' },
    });
    if (positionals.length) throw new UsageError(`demo takes no arguments (got '${positionals[0]}')`);
    const turns = intOption('turns', v.turns, 3, 1000);
    if (turns === 0) throw new UsageError('--turns must be at least 1');
    const sizes: ReportSizes = {
      big1Bytes: intOption('big1-mib', v['big1-mib'], 128, 2048) * 1048576,
      big2Bytes: intOption('big2-mib', v['big2-mib'], 96, 2048) * 1048576,
      smallBytes: intOption('small-kib', v['small-kib'], 512, 1 << 20) * 1024,
    };
    const log = (m: string) => process.stderr.write(`demo: ${m}\n`);
    const root = mkdtempSync(join(tmpdir(), 'snapline-demo-'));
    const home = v.home ? resolve(v.home) : mkdtempSync(join(tmpdir(), 'snapline-demo-home-'));
    mkdirSync(home, { recursive: true });
    // Its own SQLite file always: the report's queries are SQLite's, and a team database is no place for a demo.
    const env: NodeJS.ProcessEnv = { ...process.env, SNAPLINE_HOME: home, SNAPLINE_DATABASE_URL: '' };
    const steps: Step[] = [];
    const snap = async (name: string, args: string[]) => {
      const m = await measureProcess(process.execPath, [CLI, ...args], { env, cwd: root, exclude: TURN_SCRIPT });
      steps.push({ name, m });
      return m;
    };
    try {
      log(`workspace ${root}`);
      log(`data dir  ${home}${v.home ? '' : ' (temporary)'}`);
      const git = (...args: string[]) => execFileSync('git', args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
      git('init', '-q');
      git('config', 'user.name', 'bug-repro');
      git('config', 'user.email', 'bug-repro@example.com');
      mkdirSync(join(root, 'src'));
      writeFileSync(join(root, 'src', 'main.txt'), 'hello\n');
      git('add', '.');
      git('commit', '-qm', 'init');
      log('measuring an idle node process…');
      const idle = await idleNodeRss();

      let sessionId = '';
      for (let t = 1; t <= turns; t++) {
        log(`turn ${t}/${turns}: snapline run --exec (rewrites ${mib(sizes.big1Bytes)} + ${mib(sizes.big2Bytes)} MiB)…`);
        const target = t === 1 ? ['--title', `summary-diff-repro-${Date.now()}`] : ['--session', sessionId];
        const exec = `'${process.execPath}' '${TURN_SCRIPT}' ${t} ${sizes.big1Bytes} ${sizes.big2Bytes} ${sizes.smallBytes}`;
        const m = await snap(`run (turn ${t})`, ['run', reportPrompt(t, sizes), '--dir', root, ...target, '--format', 'json', '--exec', exec]);
        if (m.status !== 0) throw new UsageError(`turn ${t} failed (exit ${m.status}): ${m.stderr.trim().split('\n').pop()}`);
        if (t === 1) {
          for (const line of m.stdout.split('\n')) {
            if (!line.trim()) continue;
            const e = JSON.parse(line) as { sessionID?: string };
            if (e.sessionID) {
              sessionId = e.sessionID;
              break;
            }
          }
          if (!sessionId) throw new UsageError('turn 1 printed no session id');
          log(`session ${sessionId}`);
        }
        log(`turn ${t} done in ${(m.wallMs / 1000).toFixed(1)} s, peak ${mib(m.peakTreeRss)} MiB`);
      }

      log('session show / session diff / session diff --patch…');
      const show = await snap('session show', ['session', 'show', sessionId, '--format', 'json']);
      await snap('session diff', ['session', 'diff', sessionId]);
      await snap('session diff --patch (1 MiB page)', ['session', 'diff', sessionId, '--patch', '--max-bytes', '1048576']);

      const out: string[] = [`session ${sessionId}`, `workspace ${root}`, '', 'per-turn summaries (stored on the user messages):'];
      const view = JSON.parse(show.stdout) as { messages: { id: string; data: { role: string; summary?: { total: { files: number; additions: number; deletions: number }; diffs: { file: string; additions: number; deletions: number }[] } } }[] };
      let n = 0;
      for (const msg of view.messages) {
        if (msg.data.role !== 'user') continue;
        const s = msg.data.summary;
        out.push(`  turn ${++n} ${msg.id}: ${s ? `${s.total.files} files, +${s.total.additions} -${s.total.deletions}` : 'no summary'}`);
        for (const d of s?.diffs ?? []) out.push(`      +${String(d.additions).padStart(8)} -${String(d.deletions).padStart(8)}  ${d.file}`);
      }
      await write(out.join('\n') + '\n\n');

      log("running the report's SQL queries through 'snapline db --format json'…");
      for (const q of REPORT_QUERIES) {
        const m = await snap(`db: ${q.title}`, ['db', '--format', 'json', reportQuery(q.sql, sessionId)]);
        if (m.status !== 0) throw new UsageError(`query '${q.title}' failed: ${m.stderr.trim()}`);
        await write(`${q.title}:\n${m.stdout}\n`);
      }

      const budget = idle + 64 * 1048576;
      const rows = [['step', 'wall s', 'peak MiB (tree)', 'within idle+64 MiB']];
      for (const s of steps) rows.push([s.name, (s.m.wallMs / 1000).toFixed(2), mib(s.m.peakTreeRss), s.m.peakTreeRss <= budget ? 'yes' : 'NO']);
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      const table = rows.map((r, k) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ') + (k === 0 ? '\n' + widths.map((w) => '-'.repeat(w)).join('  ') : ''));
      await write(`peak memory per step — snapline and its git children; the workload command run by --exec is not counted (idle node ${mib(idle)} MiB, budget ${mib(budget)} MiB):\n${table.join('\n')}\n`);
      const over = steps.filter((s) => s.m.peakTreeRss > budget).map((s) => s.name);
      if (over.length) log(`over the idle + 64 MiB budget: ${over.join(', ')} (see docs/sessions.md, "The demo")`);
      return 0;
    } finally {
      if (v.keep) log(`kept ${root}${v.home ? '' : ` and ${home}`}`);
      else {
        rmSync(root, { recursive: true, force: true });
        if (!v.home) rmSync(home, { recursive: true, force: true });
      }
    }
  },
};

export default command;
