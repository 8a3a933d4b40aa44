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

/**
 * git settings that keep a reader's own memory small: big blobs stream instead of being
 * inflated whole, and pack files are mapped in 1 MiB windows (git maps up to 1 GiB at a time
 * by default, and every page it touches counts as resident).
 */
export const STREAMING_GIT: Readonly<Record<string, string>> = {
  'core.bigFileThreshold': '1m',
  'core.packedGitWindowSize': '1m',
  'core.packedGitLimit': '4m',
  'core.deltaBaseCacheLimit': '4m',
};

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

/** A word for sh: quoted unless it is made only of characters sh takes literally. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_\/.,:+@%=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
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

/** Marks the line listRecordsTogether's shell adds to stderr: the two exit statuses. */
const STATUS_MARK = 'snapline-listing-status';

/**
 * Runs two read-only git listings side by side and returns each one's records (split on `sep`,
 * NUL for `-z` output). One child process starts both — `/bin/sh`, the first one's output on
 * its stdout, the second's on fd 3 — instead of two spawns: each spawn forks the whole Node
 * process and blocks it meanwhile, which on a small, busy machine costs as much as a small
 * git command. Fails with a GitError naming the first command that failed. (Without /bin/sh, on
 * Windows, two spawns.)
 */
export async function listRecordsTogether(ctx: GitContext, a: readonly string[], b: readonly string[], sep = 0): Promise<[Buffer[], Buffer[]]> {
  if (process.platform === 'win32') return Promise.all([collect(gitRecords(ctx, a, sep)), collect(gitRecords(ctx, b, sep))]);
  const command = (args: readonly string[]) => ['git', ...gitArgv(ctx, args)].map(shellQuote).join(' ');
  const script = [
    `${command(a)} 3>&- & a=$!`,
    `${command(b)} >&3 3>&-`,
    'b=$?',
    'wait "$a"',
    'a=$?',
    '[ "$a" -eq 0 ] && [ "$b" -eq 0 ] && exit 0',
    `printf '\\n${STATUS_MARK} %s %s\\n' "$a" "$b" >&2`,
    'exit 1',
  ].join('\n');
  const child = spawn('/bin/sh', ['-c', script], { cwd: ctx.cwd, env: childEnv(ctx), stdio: ['ignore', 'pipe', 'pipe', 'pipe'], windowsHide: true });
  const records: [Buffer[], Buffer[]] = [[], []];
  const split = (into: Buffer[]) => {
    let rest: Buffer = Buffer.alloc(0);
    return (chunk: Buffer | null) => {
      if (chunk === null) {
        if (rest.length) into.push(Buffer.from(rest));
        return;
      }
      const buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
      let start = 0;
      for (let i = buf.indexOf(sep); i >= 0; i = buf.indexOf(sep, start)) {
        into.push(Buffer.from(buf.subarray(start, i)));
        start = i + 1;
      }
      rest = buf.subarray(start);
    };
  };
  const err: Buffer[] = [];
  const outputs = [child.stdout!, child.stdio[3] as NodeJS.ReadableStream].map(
    (stream, k) =>
      new Promise<void>((resolve) => {
        const add = split(records[k as 0 | 1]);
        stream.on('data', (chunk: Buffer) => add(chunk));
        stream.on('end', () => {
          add(null);
          resolve();
        });
        stream.on('close', () => resolve());
      }),
  );
  child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));
  const status = await new Promise<number>((resolve, reject) => {
    child.on('error', (e: NodeJS.ErrnoException) => reject(new GitError(a, null, e.message)));
    child.on('close', (code) => resolve(code ?? 128));
  });
  await Promise.all(outputs);
  if (status === 0) return records;
  const stderr = Buffer.concat(err).toString('utf8');
  const mark = new RegExp(`\\n${STATUS_MARK} (\\d+) (\\d+)\\n$`).exec(stderr);
  const text = mark ? stderr.slice(0, mark.index) : stderr;
  const [statusA, statusB] = mark ? [Number(mark[1]), Number(mark[2])] : [status, 0];
  const [args, code] = statusA !== 0 ? [a, statusA] : [b, statusB];
  throw new GitError(args, code, text, code === 127 ? 'git is not installed or not on PATH' : undefined);
}

async function collect(records: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const rec of records) out.push(Buffer.from(rec));
  return out;
}
