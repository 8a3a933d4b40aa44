/** Memory of a child process tree, sampled from /proc (Linux), for the demo and the benchmarks. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcessMeasurement {
  wallMs: number;
  /** Highest sum of resident set sizes over the process tree (the child and its descendants, minus excluded subtrees). */
  peakTreeRss: number;
  /** The child's own high-water mark (VmHWM). */
  peakMainRss: number;
  /** Each kind of process's highest resident set size seen (by processLabel: "node", "git pack-objects", …). */
  peakByProcess: Map<string, number>;
  status: number | null;
  /** Output, kept up to 4 MiB each. */
  stdout: string;
  stderr: string;
}

const PAGE = 4096;
const KEEP = 4 << 20;

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function rssOf(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE;
  } catch {
    return 0;
  }
}

function hwmOf(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/**
 * A process's kind for per-process peaks: its program's name, and for git the subcommand
 * (options such as `-c key=value` and `--git-dir DIR` skipped), e.g. "git index-pack".
 */
export function processLabel(pid: number): string {
  const args = cmdlineOf(pid).split(' ').filter(Boolean);
  const program = (args[0] ?? '?').split('/').pop()!;
  if (program !== 'git') return program;
  for (let i = 1; i < args.length; i++) {
    if (['-c', '-C', '--git-dir', '--work-tree', '--namespace'].includes(args[i]!)) i++;
    else if (!args[i]!.startsWith('-')) return `git ${args[i]}`;
  }
  return 'git';
}

/** Each process of the tree (minus excluded subtrees) with its resident memory now. */
function treeProcesses(pid: number, exclude: string | undefined, out: [pid: number, rss: number][] = []): [number, number][] {
  out.push([pid, rssOf(pid)]);
  for (const c of childrenOf(pid)) if (!exclude || !cmdlineOf(c).includes(exclude)) treeProcesses(c, exclude, out);
  return out;
}

/**
 * Resident memory of a process and all its descendants now. Subtrees whose command line
 * contains `exclude` are left out (the workload a `run --exec` starts is not snapline's memory).
 */
export function treeRss(pid: number, exclude?: string): number {
  let sum = rssOf(pid);
  for (const c of childrenOf(pid)) if (!exclude || !cmdlineOf(c).includes(exclude)) sum += treeRss(c, exclude);
  return sum;
}

/** The direct children of `pid` whose command line contains `match`. */
export function childrenMatching(pid: number, match: string): number[] {
  return childrenOf(pid).filter((c) => cmdlineOf(c).includes(match));
}

/** Resident memory of one process now, without its children. */
export function ownRss(pid: number): number {
  return rssOf(pid);
}

/** A process's own high-water mark of resident memory (VmHWM; 0 once it is gone). */
export function peakRssOf(pid: number): number {
  return hwmOf(pid);
}

/**
 * Runs a command, sampling its process tree's memory every few milliseconds until it exits.
 * `onStdout` and `onStderr` see the output as it arrives (stdout is kept only up to 4 MiB).
 */
export function measureProcess(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; onStdout?: (chunk: Buffer) => void; onStderr?: (chunk: Buffer) => void; intervalMs?: number; exclude?: string } = {},
): Promise<ProcessMeasurement> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      if (out.length < KEEP) out += b.toString('utf8');
      opts.onStdout?.(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      if (err.length < KEEP) err += b.toString('utf8');
      opts.onStderr?.(b);
    });
    let peakTree = 0;
    let peakMain = 0;
    const peakByProcess = new Map<string, number>();
    const sample = () => {
      if (child.pid === undefined) return;
      let sum = 0;
      for (const [pid, rss] of treeProcesses(child.pid, opts.exclude)) {
        sum += rss;
        if (rss === 0) continue; // gone, or a zombie
        const name = processLabel(pid);
        if (name === '?') continue; // exited between the two reads
        peakByProcess.set(name, Math.max(peakByProcess.get(name) ?? 0, rss));
      }
      peakTree = Math.max(peakTree, sum);
      peakMain = Math.max(peakMain, hwmOf(child.pid));
    };
    const timer = setInterval(sample, opts.intervalMs ?? 5);
    child.on('error', (e) => {
      clearInterval(timer);
      reject(e);
    });
    child.on('exit', () => clearInterval(timer));
    child.on('close', (status) => {
      resolve({ wallMs: performance.now() - start, peakTreeRss: Math.max(peakTree, peakMain), peakMainRss: peakMain, peakByProcess, status, stdout: out, stderr: err });
    });
  });
}

/** Peak resident memory of an idle Node process on this machine (the base memory budgets add to). */
export async function idleNodeRss(): Promise<number> {
  return (await measureProcess(process.execPath, ['-e', 'setTimeout(()=>{},300)'])).peakMainRss;
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}
