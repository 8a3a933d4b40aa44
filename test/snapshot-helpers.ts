import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary directory removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `snapline-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs git in `cwd` with a fixed identity; returns trimmed stdout. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' },
  }).trim();
}

/** A tiny deterministic PRNG (mulberry32), so property tests replay exactly. */
export function prng(seed: number): { next: () => number; int: (n: number) => number; pick: <T>(xs: readonly T[]) => T } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)]! };
}

/** What a path is in a directory snapshot computed by walking it (`.git` skipped). */
export type Entry = { kind: 'file'; exec: boolean; sha: string } | { kind: 'link'; target: string };

/** Every file and symlink under `root` except inside `.git` directories, by relative path. */
export function walkState(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const visit = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      if (name === '.git') continue;
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, r));
      if (st.isDirectory()) visit(r);
      else if (st.isSymbolicLink()) out.set(r, { kind: 'link', target: readlinkSync(join(root, r)) });
      else out.set(r, { kind: 'file', exec: (st.mode & 0o100) !== 0, sha: createHash('sha1').update(readFileSync(join(root, r))).digest('hex') });
    }
  };
  visit('');
  return out;
}

/** sha1 of every file (and symlink target) under `dir`, for byte-identity checks. */
export function hashTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, r));
      if (st.isDirectory()) {
        out.set(r + '/', 'dir');
        visit(r);
      } else if (st.isSymbolicLink()) out.set(r, 'link:' + readlinkSync(join(dir, r)));
      else out.set(r, `${st.mode.toString(8)}:${createHash('sha1').update(readFileSync(join(dir, r))).digest('hex')}`);
    }
  };
  visit('');
  return out;
}

/** Modification time and content hash of every file, to prove a restore left them alone. */
export function mtimes(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [p, e] of walkState(root)) out.set(p, `${lstatSync(join(root, p)).mtimeMs}:${JSON.stringify(e)}`);
  return out;
}
