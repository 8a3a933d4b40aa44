/**
 * Team benchmarks: what sharing sessions between machines costs. Each part is its own function;
 * `run` prints them one after the other.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { idleNodeRss, measureProcess, mib, type ProcessMeasurement } from '../src/procmem.js';
import { printTable } from './measure.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CLI = join(HERE, '..', 'src', 'cli', 'main.js');
const TURN_SCRIPT = join(HERE, '..', 'src', 'cli', 'demo-turn.js');

export async function run(): Promise<void> {
  await snapshotRemoteBench();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
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
}
