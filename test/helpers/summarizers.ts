/**
 * The background summarizers (`snapline summarize`, started detached by hook ends), sealers
 * (`snapline snapshot seal`, started by tracks that left big files pending) and recorders of
 * ends the step hook script answered (`snapline hook AGENT --pending-end`) of one data
 * directory: a test waits for them before deleting that directory, as they outlive the hook.
 * And the standbys (src/agents/standby.ts), which a test ends instead.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Pids of running `snapline summarize`, `snapline snapshot seal` and `snapline hook … --pending-end` processes whose SNAPLINE_HOME is `home` (Linux: /proc). */
export function summarizers(home: string): number[] {
  return processesOf(home, (argv) => argv.includes('summarize') || (argv.includes('snapshot') && argv.includes('seal')) || argv.includes('--pending-end'));
}

/**
 * Pids of the standbys of `home` (`snapline hook AGENT --standby`, and deferred begins' recorders,
 * which stay on as standbys): they wait up to five idle minutes, so a test ends them rather than
 * waiting.
 */
function standbys(home: string): number[] {
  return processesOf(home, (argv) => argv.includes('hook') && (argv.includes('--standby') || argv.includes('--begin-from')));
}

function processesOf(home: string, wanted: (argv: string[]) => boolean): number[] {
  const found: number[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return found; // no /proc: nothing to wait for here
  }
  for (const pid of pids) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!wanted(argv)) continue;
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`SNAPLINE_HOME=${home}`)) found.push(Number(pid));
    } catch {
      /* gone meanwhile, or not ours */
    }
  }
  return found;
}

/** Ends behind steps (src/session/fast-steps.ts, endsBehind) of `home` that a standby is still to record. */
function endsBehind(home: string): string[] {
  try {
    return readdirSync(join(home, 'fast-steps', 'ends')).filter((n) => /\+(behind|ending)\.\d+$/.test(n));
  } catch {
    return [];
  }
}

/** Waits (up to `ms`) until no summarizer of `home` runs and its standbys have recorded the ends behind steps. */
export function waitForSummarizers(home: string, ms = 60_000): void {
  const until = Date.now() + ms;
  while ((summarizers(home).length > 0 || endsBehind(home).length > 0) && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
}

/** Before a test removes the data directory `home`: waits for its summarizers and ends its standbys. */
export function quietBackground(home: string): void {
  waitForSummarizers(home);
  for (const pid of standbys(home)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
}
