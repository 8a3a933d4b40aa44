import { spawn, type ChildProcess } from 'node:child_process';
import { GitError } from '../errors.js';

/** Where git runs: a repository (`gitDir`), optionally a work tree, plus `-c` settings. */
export interface GitContext {
  /** Directory git runs in (default: process.cwd()). */
  cwd?: string;
  /** Explicit git directory (`--git-dir`). */
  gitDir?: string;
  /** Explicit work tree (`--work-tree`). */
  workTree?: string;
  /** Per-invocation configuration (`-c key=value`). */
  config?: Readonly<Record<string, string>>;
  /** Extra environment for the child (for example GIT_INDEX_FILE). */
  env?: Readonly<Record<string, string>>;
}

/** Variables a parent git (hooks, editors) may export that would redirect our children. */
const INHERITED_GIT_VARS = ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_COMMON_DIR', 'GIT_NAMESPACE', 'GIT_PREFIX'];

/** The full argument vector for `git` in a context: global options first, then `args`. */
export function gitArgv(ctx: GitContext, args: readonly string[]): string[] {
  const argv: string[] = [];
  for (const [k, v] of Object.entries(ctx.config ?? {})) argv.push('-c', `${k}=${v}`);
  if (ctx.gitDir) argv.push('--git-dir', ctx.gitDir);
  if (ctx.workTree) argv.push('--work-tree', ctx.workTree);
  argv.push(...args);
  return argv;
}

function childEnv(ctx: GitContext): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of INHERITED_GIT_VARS) delete env[name];
  env.GIT_TERMINAL_PROMPT = '0';
  env.GIT_CONFIG_NOSYSTEM = env.GIT_CONFIG_NOSYSTEM ?? '';
  return { ...env, ...(ctx.env ?? {}) };
}

/** Starts git with piped stdio; the caller owns the streams. Never goes through a shell. */
export function spawnGit(ctx: GitContext, args: readonly string[]): ChildProcess {
  const child = spawn('git', gitArgv(ctx, args), {
    cwd: ctx.cwd,
    env: childEnv(ctx),
    stdio: ['pipe', 'pipe', 'pipe'],
    windowsHide: true,
  });
  return child;
}

export interface GitResult {
  stdout: Buffer;
  stderr: string;
  status: number;
}

export interface RunOptions {
  /** Bytes written to git's standard input. */
  input?: string | Buffer;
  /** Exit codes that are not failures (default: [0]). */
  okStatus?: readonly number[];
  /** Refuse output larger than this (default 64 MiB): callers with big output must stream. */
  maxStdout?: number;
}

/** Runs git to completion and returns its output; a non-OK exit becomes a GitError. */
export function runGit(ctx: GitContext, args: readonly string[], opts: RunOptions = {}): Promise<GitResult> {
  const maxStdout = opts.maxStdout ?? 64 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawnGit(ctx, args);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let overflow = false;
    child.stdout!.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes > maxStdout) {
        overflow = true;
        child.kill('SIGKILL');
        return;
      }
      out.push(b);
    });
    child.stderr!.on('data', (b: Buffer) => {
      if (errBytes < 65536) err.push(b);
      errBytes += b.length;
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(new GitError(args, null, e.code === 'ENOENT' ? 'git is not installed or not on PATH' : e.message));
    });
    child.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString('utf8');
      if (overflow) return reject(new GitError(args, code, `output larger than ${maxStdout} bytes`));
      const status = code ?? 128;
      if (!(opts.okStatus ?? [0]).includes(status)) {
        return reject(new GitError(args, status, stderr || (signal ? `killed by ${signal}` : '')));
      }
      resolve({ stdout: Buffer.concat(out), stderr, status });
    });
    child.stdin!.on('error', () => {
      /* git may exit before reading all input; its exit status tells what happened */
    });
    child.stdin!.end(opts.input ?? '');
  });
}

/** Runs git and returns its standard output as trimmed text. */
export async function gitText(ctx: GitContext, args: readonly string[], opts?: RunOptions): Promise<string> {
  const r = await runGit(ctx, args, opts);
  return r.stdout.toString('utf8').trim();
}

/**
 * Streams git's standard output split on `sep` (NUL for `-z` output), one record at a time,
 * so listings of any length never sit in memory whole. Fails with git's message on a bad exit.
 */
export async function* gitRecords(ctx: GitContext, args: readonly string[], sep = 0): AsyncGenerator<Buffer> {
  const child = spawnGit(ctx, args);
  child.stdin!.end();
  const err: Buffer[] = [];
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', (e) => reject(new GitError(args, null, e.message)));
    child.on('close', (code) => resolve(code ?? 128));
  });
  let rest: Buffer = Buffer.alloc(0);
  let finished = false;
  try {
    for await (const chunk of child.stdout! as AsyncIterable<Buffer>) {
      let buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
      let start = 0;
      for (let i = buf.indexOf(sep, start); i >= 0; i = buf.indexOf(sep, start)) {
        yield buf.subarray(start, i);
        start = i + 1;
      }
      rest = buf.subarray(start);
      buf = rest;
    }
    if (rest.length) yield rest;
    const code = await exited;
    finished = true;
    if (code !== 0) throw new GitError(args, code, Buffer.concat(err).toString('utf8'));
  } finally {
    if (!finished) child.kill('SIGKILL');
  }
}
