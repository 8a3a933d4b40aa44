/**
 * Sessions benchmark: the user report's workload (SNAPLINE_BENCH_SCALE scales the file sizes,
 * default 1 = 128 MiB + 96 MiB + 512 KiB per turn, 3 turns) recorded with `snapline run`, then
 * `session show` / `session diff` on it, beside the body-loading approach on the same trees, and
 * `session show` on a 100-turn session of small files. Wall time and peak RSS of each process
 * tree (git children included; the workload command itself excluded).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { idleNodeRss, measureProcess, mib, type ProcessMeasurement } from '../src/procmem.js';
import { printTable } from './measure.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CLI = join(HERE, '..', 'src', 'cli', 'main.js');
const TURN_SCRIPT = join(HERE, '..', 'src', 'cli', 'demo-turn.js');
const BODIES = join(HERE, 'session-bodies.js');

export async function run(): Promise<void> {
  const scale = Number(process.env.SNAPLINE_BENCH_SCALE ?? '1') || 1;
  const sizes = [Math.round(128 * 1048576 * scale), Math.round(96 * 1048576 * scale), Math.round(512 * 1024 * scale)];
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'snapline-bench-session-')));
  const home = mkdtempSync(join(tmpdir(), 'snapline-bench-home-'));
  const env = { ...process.env, SNAPLINE_HOME: home };
  const rows: string[][] = [['step', 'wall s', 'peak MiB', 'over idle MiB']];
  const idle = await idleNodeRss();
  const add = (name: string, m: ProcessMeasurement) => {
    if (m.status !== 0) throw new Error(`${name} failed (${m.status}): ${m.stderr}`);
    rows.push([name, (m.wallMs / 1000).toFixed(2), mib(m.peakTreeRss), mib(m.peakTreeRss - idle)]);
    return m;
  };
  const cli = (args: string[], cwd = root) => measureProcess(process.execPath, [CLI, ...args], { env, cwd, exclude: TURN_SCRIPT });
  try {
    const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' });
    const init = (dir: string) => {
      git(dir, 'init', '-q');
      mkdirSync(join(dir, 'src'), { recursive: true });
      writeFileSync(join(dir, 'src', 'main.txt'), 'hello\n');
      git(dir, 'add', '.');
      git(dir, '-c', 'user.name=b', '-c', 'user.email=b@example.com', 'commit', '-qm', 'init');
    };
    init(root);
    let sid = '';
    for (let t = 1; t <= 3; t++) {
      const target = t === 1 ? ['--title', 'bench'] : ['--session', sid];
      const m = add(`run turn ${t} (${mib(sizes[0]!)}+${mib(sizes[1]!)} MiB)`, await cli(['run', `turn ${t}`, '--dir', root, ...target, '--format', 'json', '--exec', `node '${TURN_SCRIPT}' ${t} ${sizes.join(' ')}`]));
      if (t === 1) sid = (JSON.parse(m.stdout.split('\n')[0]!) as { sessionID: string }).sessionID;
    }
    add('session show', await cli(['session', 'show', sid]));
    add('session diff (stored stats)', await cli(['session', 'diff', sid]));
    const users = (JSON.parse((await cli(['db', `SELECT id FROM message WHERE session_id = '${sid}' AND json_extract(data, '$.role') = 'user' ORDER BY id`])).stdout) as { id: string }[]).map((r) => r.id);
    add('session diff --patch turn 2, 1 MiB page', await cli(['session', 'diff', sid, '--message', users[1]!, '--patch', '--max-bytes', '1048576']));
    // The same trees, the body-loading way.
    const steps = JSON.parse((await cli(['db', `SELECT json_extract(data, '$.snapshot') AS s FROM part WHERE session_id = '${sid}' AND json_extract(data, '$.type') IN ('step-start', 'step-finish') ORDER BY id`])).stdout) as { s: string }[];
    process.env.SNAPLINE_HOME = home;
    const { storeDir } = await import('../src/snapshot/index.js');
    const gitDir = await storeDir(root);
    add('body-loading turn 2 (whole blobs as strings)', await measureProcess(process.execPath, [BODIES, gitDir, steps[2]!.s, steps[3]!.s], { env }));

    // 100 small turns.
    const many = realpathSync(mkdtempSync(join(tmpdir(), 'snapline-bench-100-')));
    try {
      init(many);
      let sid100 = '';
      for (let t = 1; t <= 100; t++) {
        const target = t === 1 ? ['--title', 'hundred'] : ['--session', sid100];
        const m = await cli(['run', `small turn ${t}`, '--dir', many, ...target, '--format', 'json', '--exec', `echo ${t} >> src/main.txt; seq ${t} ${t + 50} > f${t % 7}.txt`], many);
        if (m.status !== 0) throw new Error(m.stderr);
        if (t === 1) sid100 = (JSON.parse(m.stdout.split('\n')[0]!) as { sessionID: string }).sessionID;
        if (t === 100) add('run turn 100 of a 100-turn session', m);
      }
      add('session show (100 turns, all 400 messages)', await cli(['session', 'show', sid100, '--limit', '1000'], many));
      add('session show --format json (100 turns)', await cli(['session', 'show', sid100, '--limit', '1000', '--format', 'json'], many));
    } finally {
      rmSync(many, { recursive: true, force: true });
    }
    console.log(`\nsessions — report workload at scale ${scale} (idle node ${mib(idle)} MiB; contract: idle + 64 MiB)`);
    printTable(rows);
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) await run();
