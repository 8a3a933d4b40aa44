import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** Wall time and memory of one command, its child processes included. */
export interface Measurement {
  wallMs: number;
  /** Highest sum of resident set sizes over the process tree, sampled every few milliseconds. */
  peakTreeRss: number;
  /** The top process's own high-water mark (VmHWM / maxRSS). */
  peakMainRss: number;
  status: number | null;
  stdout: string;
  stderr: string;
}

const PAGE = 4096;

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function rssOf(pid: number): number {
  try {
    const statm = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
    return Number(statm[1]) * PAGE;
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

function treeRss(pid: number): number {
  let sum = rssOf(pid);
  for (const c of childrenOf(pid)) sum += treeRss(c);
  return sum;
}

/**
 * Runs a command and samples its process tree's memory from /proc until it exits.
 * Output is kept only up to 1 MiB (the benchmarks print small results).
 */
export function measure(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; stdout?: 'keep' | 'ignore' } = {}): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', opts.stdout === 'ignore' ? 'ignore' : 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout?.on('data', (b: Buffer) => {
      if (out.length < 1 << 20) out += b.toString('utf8');
    });
    child.stderr?.on('data', (b: Buffer) => {
      if (err.length < 1 << 20) err += b.toString('utf8');
    });
    let peakTree = 0;
    let peakMain = 0;
    const sample = () => {
      if (child.pid === undefined) return;
      peakTree = Math.max(peakTree, treeRss(child.pid));
      peakMain = Math.max(peakMain, hwmOf(child.pid));
    };
    const timer = setInterval(sample, 5);
    child.on('error', (e) => {
      clearInterval(timer);
      reject(e);
    });
    child.on('exit', () => {
      clearInterval(timer);
    });
    child.on('close', (status) => {
      resolve({ wallMs: performance.now() - start, peakTreeRss: Math.max(peakTree, peakMain), peakMainRss: peakMain, status, stdout: out, stderr: err });
    });
  });
}

/** Resident memory of an idle Node process on this machine (the base the contracts add to). */
export async function idleNodeRss(): Promise<number> {
  const m = await measure(process.execPath, ['-e', 'setTimeout(()=>{},300)']);
  return m.peakMainRss;
}

/** Formats bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

/** Prints rows as an aligned text table (first row is the header). */
export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const [k, r] of rows.entries()) {
    console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
    if (k === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}
