import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
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

/** Where output goes: stdout, or a pager's input while one runs (see withPager). */
let sink: Writable = process.stdout;
let sinkGone = false;

/** The pager was quit (or interrupted) before the output ended: stop producing it. */
class PagerGone extends Error {}

/** Writes to stdout (or the pager), waiting when the pipe is full (so huge output never queues in memory). */
export function write(text: string | Buffer): Promise<void> | void {
  if (sinkGone) throw new PagerGone();
  const out = sink;
  if (!out.write(text)) {
    return new Promise((resolve) => {
      // A pager that quits never drains: its closing ends the wait too.
      const done = () => {
        out.off('drain', done);
        out.off('close', done);
        resolve();
      };
      out.once('drain', done);
      out.once('close', done);
    });
  }
}

/**
 * Turns git's colour flags into one option: bare `--color` is `--color=always`, `--no-color`
 * is `--color=never` (arguments after `--` are left alone).
 */
export function colorArgs(argv: string[]): string[] {
  const dd = argv.indexOf('--');
  return argv.map((a, i) => (dd >= 0 && i > dd ? a : a === '--color' ? '--color=always' : a === '--no-color' ? '--color=never' : a));
}

/**
 * --color auto|always|never. auto, like git: colour when stdout is a terminal whose TERM is set
 * and not "dumb"; unlike git, NO_COLOR (set and not empty) turns auto off too.
 */
export function colorOption(value: string | undefined): boolean {
  const when = value ?? 'auto';
  if (when === 'always') return true;
  if (when === 'never') return false;
  if (when !== 'auto') throw new UsageError(`--color must be auto, always or never, not '${when}'`);
  const term = process.env.TERM;
  return Boolean(process.stdout.isTTY) && term !== undefined && term !== 'dumb' && !process.env.NO_COLOR;
}

/**
 * Runs `produce` with its output sent through a pager when stdout is a terminal, as git does:
 * $SNAPLINE_PAGER, else $PAGER, else `less` with LESS=FRX (quits at once when the text fits
 * the screen, keeps colours, leaves the screen as it is) unless LESS is set. An empty pager or
 * `cat` means none; a pager that cannot be started means output goes to stdout directly.
 * Quitting the pager early ends the command quietly (exit 0).
 */
export async function withPager(enabled: boolean, produce: () => Promise<number>): Promise<number> {
  if (!enabled || !process.stdout.isTTY) return produce();
  const command = (process.env.SNAPLINE_PAGER ?? process.env.PAGER ?? 'less').trim();
  if (command === '' || command === 'cat') return produce();
  const env = { ...process.env, LESS: process.env.LESS ?? 'FRX', LV: process.env.LV ?? '-c' };
  // Like git: a plain program name is started directly (so a missing one is noticed), anything
  // else through the shell.
  const plain = !/[|&;<>()$`\\"' \t\n*?[#~=%]/.test(command);
  const pager = plain ? spawn(command, [], { stdio: ['pipe', 'inherit', 'inherit'], env }) : spawn('sh', ['-c', command], { stdio: ['pipe', 'inherit', 'inherit'], env });
  const started = await new Promise<boolean>((resolve) => {
    pager.once('spawn', () => resolve(true));
    pager.once('error', () => resolve(false));
  });
  if (!started) return produce();
  const exited = new Promise<void>((resolve) => pager.once('close', () => resolve()));
  const input = pager.stdin!;
  input.on('error', () => (sinkGone = true)); // EPIPE: the pager was quit
  // Ctrl-C reaches the pager too: stop producing and let the pager end, as git does.
  const interrupt = () => (sinkGone = true);
  process.on('SIGINT', interrupt);
  sink = input;
  try {
    return await produce();
  } catch (e) {
    if (e instanceof PagerGone) return 0;
    throw e;
  } finally {
    sink = process.stdout;
    input.end();
    await exited;
    process.off('SIGINT', interrupt);
    sinkGone = false;
  }
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
