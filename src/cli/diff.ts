import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { openRepository, quotePathSetting } from '../git/repo.js';
import type { GitContext } from '../git/run.js';
import { numstatStream, type FileStat } from '../diff/numstat.js';
import { patchStream, parseCursor, type PatchOptions } from '../diff/patch.js';
import { quotePath } from '../diff/quote.js';
import { formatStat } from '../diff/stat.js';
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
  snapline diff --dir ~/work/app 3f2a9c1 8d04e7b --stat
  snapline diff HEAD~3 HEAD --patch --color=always | less -R
  SNAPLINE_PAGER='less -S' snapline diff main feature --patch
`;

/** The repository a diff reads: a workspace's snapshot store, or a git repository. */
export async function repoFromOptions(v: { 'git-dir'?: string; repo?: string; dir?: string }): Promise<GitContext> {
  if ([v['git-dir'], v.repo, v.dir].filter((x) => x !== undefined).length > 1) throw new UsageError('use only one of --git-dir, --repo and --dir');
  if (v.dir !== undefined) {
    // Loaded only here: a plain diff does not pay for the snapshot modules' memory.
    const [{ storeContext }, { StoreMissing }] = await Promise.all([import('../snapshot/store.js'), import('../snapshot/errors.js')]);
    const ctx = await storeContext(v.dir);
    if (!existsSync(ctx.gitDir!)) throw new StoreMissing(resolve(v.dir));
    return ctx;
  }
  return openRepository({ gitDir: v['git-dir'], dir: v.repo });
}

const command: Command = {
  summary: 'compare two trees: numstat, stat or streamed patch, exact and bounded',
  help,
  async run(argv) {
    argv = colorArgs(argv);
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
    const color = colorOption(v.color) && format === 'text';
    const [from, to] = revs as [string, string];
    const ctx = await repoFromOptions(v);
    // Snapshot paths are workspace-relative; the user types them relative to where they are.
    if (v.dir !== undefined && paths.length) {
      const { workspacePath } = await import('../snapshot/paths.js');
      paths.splice(0, paths.length, ...paths.map((p) => workspacePath(ctx.workTree!, p, process.cwd())));
    }
    // Paths are quoted as the user's git would: a snapshot store's own setting is snapline's.
    const quote = await quotePathSetting(v.dir !== undefined ? { cwd: resolve(v.dir) } : ctx);

    if (format === 'json') return diffJson(ctx, from, to, { paths, budgetBytes, quote, patch: v.patch, context, maxBytes, cursor: v.continue });
    return withPager(!v['no-pager'], async () => {
      if (v.patch) {
        const opts: PatchOptions = { paths, context, budgetBytes, quotePath: quote, color, maxBytes, cursor: v.continue ? parseCursor(v.continue) : undefined };
        const stream = patchStream(ctx, from, to, opts);
        for await (const b of stream.chunks) await write(b);
        const next = stream.next();
        if (next) process.stderr.write(`snapline: page ends here; continue with --continue ${next}\n`);
        return 0;
      }
      const progress = progressLine();
      const stats = numstatStream(ctx, from, to, { paths, budgetBytes, onProgress: progress.update });
      if (v.numstat) {
        for await (const s of stats) {
          progress.clear();
          await write(numstatLine(s, quote));
        }
        progress.clear();
        return 0;
      }
      const all: FileStat[] = [];
      for await (const s of stats) all.push(s);
      progress.clear();
      await write(formatStat(all, terminalColumns(), { quotePath: quote, color }));
      return 0;
    });
  },
};

/** --format json: the statistics as a JSON array, or one patch page as {patch, next}. */
async function diffJson(
  ctx: GitContext,
  from: string,
  to: string,
  o: { paths: string[]; budgetBytes: number; quote: boolean; patch?: boolean; context: number; maxBytes?: number; cursor?: string },
): Promise<number> {
  if (o.patch) {
    const stream = patchStream(ctx, from, to, { paths: o.paths, quotePath: o.quote, context: o.context, budgetBytes: o.budgetBytes, maxBytes: o.maxBytes ?? 1 << 20, cursor: o.cursor ? parseCursor(o.cursor) : undefined });
    const parts: Buffer[] = [];
    for await (const b of stream.chunks) parts.push(b);
    await write(JSON.stringify({ patch: Buffer.concat(parts).toString('utf8'), next: stream.next() ?? null }) + '\n');
    return 0;
  }
  const progress = progressLine();
  let first = true;
  await write('[');
  for await (const s of numstatStream(ctx, from, to, { paths: o.paths, budgetBytes: o.budgetBytes, onProgress: progress.update })) {
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

function numstatLine(s: FileStat, quoteNonAscii: boolean): string {
  const mark = s.approximate ? '~' : '';
  const name = quotePath(s.file, quoteNonAscii);
  return s.binary ? `-\t-\t${name}\n` : `${mark}${s.additions}\t${mark}${s.deletions}\t${name}\n`;
}

export default command;
