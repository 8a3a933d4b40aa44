import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, realpathSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshDatabase, onPostgres, sqlFor } from './helpers/postgres.js';
import { CLI, tempRepo } from './helpers/repo.js';
import { quietBackground } from './helpers/summarizers.js';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * A workspace (real git repo) plus a private SNAPLINE_HOME, and a runner for the real CLI.
 * With SNAPLINE_TEST_BACKEND=pg its sessions go to a fresh PostgreSQL database (SNAPLINE_DATABASE_URL).
 */
export function sessionFixture() {
  const repo = tempRepo('snapline-session-');
  const home = mkdtempSync(join(tmpdir(), 'snapline-home-'));
  const env: NodeJS.ProcessEnv = { ...process.env, SNAPLINE_HOME: home, SNAPLINE_CONFIG_CONTENT: '', XDG_CONFIG_HOME: join(home, 'config') };
  if (onPostgres) env.SNAPLINE_DATABASE_URL = freshDatabase();
  else delete env.SNAPLINE_DATABASE_URL;
  const cli = (...args: string[]): CliResult => {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: repo.dir, env, encoding: 'utf8', maxBuffer: 1 << 28 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const ok = (...args: string[]): string => {
    const r = cli(...args);
    if (r.status !== 0) throw new Error(`snapline ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  const db = <T = Record<string, unknown>>(sql: string): T[] => JSON.parse(ok('db', '--format', 'json', sqlFor(sql))) as T[];
  /** The shadow store's git dir (the one holding this workspace's snapshots). */
  const storeGitDir = (): string => {
    const root = join(home, 'snapshot');
    for (const project of readdirSync(root)) for (const d of readdirSync(join(root, project))) if (existsSync(join(root, project, d, 'snapline-worktree'))) return join(root, project, d);
    throw new Error('no snapshot store');
  };
  return {
    dir: realpathSync(repo.dir),
    home,
    env,
    git: repo.git,
    cli,
    ok,
    db,
    storeGitDir,
    cleanup: () => {
      // A hook's end leaves a summarizer running for a while (it writes in `home` until done), a
      // standby waits minutes for its session's next event.
      quietBackground(home);
      repo.cleanup();
      rmSync(home, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}

/** The session id from `run --format json` output (first event). */
export function sessionOf(jsonLines: string): string {
  for (const line of jsonLines.split('\n')) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as { sessionID?: string };
    if (e.sessionID) return e.sessionID;
  }
  throw new Error('no sessionID in output: ' + jsonLines);
}

/** Asserts a failed CLI call: non-zero exit and exactly one line on stderr. */
export function oneLineError(r: CliResult): string {
  if (r.status === 0) throw new Error(`expected failure, got exit 0: ${r.stdout}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== 1) throw new Error(`expected a one-line error, got:\n${r.stderr}`);
  if (lines[0]!.includes('internal error')) throw new Error(`internal error: ${r.stderr}`);
  return lines[0]!;
}

/** git's numstat between two snapshot trees of a fixture's store (git's default bigFileThreshold, so big text is text). */
export function gitNumstat(f: ReturnType<typeof sessionFixture>, from: string, to: string): { file: string; additions: number; deletions: number }[] {
  return execFileSync('git', ['-c', 'core.bigFileThreshold=512m', '--git-dir', f.storeGitDir(), 'diff', '--no-renames', '--numstat', from, to], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [a, d, file] = l.split('\t');
      return { file: file!, additions: Number(a), deletions: Number(d) };
    });
}
