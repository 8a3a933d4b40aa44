import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';

/** A top-level CLI command: its one-line summary, full help text, and entry point. */
export interface Command {
  summary: string;
  help: string;
  /** Runs with the arguments after the command name; resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

/** util.parseArgs with snapline's conventions: unknown flags are usage errors, `--` ends options. */
export function parse<O extends Options>(argv: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    // util.parseArgs explains over several lines; a usage error is one line.
    const first = (e as Error).message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(`${first.replace(/\.$/, '')} (values starting with '-' go as --option=VALUE; see --help)`);
  }
}

/** A non-negative integer option value, or a usage error naming the option. */
export function intOption(name: string, value: string | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) > max) throw new UsageError(`--${name} must be a whole number from 0 to ${max}, not '${value}'`);
  return Number(value);
}

/** Writes to stdout, waiting when the pipe is full (so huge output never queues in memory). */
export function write(text: string | Buffer): Promise<void> | void {
  if (!process.stdout.write(text)) return new Promise((resolve) => process.stdout.once('drain', () => resolve()));
}

/**
 * A `LABEL done/total` line on stderr, redrawn at most every 100 ms, only for a person
 * watching a terminal (pipes and files stay clean).
 */
export function counterLine(label: string): { update?: (done: number, total: number) => void; clear(): void } {
  if (!process.stderr.isTTY) return { clear() {} };
  let shown = false;
  let last = 0;
  return {
    update(done, total) {
      const now = Date.now();
      if (done < total && now - last < 100) return;
      last = now;
      process.stderr.write(`\r\x1b[K${label} ${done}/${total}`);
      shown = true;
    },
    clear() {
      if (shown) process.stderr.write('\r\x1b[K');
      shown = false;
    },
  };
}

/**
 * One status line on stderr, redrawn in place and cut to the terminal's width (a wrapped line
 * could not be redrawn), only for a person watching a terminal: pipes and files stay clean.
 * Anything else written to the terminal goes after clear().
 */
export function statusLine(): { show?: (text: string) => void; clear(): void } {
  if (!process.stderr.isTTY) return { clear() {} };
  let shown = false;
  return {
    show(text) {
      const width = Math.max(10, (process.stderr.columns || 80) - 1);
      process.stderr.write(`\r\x1b[K${text.length > width ? text.slice(0, width - 1) + '…' : text}`);
      shown = true;
    },
    clear() {
      if (shown) process.stderr.write('\r\x1b[K');
      shown = false;
    },
  };
}

/** Columns for laid-out text, as git decides them: $COLUMNS, else the terminal's, else 80. */
export function terminalColumns(): number {
  const env = Number(process.env.COLUMNS);
  if (Number.isInteger(env) && env > 0) return env;
  return process.stdout.isTTY ? process.stdout.columns : 80;
}

/** Errors a command already reported on stdout as JSON (so main does not say it twice). */
const reportedOnStdout = new WeakSet<object>();

/** Notes that `e` has already been written to stdout in the command's JSON output. */
export function markReportedOnStdout(e: unknown): void {
  if (typeof e === 'object' && e !== null) reportedOnStdout.add(e);
}

/** Was `e` already written to stdout in the command's JSON output? */
export function isReportedOnStdout(e: unknown): boolean {
  return typeof e === 'object' && e !== null && reportedOnStdout.has(e);
}

/** Does the command line ask for `--format json` (before any `--`)? */
export function asksForJson(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return false;
    if (a === '--format=json' || (a === '--format' && argv[i + 1] === 'json')) return true;
  }
  return false;
}
