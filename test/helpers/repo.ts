import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A scratch git repository in a temp dir; `git(...)` runs the real git binary in it. */
export function tempRepo(prefix = 'snapline-test-'): { dir: string; git: (...args: string[]) => string; gitBuf: (...args: string[]) => Buffer; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const gitBuf = (...args: string[]) => execFileSync('git', args, { cwd: dir, maxBuffer: 1 << 30, env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' } });
  const git = (...args: string[]) => gitBuf(...args).toString('utf8');
  git('init', '-q');
  git('config', 'core.autocrlf', 'false');
  return { dir, git, gitBuf, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** `n` distinct lines of text (`<prefix> <i> <random>`), the same for the same seed. */
export function seededLines(n: number, seed: number, prefix: string): string[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => `${prefix} ${i} ${Math.floor(r() * 1e9).toString(36)}`);
}

/** Small deterministic PRNG (mulberry32) so generated cases repeat exactly. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const CLI = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..', 'src', 'cli', 'main.js');
