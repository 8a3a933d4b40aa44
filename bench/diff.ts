/**
 * Diff engine benchmark: snapline's numstat beside `git diff --numstat` and the body-loading
 * approach, on generated workloads, measured in the same run (wall time, peak RSS of the whole
 * process tree, git children included).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { idleNodeRss, measure, mib, printTable, type Measurement } from './measure.js';
import { writeGenerated, writeRepetitive } from './workload.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The `snapline` command as installed (bin/snapline), as a user runs it. */
const SNAPLINE = join(here, '..', '..', 'bin', 'snapline');
const BODY = join(here, 'body-loading.js');

/** The run of median wall time out of three (git's own time varies by a third between runs here). */
async function median(run: () => Promise<Measurement>): Promise<Measurement> {
  const runs: Measurement[] = [];
  for (let i = 0; i < 3; i++) runs.push(await run());
  return runs.sort((x, y) => x.wallMs - y.wallMs)[1]!;
}

/** A command's measurement, with the sha1 and size of all it wrote to stdout. */
async function hashed(cmd: string, args: string[], cwd: string): Promise<{ m: Measurement; sha: string; bytes: number }> {
  const h = createHash('sha1');
  let bytes = 0;
  const m = await measure(cmd, args, {
    cwd,
    onStdout: (b) => {
      h.update(b);
      bytes += b.length;
    },
  });
  if (m.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${m.stderr}`);
  return { m, sha: h.digest('hex'), bytes };
}

interface Workload {
  name: string;
  /** Also compare whole patches. */
  patches?: boolean;
  /** Writes the files of one side into `dir`. */
  write(dir: string, side: 1 | 2): Promise<void>;
}

export async function run(): Promise<void> {
  const scale = Number(process.env.SNAPLINE_BENCH_SCALE ?? 1);
  const MiB = (n: number) => Math.max(4096, Math.round(n * scale * 1048576));
  const workloads: Workload[] = [
    {
      name: `report pair (${mib(MiB(128))}+${mib(MiB(96))} MiB + 512 KiB, all lines rewritten)`,
      patches: true,
      async write(dir, side) {
        await writeGenerated(join(dir, 'build/CMakeFiles/CMakeConfigureLog.yaml'), MiB(128), side);
        await writeGenerated(join(dir, 'build/build.ninja'), MiB(96), side);
        await writeGenerated(join(dir, 'build/.ninja_log'), 512 * 1024, side);
      },
    },
    {
      name: 'same files, 1% of lines edited',
      patches: true,
      async write(dir, side) {
        const edit = side === 2 ? { every: 100, turn: 2 } : undefined;
        await writeGenerated(join(dir, 'build/CMakeFiles/CMakeConfigureLog.yaml'), MiB(128), 1, edit);
        await writeGenerated(join(dir, 'build/build.ninja'), MiB(96), 1, edit);
        await writeGenerated(join(dir, 'build/.ninja_log'), 512 * 1024, 1, edit);
      },
    },
    {
      name: `${mib(MiB(48))} MiB of 8 distinct lines repeated`,
      async write(dir, side) {
        await writeRepetitive(join(dir, 'repeated.txt'), MiB(48), side - 1);
      },
    },
  ];

  const idle = await idleNodeRss();
  console.log(`\n## Diff engine (idle Node RSS here: ${mib(idle)} MiB)\n`);
  const rows = [['workload', 'tool', 'time s', 'x git', 'peak RSS MiB', 'x git', 'counts', 'stored summary']];
  const patchRows = [['workload', 'tool', 'time s', 'x git', 'peak RSS MiB', 'x git', 'patch', 'size']];
  for (const w of workloads) {
    const root = mkdtempSync(join(tmpdir(), 'snapline-bench-diff-'));
    try {
      const git = (...args: string[]) => execFileSync('git', args, { cwd: root }).toString().trim();
      git('init', '-q');
      // Stored as snapline's snapshot store stores blobs: loose, undeltified, fast compression.
      git('config', 'core.bigFileThreshold', '1m');
      git('config', 'core.compression', '1');
      mkdirSync(join(root, 'build/CMakeFiles'), { recursive: true });
      await w.write(root, 1);
      git('add', '-A');
      const t1 = git('write-tree');
      await w.write(root, 2);
      git('add', '-A');
      const t2 = git('write-tree');

      // The store's low bigFileThreshold must not make git call big text files binary.
      const g = await median(() => measure('git', ['-c', 'core.bigFileThreshold=512m', 'diff', '--no-renames', '--numstat', t1, t2], { cwd: root }));
      const s = await median(() => measure(SNAPLINE, ['diff', t1, t2, '--numstat'], { cwd: root }));
      const sj = await measure(SNAPLINE, ['diff', t1, t2, '--format', 'json'], { cwd: root });
      const b = await measure(process.execPath, [BODY, root, t1, t2], { cwd: root });
      const counts = (out: string) =>
        out
          .trim()
          .split('\n')
          .map((l) => l.split('\t').slice(0, 3).join('\t'))
          .join('\n');
      const same = (out: string) => {
        if (counts(out) === counts(g.stdout)) return 'identical';
        // "~N" marks counts the engine computed over its budget (approximate, and flagged so)
        if (out.includes('~')) return counts(out.replace(/~/g, '')) === counts(g.stdout) ? 'approx., equal' : 'approx., differ';
        return 'DIFFERENT';
      };
      const bodyStored = b.stdout
        .trim()
        .split('\n')
        .reduce((n, l) => n + Number(l.split('\t')[3] ?? 0), 0);
      const row = (tool: string, m: typeof g, c: string, stored: string) => [
        w.name,
        tool,
        (m.wallMs / 1000).toFixed(2),
        (m.wallMs / g.wallMs).toFixed(2),
        mib(m.peakTreeRss),
        (m.peakTreeRss / g.peakTreeRss).toFixed(2),
        c,
        stored,
      ];
      rows.push(row('git diff --numstat', g, 'oracle', '-'));
      rows.push(row('snapline diff --numstat', s, same(s.stdout), `${(sj.stdout.length / 1024).toFixed(1)} KiB`));
      rows.push(row('body-loading', b, same(b.stdout), `${mib(bodyStored)} MiB`));
      if (s.status !== 0) console.error(s.stderr);
      if (w.patches) {
        // Whole patches, each streamed into a hash: git diff against snapline diff --patch.
        const gp = await hashed('git', ['-c', 'core.bigFileThreshold=512m', 'diff', '--no-renames', t1, t2], root);
        const sp = await hashed(SNAPLINE, ['diff', t1, t2, '--patch'], root);
        const text = `${mib(sp.bytes)} MiB of text`;
        patchRows.push([w.name, 'git diff', (gp.m.wallMs / 1000).toFixed(2), '1.00', mib(gp.m.peakTreeRss), '1.00', 'oracle', text]);
        patchRows.push([w.name, 'snapline diff --patch', (sp.m.wallMs / 1000).toFixed(2), (sp.m.wallMs / gp.m.wallMs).toFixed(2), mib(sp.m.peakTreeRss), (sp.m.peakTreeRss / gp.m.peakTreeRss).toFixed(2), sp.sha === gp.sha ? 'byte-identical' : 'DIFFERENT', text]);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
  printTable(rows);
  console.log('');
  printTable(patchRows);
  console.log('\ngit and snapline numstat: the median of three runs. "stored summary": size of the per-file summary each approach would store (snapline: its JSON stats; body-loading: before/after bodies).');
}
