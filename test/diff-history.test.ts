import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { numstatBetween, type DiffStat } from '../src/diff/numstat.js';
import { patchStream, type PatchOptions } from '../src/diff/patch.js';
import type { GitContext } from '../src/git/run.js';
import { displayName } from '../src/diff/stat.js';
import { rng, tempRepo } from './helpers/repo.js';

/**
 * Real histories: every commit against its parent, through snapline and through git —
 * numstat without and with rename detection, and whole patches (-M, --binary) byte for byte.
 * Once on this project's own history (when the tests run inside its repository), once on a
 * generated repository whose commits edit, rename, copy, delete and add text and binary files.
 */
const OWN_COMMITS = 20;
const GENERATED_COMMITS = 25;

/** git with none of the user's or system's configuration, so its output is git's default. */
function gitDefault(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'core.quotePath=true', ...args], { cwd, maxBuffer: 1 << 30, env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' } }).toString('utf8');
}

function numstatText(stats: DiffStat[]): string {
  return stats.map((s) => `${s.binary ? '-' : s.additions}\t${s.binary ? '-' : s.deletions}\t${displayName(s)}\n`).join('');
}

async function patchText(ctx: GitContext, from: string, to: string, opts: PatchOptions): Promise<string> {
  const parts: Buffer[] = [];
  for await (const b of patchStream(ctx, from, to, opts).chunks) parts.push(b);
  return Buffer.concat(parts).toString('utf8');
}

/** Compares each commit of `commits` with its first parent; returns the number compared. */
async function compareHistory(dir: string, commits: string[]): Promise<number> {
  const ctx = { cwd: dir };
  let compared = 0;
  for (const c of commits) {
    const parents = gitDefault(dir, 'rev-list', '--parents', '-n', '1', c).trim().split(' ');
    const parent = parents[1] ?? '4b825dc642cb6eb9a060e54bf8d69288fbee4904'; // the empty tree
    assert.equal(numstatText(await numstatBetween(ctx, parent, c)), gitDefault(dir, 'diff', '--no-renames', '--numstat', parent, c), `numstat of ${c}`);
    assert.equal(numstatText(await numstatBetween(ctx, parent, c, { renames: {} })), gitDefault(dir, 'diff', '-M', '--numstat', parent, c), `-M numstat of ${c}`);
    assert.equal(await patchText(ctx, parent, c, { renames: {}, binary: true }), gitDefault(dir, 'diff', '-M', '--binary', parent, c), `-M --binary patch of ${c}`);
    compared++;
  }
  return compared;
}

describe('real histories against git', () => {
  it("this project's own history: numstat, -M numstat and -M --binary patches of its last commits", async (t) => {
    let root: string;
    try {
      root = execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd: import.meta.dirname, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    } catch {
      t.skip('not run inside a git repository');
      return;
    }
    const commits = gitDefault(root, 'rev-list', '--first-parent', '-n', String(OWN_COMMITS), 'HEAD').trim().split('\n');
    assert.ok((await compareHistory(root, commits)) >= Math.min(OWN_COMMITS, commits.length));
  });

  const repo = tempRepo();
  before(() => generateHistory(repo, GENERATED_COMMITS));
  after(() => repo.cleanup());

  it('a generated history of edits, renames, copies, binaries and mode changes', async () => {
    const commits = repo.git('rev-list', 'HEAD').trim().split('\n');
    assert.equal(commits.length, GENERATED_COMMITS);
    const renamed = repo.git('log', '-M', '--diff-filter=R', '--format=%H').trim().split('\n').filter(Boolean);
    assert.ok(renamed.length > GENERATED_COMMITS / 3, `${renamed.length} commits rename files`);
    assert.equal(await compareHistory(repo.dir, commits), GENERATED_COMMITS);
  });
});

/** Commits of random work on a small project: each commit does a few things to a few files. */
function generateHistory(repo: ReturnType<typeof tempRepo>, commits: number): void {
  const r = rng(20261201);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const dirs = ['', 'src/', 'src/core/', 'lib/', 'docs/', 'assets/'];
  const words = Array.from({ length: 60 }, (_, k) => (k % 9 === 0 ? '' : `word${k} ${'-'.repeat(k % 13)}`));
  const textOf = (n: number) => Array.from({ length: n }, () => pick(words)).join('\n') + '\n';
  const binaryOf = (n: number) => Buffer.from(Array.from({ length: n }, () => (r() < 0.2 ? 0 : Math.floor(r() * 256))));
  const files = (): string[] => {
    const out: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(join(repo.dir, d))) {
        if (e === '.git') continue;
        const p = d ? `${d}/${e}` : e;
        if (statSync(join(repo.dir, p)).isDirectory()) walk(p);
        else out.push(p);
      }
    };
    walk('');
    return out;
  };
  const put = (p: string, content: string | Buffer) => {
    mkdirSync(dirname(join(repo.dir, p)), { recursive: true });
    writeFileSync(join(repo.dir, p), content);
  };
  for (let i = 0; i < 12; i++) put(`${pick(dirs)}file${i}.${r() < 0.2 ? 'bin' : 'txt'}`, r() < 0.2 ? binaryOf(500) : textOf(20 + Math.floor(r() * 60)));
  for (let c = 0; c < commits; c++) {
    if (c > 0) {
      for (let k = 0; k < 1 + Math.floor(r() * 4); k++) {
        const all = files();
        const f = pick(all);
        const op = r();
        const edited = () => {
          const full = join(repo.dir, f);
          const body = execFileSync('cat', [full]);
          if (body.indexOf(0) >= 0) {
            const b = Buffer.from(body);
            b[Math.floor(r() * b.length)] ^= 0xff;
            return Buffer.concat([b, binaryOf(Math.floor(r() * 100))]);
          }
          const lines = body.toString().split('\n');
          for (let e = 0; e < 1 + Math.floor(r() * 5); e++) lines.splice(Math.floor(r() * lines.length), Math.floor(r() * 2), pick(words));
          return lines.join('\n');
        };
        const target = () => `${pick(dirs)}${r() < 0.5 ? f.slice(f.lastIndexOf('/') + 1) : `moved${c}-${k}.txt`}`;
        if (op < 0.3) {
          const to = target();
          if (existsSync(join(repo.dir, to))) continue;
          const content = r() < 0.5 ? null : edited();
          mkdirSync(dirname(join(repo.dir, to)), { recursive: true });
          renameSync(join(repo.dir, f), join(repo.dir, to));
          if (content !== null) writeFileSync(join(repo.dir, to), content);
        } else if (op < 0.55) put(f, edited());
        else if (op < 0.65) {
          const to = target();
          if (!existsSync(join(repo.dir, to))) put(to, edited());
        } else if (op < 0.72 && all.length > 4) rmSync(join(repo.dir, f));
        else if (op < 0.8) chmodSync(join(repo.dir, f), statSync(join(repo.dir, f)).mode & 0o100 ? 0o644 : 0o755);
        else if (op < 0.9) put(`${pick(dirs)}new${c}-${k}.txt`, textOf(10 + Math.floor(r() * 40)));
        else put(`assets/blob${c}-${k}.bin`, binaryOf(200 + Math.floor(r() * 2000)));
      }
    }
    repo.git('add', '-A');
    repo.git('commit', '-q', '--allow-empty', '-m', `commit ${c}`);
  }
}
