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

/**
 * Runs argv in `cwd`, passing every output chunk to `onOutput` as it arrives (stdout and stderr
 * told apart) and keeping only a PREVIEW_BYTES preview, so output of any size costs no memory.
 */
export function runCommand(argv: string[], cwd: string, onOutput: (chunk: Buffer, stream: 'stdout' | 'stderr') => void, env: NodeJS.ProcessEnv = process.env): Promise<CommandResult> {
  return new Promise((resolvePromise) => {
    const start = Date.now();
    const head: Buffer[] = [];
    let kept = 0;
    let total = 0;
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (stream: 'stdout' | 'stderr') => (b: Buffer) => {
      total += b.length;
      if (kept < PREVIEW_BYTES) {
        const part = b.subarray(0, PREVIEW_BYTES - kept);
        head.push(Buffer.from(part));
        kept += part.length;
      }
      onOutput(b, stream);
    };
    child.stdout.on('data', take('stdout'));
    child.stderr.on('data', take('stderr'));
    let spawnError: string | undefined;
    child.on('error', (e) => {
      spawnError = e.message;
    });
    // Ctrl-C or a kill aimed at snapline goes to the command, so the turn still finishes and is recorded.
    const forward = (sig: NodeJS.Signals) => () => void child.kill(sig);
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    child.on('close', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
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
      resolvePromise(r);
    });
  });
}
