import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { openRepository, quotePathSetting } from '../git/repo.js';
import type { GitContext } from '../git/run.js';
import { numstatStream, type DiffStat } from '../diff/numstat.js';
import { DEFAULT_RENAME_LIMIT, type RenameOptions } from '../diff/renames.js';
import { parseRenameScore } from '../diff/similarity.js';
import { patchStream, parseCursor, type PatchOptions } from '../diff/patch.js';
import { displayName, formatStat } from '../diff/stat.js';
import { colorArgs, colorOption, intOption, parse, terminalColumns, withPager, write, type Command } from './command.js';

const help = `snapline diff — what changed between two trees, with git's exact +/- numbers

Usage:
  snapline diff [--git-dir DIR | --repo DIR | --dir WORKSPACE] FROM TO [--numstat | --stat | --patch] [options] [-- PATH...]

FROM and TO are any tree-ish git understands: commits, branches, tags, tree ids, HEAD~2.
With --dir, they are snapshot trees of that workspace (ids printed by 'snapline snapshot
track' or stored in a session's step parts), read from its snapshot store.

Output (pick one; default --stat):
  --numstat          "added<TAB>deleted<TAB>path" per file, exactly as 'git diff --numstat'
                     ("-<TAB>-" for binary files)
  --stat             per-file bar graph and a totals line
  --patch            unified diff, produced as it streams (applies with 'git apply')

Options:
  --git-dir DIR      the repository's git directory (default: the repository around --repo)
  --repo DIR         a directory inside the repository (default: the current directory)
  --dir WORKSPACE    compare snapshots in WORKSPACE's snapshot store
  --format FMT       text (default) or json: numstat/stat as a JSON array of
                     {file, status, additions, deletions, binary?, approximate?, before?, after?};
                     with --patch, one page (1 MiB unless --max-bytes) as
                     {"patch": TEXT, "next": CURSOR|null}
  -U, --context N    lines of context in patches (default 3, at most 100000)
  --max-bytes N      stop a patch page after about N bytes, at a line boundary; the cursor to
                     continue from is printed on stderr (text) or as "next" (json)
  --continue CURSOR  continue a patch where a previous page ended
  --budget MIB       work-memory budget per file pair (default 48); over it, counts are
                     approximate and marked so (json "approximate": true, text "~")
  -M[N%], --find-renames[=N%]
                     pair deleted and added files as renames, as 'git diff -M' does: same
                     content first, then similar content (at least N%, default 50%; git's
                     reading of N: -M60% and -M6 both mean 60%). Renames show as
                     "old => new" / "dir/{a => b}" in --numstat and --stat, with
                     "similarity index" and "rename from/to" headers in --patch, and as
                     {"status": "renamed", "from": OLD, "similarity": PERCENT} in json.
                     Off by default (--no-renames), like stored session summaries.
  --rename-limit N   with -M: skip similar-content pairing when deleted x added files
                     exceed N x N (git's diff.renameLimit, default 1000; 0 = no limit)
  --binary           with --patch: binary files as git's binary patches ("GIT binary
                     patch", literal/delta hunks in base85) so the patch applies with
                     'git apply', instead of "Binary files ... differ"
  --color[=WHEN]     git's colours for --stat and --patch: auto (default: when stdout is a
                     terminal, TERM is not "dumb" and NO_COLOR is unset), always, never;
                     --no-color is never
  --no-pager         do not page. On a terminal, text output goes through $SNAPLINE_PAGER,
                     else $PAGER, else 'less' (with LESS=FRX unless LESS is set); a pager
                     of "" or "cat" means none

Patches are git's byte for byte: 'index' lines abbreviate ids to the length git uses for
the repository (core.abbrev, or its automatic length), and paths follow core.quotePath (for
snapshots, the workspace's git setting).

Files of any size are compared in bounded memory: bodies stream (big ones straight from git's
pack files), only per-line integers are kept, and patches are written as they are produced. Binary means what it means to git: a NUL byte in the first 8000 bytes, or a blob
larger than 512 MiB.

Examples:
  snapline diff HEAD~1 HEAD --numstat
  snapline diff main feature --patch -U1 -- src/app.ts
  snapline diff 4b825dc HEAD --patch --max-bytes 65536 > page1.diff
  snapline diff HEAD~1 HEAD --numstat -M
  snapline diff v1.0 v2.0 --stat --find-renames=70%
  snapline diff HEAD~3 HEAD --patch -M --binary > changes.patch && git apply --check changes.patch
  snapline diff --dir ~/work/app 3f2a9c1 8d04e7b --stat
  snapline diff HEAD~3 HEAD --patch --color=always | less -R
  SNAPLINE_PAGER='less -S' snapline diff main feature --patch
`;

/** The repository a diff reads: a workspace's snapshot store, or a git repository. */
export async function repoFromOptions(v: { 'git-dir'?: string; repo?: string; dir?: string }, trees: readonly string[] = []): Promise<GitContext> {
  if ([v['git-dir'], v.repo, v.dir].filter((x) => x !== undefined).length > 1) throw new UsageError('use only one of --git-dir, --repo and --dir');
  if (v.dir !== undefined) {
    // Loaded only here: a plain diff does not pay for the snapshot modules' memory.
    const [{ storeContext }, { StoreMissing }] = await Promise.all([import('../snapshot/store.js'), import('../snapshot/errors.js')]);
    const ctx = await storeContext(v.dir);
    if (!existsSync(ctx.gitDir!)) throw new StoreMissing(resolve(v.dir));
    return ctx;
  }
  return openRepository({ gitDir: v['git-dir'], dir: v.repo, trees });
}

const command: Command = {
  summary: 'compare two trees: numstat, stat or streamed patch, exact and bounded',
  help,
  async run(argv) {
    const { renames, rest } = renameArgs(argv);
    argv = colorArgs(rest);
    const { values: v, positionals } = parse(argv, {
      'git-dir': { type: 'string' },
      repo: { type: 'string' },
      dir: { type: 'string' },
      numstat: { type: 'boolean' },
      stat: { type: 'boolean' },
      patch: { type: 'boolean' },
      format: { type: 'string' },
      context: { type: 'string', short: 'U' },
      'max-bytes': { type: 'string' },
      continue: { type: 'string' },
      budget: { type: 'string' },
      color: { type: 'string' },
      'no-pager': { type: 'boolean' },
      'rename-limit': { type: 'string' },
      binary: { type: 'boolean' },
    });
    const dd = argv.indexOf('--');
    const nBefore = dd < 0 ? positionals.length : positionals.length - (argv.length - dd - 1);
    const revs = positionals.slice(0, nBefore);
    const paths = positionals.slice(nBefore);
    if (revs.length !== 2) throw new UsageError(`diff needs FROM and TO (got ${revs.length} revision${revs.length === 1 ? '' : 's'}); see 'snapline diff --help'`);
    const modes = [v.numstat, v.stat, v.patch].filter(Boolean).length;
    if (modes > 1) throw new UsageError('choose one of --numstat, --stat, --patch');
    const format = v.format ?? 'text';
    if (format !== 'text' && format !== 'json') throw new UsageError(`--format must be text or json, not '${format}'`);
    const context = intOption('context', v.context, 3, 100000);
    const maxBytes = v['max-bytes'] === undefined ? undefined : intOption('max-bytes', v['max-bytes'], 0);
    if (maxBytes === 0) throw new UsageError('--max-bytes must be at least 1');
    const budgetMiB = intOption('budget', v.budget, 48, 1 << 20);
    if (budgetMiB === 0) throw new UsageError('--budget must be at least 1 (MiB)');
    const budgetBytes = budgetMiB * 1048576;
    if ((v['max-bytes'] !== undefined || v.continue !== undefined || v.context !== undefined) && !v.patch) throw new UsageError('--context, --max-bytes and --continue go with --patch');
    if (v.binary && !v.patch) throw new UsageError('--binary goes with --patch');
    if (v['rename-limit'] !== undefined && !renames) throw new UsageError('--rename-limit goes with -M/--find-renames');
    if (renames) renames.limit = intOption('rename-limit', v['rename-limit'], DEFAULT_RENAME_LIMIT);
    const color = colorOption(v.color) && format === 'text';
    const [from, to] = revs as [string, string];
    const ctx = await repoFromOptions(v, [from, to]);
    if (renames) renames.onLimit = warnRenameLimit;
    // Snapshot paths are workspace-relative; the user types them relative to where they are.
    if (v.dir !== undefined && paths.length) {
      const { workspacePath } = await import('../snapshot/paths.js');
      paths.splice(0, paths.length, ...paths.map((p) => workspacePath(ctx.workTree!, p, process.cwd())));
    }
    // Paths are quoted as the user's git would: a snapshot store's own setting is snapline's.
    // Asked while the comparison starts (git processes are slow to start on some machines);
    // JSON statistics carry paths unquoted and do not ask at all.
    const quoteSetting = () => quotePathSetting(v.dir !== undefined ? { cwd: resolve(v.dir) } : ctx);

    if (format === 'json') return diffJson(ctx, from, to, { paths, budgetBytes, quote: quoteSetting, renames, binary: v.binary, patch: v.patch, context, maxBytes, cursor: v.continue });
    const quoting = quoteSetting();
    return withPager(!v['no-pager'], async () => {
      if (v.patch) {
        const opts: PatchOptions = { paths, context, budgetBytes, quotePath: await quoting, color, renames, binary: v.binary, maxBytes, cursor: v.continue ? parseCursor(v.continue) : undefined };
        const stream = patchStream(ctx, from, to, opts);
        for await (const b of stream.chunks) await write(b);
        const next = stream.next();
        if (next) process.stderr.write(`snapline: page ends here; continue with --continue ${next}\n`);
        return 0;
      }
      const progress = progressLine();
      const stats = numstatStream(ctx, from, to, { paths, budgetBytes, renames, onProgress: progress.update });
      if (v.numstat) {
        for await (const s of stats) {
          progress.clear();
          await write(numstatLine(s, await quoting));
        }
        progress.clear();
        return 0;
      }
      const all: DiffStat[] = [];
      for await (const s of stats) all.push(s);
      progress.clear();
      await write(formatStat(all, terminalColumns(), { quotePath: await quoting, color }));
      return 0;
    });
  },
};

/** --format json: the statistics as a JSON array, or one patch page as {patch, next}. */
async function diffJson(
  ctx: GitContext,
  from: string,
  to: string,
  o: { paths: string[]; budgetBytes: number; quote: () => Promise<boolean>; renames?: RenameOptions; binary?: boolean; patch?: boolean; context: number; maxBytes?: number; cursor?: string },
): Promise<number> {
  if (o.patch) {
    const stream = patchStream(ctx, from, to, { paths: o.paths, quotePath: await o.quote(), renames: o.renames, binary: o.binary, context: o.context, budgetBytes: o.budgetBytes, maxBytes: o.maxBytes ?? 1 << 20, cursor: o.cursor ? parseCursor(o.cursor) : undefined });
    const parts: Buffer[] = [];
    for await (const b of stream.chunks) parts.push(b);
    await write(JSON.stringify({ patch: Buffer.concat(parts).toString('utf8'), next: stream.next() ?? null }) + '\n');
    return 0;
  }
  const progress = progressLine();
  let first = true;
  await write('[');
  for await (const s of numstatStream(ctx, from, to, { paths: o.paths, budgetBytes: o.budgetBytes, renames: o.renames, onProgress: progress.update })) {
    progress.clear();
    await write((first ? '\n' : ',\n') + JSON.stringify(s));
    first = false;
  }
  progress.clear();
  await write(first ? ']\n' : '\n]\n');
  return 0;
}

/** On a terminal, a one-line "comparing N/M path" status on stderr; clear() before output. */
function progressLine(): { update?: (done: number, total: number, path: string) => void; clear(): void } {
  if (!process.stderr.isTTY) return { clear() {} };
  let shown = false;
  return {
    update(done, total, path) {
      const width = Math.max(20, (process.stderr.columns ?? 80) - 30);
      const name = path.length > width ? '…' + path.slice(-width + 1) : path;
      process.stderr.write(`\r\x1b[Kcomparing ${done + 1}/${total} ${name}`);
      shown = true;
    },
    clear() {
      if (shown) process.stderr.write('\r\x1b[K');
      shown = false;
    },
  };
}

function numstatLine(s: DiffStat, quoteNonAscii: boolean): string {
  const mark = s.approximate ? '~' : '';
  const name = displayName(s, quoteNonAscii);
  return s.binary ? `-\t-\t${name}\n` : `${mark}${s.additions}\t${mark}${s.deletions}\t${name}\n`;
}

/**
 * git's -M[<n>] and --find-renames[=<n>] (n as git reads it: "50%", "50" meaning 0.50, "0.5"),
 * taken out of the arguments before the others are parsed; --no-renames turns them off.
 * Options after "--" are paths and stay.
 */
export function renameArgs(argv: string[]): { renames?: RenameOptions; rest: string[] } {
  let renames: RenameOptions | undefined;
  const rest: string[] = [];
  let paths = false;
  for (const a of argv) {
    const m = paths ? null : /^(?:-M|--find-renames(?:=|$))(.*)$/.exec(a);
    if (a === '--') paths = true;
    if (m) {
      const { score, rest: junk } = parseRenameScore(m[1]!);
      if (junk !== '' || (a.startsWith('--') && a.includes('=') && m[1] === '')) throw new UsageError(`${a}: expected a similarity like -M50% or --find-renames=50%`);
      renames = m[1] ? { minScore: score } : {};
    } else if (!paths && a === '--no-renames') renames = undefined;
    else rest.push(a);
  }
  return { renames, rest };
}

/** git's warning when the rename matrix is skipped, with the limit that would do. */
function warnRenameLimit(needed: number): void {
  process.stderr.write(`snapline: inexact rename detection was skipped: too many files (use --rename-limit ${needed} or more)\n`);
}

export default command;
