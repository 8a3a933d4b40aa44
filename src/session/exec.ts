/** Running the work of a turn: a shell command or an agent CLI, output streamed and previewed. */
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { AgentNotFound } from './errors.js';

/** The stored preview of a command's output is at most this many bytes. */
export const PREVIEW_BYTES = 32 * 1024;

export interface CommandResult {
  /** Exit code (128 + signal number when killed by a signal; 127 when it could not start). */
  exit: number;
  signal?: string;
  /** The first PREVIEW_BYTES of the output, as text. */
  preview: string;
  /** Total bytes of output (stdout + stderr). */
  outputBytes: number;
  truncated: boolean;
  start: number;
  end: number;
  /** Set when the process could not be started at all. */
  spawnError?: string;
  /** The stop signal snapline received while the command ran (SIGINT, SIGTERM or SIGHUP). */
  interrupted?: NodeJS.Signals;
  /** false when the output went to the terminal (CommandOptions.terminal) and was not captured. */
  captured?: false;
}

/** Splits a command line on whitespace, honouring '…', "…" and backslash escapes (no expansion). */
export function splitCommand(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) cur += line[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else cur += c;
  }
  if (quote) throw new UsageError(`unterminated ${quote} quote in --agent-cmd command`);
  if (has || cur) out.push(cur);
  return out;
}

/** The agent command line as argv with its program resolved on PATH; AgentNotFound if it is not there. */
export function resolveAgent(line: string, cwd: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const argv = splitCommand(line);
  if (argv.length === 0) throw new UsageError('--agent-cmd needs a command');
  const prog = argv[0]!;
  const candidates = prog.includes('/') ? [isAbsolute(prog) ? prog : resolve(cwd, prog)] : (env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, prog));
  for (const c of candidates) {
    try {
      if (!statSync(c).isFile()) continue;
      accessSync(c, constants.X_OK);
      return [c, ...argv.slice(1)];
    } catch {
      /* try the next one */
    }
  }
  throw new AgentNotFound(prog, prog.includes('/') ? 'no such executable file' : 'not found on PATH');
}

/** Signals that ask snapline to stop a turn. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** A second stop signal this soon after the first kills the command outright. */
export const KILL_WINDOW_MS = 3000;

/** How late a terminal's Ctrl-C can reach snapline after reaching the agent (a loaded machine). */
const LATE_CTRL_C_MS = 1000;

/**
 * Where a caught signal goes while a command runs; `again` is set for a second one within
 * KILL_WINDOW_MS. Returns false for a signal that is not a request to stop the turn.
 */
export type SignalTarget = (signal: NodeJS.Signals, again: boolean) => boolean;

/**
 * Stop signals sent to this process, caught (so snapline lives on to record the turn) from
 * catchSignals() until release(). While a command runs they go to it (see runCommand).
 */
export interface SignalCatcher {
  /** The first stop signal received (and not declined by the target), if any. */
  received(): NodeJS.Signals | undefined;
  /** Sends later signals to `target` (undefined: only note them). */
  deliverTo(target: SignalTarget | undefined): void;
  /** The next `signal` within `ms` is dropped: one already handled, arriving late. */
  excuse(signal: NodeJS.Signals, ms: number): void;
  release(): void;
}

/** Starts catching SIGINT, SIGTERM and SIGHUP; `onSignal` hears of each one. */
export function catchSignals(onSignal?: (signal: NodeJS.Signals, again: boolean, running: boolean) => void): SignalCatcher {
  let first: NodeJS.Signals | undefined;
  let last = 0;
  let target: SignalTarget | undefined;
  let excused: { signal: NodeJS.Signals; until: number } | undefined;
  const handler = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (excused?.signal === signal) {
      const late = now <= excused.until;
      excused = undefined;
      if (late) return;
    }
    const again = last !== 0 && now - last <= KILL_WINDOW_MS;
    if (target && !target(signal, again)) return;
    last = now;
    first ??= signal;
    onSignal?.(signal, again, target !== undefined);
  };
  for (const sig of STOP_SIGNALS) process.on(sig, handler);
  return {
    received: () => first,
    deliverTo: (t) => {
      target = t;
    },
    excuse: (signal, ms) => {
      excused = { signal, until: Date.now() + ms };
    },
    release: () => {
      for (const sig of STOP_SIGNALS) process.off(sig, handler);
    },
  };
}

export interface CommandOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * Give the command this terminal: stdin/stdout/stderr inherited and snapline's process group
   * kept, so an interactive agent reads keys and gets Ctrl-C straight from the terminal. Its
   * output is then neither seen nor stored by snapline.
   */
  terminal?: boolean;
  /** Stop signals caught by snapline go to the command while it runs. */
  signals?: SignalCatcher;
}

/**
 * Runs argv in `cwd`, passing every output chunk to `onOutput` as it arrives (stdout and stderr
 * told apart) and keeping only a PREVIEW_BYTES preview, so output of any size costs no memory.
 *
 * The command runs in a process group of its own, so a stop signal caught by `signals` reaches
 * everything it started (`bash -c 'a; b'` waits on `b`, which must get the signal itself); a
 * second one within KILL_WINDOW_MS kills the group. With `terminal`, the command shares
 * snapline's group (the terminal's foreground), so the terminal's Ctrl-C reaches it directly and
 * is not sent again; SIGTERM and SIGHUP are passed on to it.
 */
export function runCommand(argv: string[], cwd: string, onOutput: (chunk: Buffer, stream: 'stdout' | 'stderr') => void, opts: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolvePromise) => {
    const start = Date.now();
    const head: Buffer[] = [];
    let kept = 0;
    let total = 0;
    const terminal = opts.terminal ?? false;
    const child = terminal
      ? spawn(argv[0]!, argv.slice(1), { cwd, env: opts.env ?? process.env, stdio: 'inherit' })
      : spawn(argv[0]!, argv.slice(1), { cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const take = (stream: 'stdout' | 'stderr') => (b: Buffer) => {
      total += b.length;
      if (kept < PREVIEW_BYTES) {
        const part = b.subarray(0, PREVIEW_BYTES - kept);
        head.push(Buffer.from(part));
        kept += part.length;
      }
      onOutput(b, stream);
    };
    child.stdout?.on('data', take('stdout'));
    child.stderr?.on('data', take('stderr'));
    let spawnError: string | undefined;
    child.on('error', (e) => {
      spawnError = e.message;
    });
    let interrupted: NodeJS.Signals | undefined;
    const send = (pid: number, signal: NodeJS.Signals) => {
      try {
        process.kill(pid, signal);
      } catch {
        /* already gone */
      }
    };
    let lastCtrlC = 0;
    opts.signals?.deliverTo((signal, again) => {
      // A terminal's Ctrl-C reached an agent that has the terminal along with us: what it means
      // (cancel a step, quit) is the agent's business, not a request to stop the turn.
      if (terminal && signal === 'SIGINT') {
        lastCtrlC = Date.now();
        return false;
      }
      interrupted ??= signal;
      if (child.pid !== undefined) send(terminal ? child.pid : -child.pid, again ? 'SIGKILL' : signal);
      return true;
    });
    child.on('close', (code, signal) => {
      opts.signals?.deliverTo(undefined);
      // The terminal sends its Ctrl-C to the agent and to us at once, but the kernel may hand ours
      // over after the agent has already quit on it: that one is still the agent's.
      if (terminal && Date.now() - lastCtrlC > LATE_CTRL_C_MS) opts.signals?.excuse('SIGINT', LATE_CTRL_C_MS);
      const exit = code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 127);
      const r: CommandResult = {
        exit: spawnError && code === null && !signal ? 127 : exit,
        preview: Buffer.concat(head).toString('utf8'),
        outputBytes: total,
        truncated: total > kept,
        start,
        end: Date.now(),
      };
      if (signal) r.signal = signal;
      if (spawnError) r.spawnError = spawnError;
      if (interrupted) r.interrupted = interrupted;
      if (terminal) r.captured = false;
      resolvePromise(r);
    });
  });
}
