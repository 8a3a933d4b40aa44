/** Benchmark helpers: process-tree measurement (shared with the demo) and table printing. */
import { measureProcess, type ProcessMeasurement } from '../src/procmem.js';

export { idleNodeRss, mib } from '../src/procmem.js';
export type Measurement = ProcessMeasurement;

/** Wall time and peak memory of a command, its child processes included. */
export function measure(cmd: string, args: string[], opts: Parameters<typeof measureProcess>[2] = {}): Promise<Measurement> {
  return measureProcess(cmd, args, opts);
}

/** Prints rows as an aligned text table (first row is the header). */
export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const [k, r] of rows.entries()) {
    console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
    if (k === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}
