import { SnaplineError, UnknownPath, UsageError } from '../errors.js';
import { numstatBetween, numstatStream, type DiffStat } from '../diff/numstat.js';
import { patchStream, parseCursor } from '../diff/patch.js';
import { formatStat } from '../diff/stat.js';
import { quotePathSetting } from '../git/repo.js';
import { resolveWorkspace, workspacePath } from '../snapshot/index.js';
import {
  deleteSession,
  describePart,
  describeSkip,
  diffRange,
  getMessage as showSessionMessage,
  getSession,
  listSessions,
  openDatabase,
  openSettledDatabase,
  recoverInterruptedTurn,
  resolveMessageRef,
  requireSnapshots,
  resolveSessionRef,
  revertSession,
  sessionWorkspace,
  showSession,
  summaryOf,
  turnNumbers,
  turnsChangedPaths,
  unrevertSession,
  type Database,
  type FileDiff,
  type SessionInfo,
  type UndoResult,
} from '../session/index.js';
import { colorArgs, colorOption, counterLine, intOption, parse, terminalColumns, withPager, write, type Command } from './command.js';
import { renameArgs } from './diff.js';
import { asStats } from './run.js';

const help = `snapline session — browse, diff, revert and delete recorded sessions

Usage:
  snapline session list [--dir DIR] [--limit N] [--offset N] [--format text|json]
  snapline session show [SESSION] [--limit N] [--offset N] [--format text|json] [--no-pager]
  snapline session diff [SESSION] [--message MSG | --turns-only] [--file PATH]... [-M[N%]] [--format text|json]
  snapline session diff [SESSION] [--message MSG | --turns-only] [--file PATH]... --patch [-U N] [--max-bytes N] [--continue CURSOR]
                        [-M[N%]] [--binary] [--color[=auto|always|never]] [--no-pager]
  snapline session revert [SESSION] --message MSG [--dry-run] [--force] [--wait SECONDS] [--format text|json]
  snapline session unrevert [SESSION] [--dry-run] [--force] [--wait SECONDS] [--format text|json]
  snapline session delete SESSION [--wait SECONDS]

SESSION   a session id or any unique prefix of one ('ses_' may be left out); left out, the
          most recently updated session of the workspace (--dir, else the current directory).
          delete always needs one: deleting whichever session is latest by accident cannot
          be undone.
MSG       a turn number (2 = the session's second turn, as 'session show' numbers them),
          'last', a message id, or a unique prefix of one
PATH      relative to the current directory (to the workspace when you are outside it), or
          absolute; it must lie inside the session's workspace. A directory means the files
          under it.

list      sessions newest first: id, title, directory, last update, +/- totals; --dir DIR:
          only the workspace around DIR (its git top level, as run records it)
show      the session's turns (#N, messages and their parts, with per-turn +/-), a page at a
          time (--limit messages from --offset; default 50 from 0); reads the database only
diff      per-file +/- and, with --patch, the unified diff (produced on demand from the
          snapshots, streamed; pages with --max-bytes, the cursor for --continue printed on
          stderr, or as "next" in json).
          Without --message: everything from the session's first snapshot to its last, so
          edits made between turns (by hand, by other tools) are included; the first line
          says so. --turns-only keeps only the paths the turns themselves changed.
          With --message MSG: that turn alone (its stats come from the stored summary).
          -M[N%] pairs renames as 'git diff -M' does (compared again from the snapshots;
          stored summaries stay without renames); --binary (with --patch) writes git's
          binary patches, so the patch applies with 'git apply'.
          On a terminal, show and diff output is coloured like git's (--color=never or
          NO_COLOR turns it off; --color=always forces it) and paged ($SNAPLINE_PAGER, else
          $PAGER, else 'less' with LESS=FRX; --no-pager or a pager of "cat" for none).
revert    puts back, per path, the files changed by turn MSG and later turns as they were before
          MSG (the current state is snapshotted first); files the session never changed are
          never written. Refused while a turn of the session is running. Prints every file it
          wrote and deleted.
unrevert  puts exactly the paths of the last revert back as they were before it.
          Both refuse, before writing anything, when a file they would write was changed
          outside the session since it last saw it (a hand edit after its last turn, or after
          the revert); the error lists those files.
          --dry-run  print the files a real run writes and deletes (and the edited ones); write nothing
          --force    overwrite the edited files anyway: their content is kept in a snapshot first,
                     and the one command that brings it back is printed
          A turn whose process was killed gets its end snapshot from the next run, revert,
          unrevert or diff, so it can be reverted like any turn; a turn whose changes cannot be
          known makes revert fail, naming it.
delete    deletes the session's rows and releases its snapshots (gc may then prune them);
          with snapshot.remote set, its refs on the remote go too (also from a machine
          with no clone of the session's repository)

Sessions recorded on another machine (a shared session database, snapshots through
snapshot.remote — see 'snapline sync --help'): run from your clone of the same repository;
left out, SESSION is the latest of your clone's sessions and those recorded in other clones
of it; diff --patch, revert and unrevert fetch the snapshots they need.

With --format json, a failure is also printed on stdout as {"error": {"name", "message"}}.
revert, unrevert and delete wait while another run, revert or delete holds the workspace,
saying every 10 s who it is, for up to --wait SECONDS (default: config session.waitSeconds,
600); then they give up having changed nothing.

Examples:
  snapline session list
  snapline session show                     # the latest session here, turns numbered #1, #2, …
  snapline session show ses_e5dc --limit 20
  snapline session diff                     # first to last snapshot of the latest session
  snapline session diff --turns-only --patch
  snapline session diff --message 2 --patch --max-bytes 65536
  snapline session diff --message last --file src/app.ts
  snapline session diff --message 2 -M --patch --binary > turn.patch   # applies with 'git apply'
  snapline session revert --message 2 --dry-run   # the files it would write and delete
  snapline session revert --message 2       # undo turn 2 and every later turn
  snapline session unrevert --wait 30      # give up after 30 s if the workspace is busy
  snapline session delete ses_e5dc
`;

/** Sessions `session list` reads per query. */
const LIST_PAGE = 1000;

function json(v: unknown): Promise<void> | void {
  return write(JSON.stringify(v, null, 2) + '\n');
}

function when(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

function totals(s: SessionInfo): string {
  return `+${s.summary.additions} -${s.summary.deletions} (${s.summary.files} file${s.summary.files === 1 ? '' : 's'})`;
}

/** Is `file` the path `wanted` or under it (a directory)? */
function under(file: string, wanted: string): boolean {
  return file === wanted || file.startsWith(wanted + '/');
}

function onlyFiles(diffs: FileDiff[], files: string[] | undefined): FileDiff[] {
  return files?.length ? diffs.filter((d) => files.some((f) => under(d.file, f))) : diffs;
}

/** The --file paths no listed turn changed (a typo or a file the session left alone: worth a note). */
function untouched(files: string[] | undefined, turns: { diffs: readonly { file: string; from?: string }[]; truncated: boolean }[]): string[] {
  if (turns.some((t) => t.truncated)) return [];
  // A renamed file counts under its old path too.
  return (files ?? []).filter((f) => !turns.some((t) => t.diffs.some((d) => under(d.file, f) || (d.from !== undefined && under(d.from, f)))));
}

const progress = (m: string) => {
  if (process.stderr.isTTY) process.stderr.write(`snapline: ${m}\n`);
};

/** An undo's summary line, then every file it wrote and deleted, then what it overwrote and how to get it back. */
async function printUndo(head: string, r: UndoResult): Promise<void> {
  const verb = r.dryRun ? ['would write ', 'would delete'] : ['written', 'deleted'];
  await write(head + '\n');
  for (const p of r.written) await write(`  ${verb[0]}  ${p}\n`);
  for (const p of r.deleted) await write(`  ${verb[1]}  ${p}\n`);
  if (r.dryRun && r.edited.length) {
    await write(`changed outside the session since it last saw them (refused without --force):\n`);
    for (const p of r.edited) await write(`  ${p}\n`);
  }
  if (r.backup) {
    await write(`overwrote ${r.edited.length} file${r.edited.length === 1 ? '' : 's'} changed outside the session; kept in snapshot ${r.backup.snapshot}. To bring ${r.edited.length === 1 ? 'it' : 'them'} back:\n`);
    await write(`  ${r.backup.command}\n`);
  }
}

/** Waiting for another process is always said, terminal or not: the user should know why. */
const onWait = (m: string) => process.stderr.write(`snapline: ${m}\n`);
const onWarning = (m: string) => process.stderr.write(`snapline: warning: ${m}\n`);

/** Set while a paged run of show/diff is under way. */
let insidePager = false;

const command: Command = {
  summary: 'list, show, diff, revert, unrevert or delete sessions',
  help,
  async run(argv) {
    const [sub, ...all] = argv;
    // -M[<n>] / --find-renames[=<n>] (session diff): renames paired live from the snapshots.
    const { renames, rest } = renameArgs(all);
    const { values: v, positionals } = parse(colorArgs(rest), {
      dir: { type: 'string' },
      limit: { type: 'string' },
      offset: { type: 'string' },
      format: { type: 'string' },
      message: { type: 'string', short: 'm' },
      file: { type: 'string', multiple: true },
      patch: { type: 'boolean' },
      context: { type: 'string', short: 'U' },
      'max-bytes': { type: 'string' },
      continue: { type: 'string' },
      force: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      wait: { type: 'string' },
      'turns-only': { type: 'boolean' },
      color: { type: 'string' },
      'no-pager': { type: 'boolean' },
      binary: { type: 'boolean' },
    });
    if ((renames || v.binary) && sub !== 'diff') throw new UsageError('-M and --binary go with session diff');
    if (v.binary && !v.patch) throw new UsageError('--binary goes with --patch');
    const waitSeconds = v.wait === undefined ? undefined : intOption('wait', v.wait, 0);
    const format = v.format ?? 'text';
    if (format !== 'text' && format !== 'json') throw new UsageError(`--format must be text or json, not '${format}'`);
    const asJson = format === 'json';
    const color = colorOption(v.color);
    // show and diff send their text through a pager on a terminal: this run goes on inside it.
    if ((sub === 'show' || sub === 'diff') && !asJson && !v['no-pager'] && !insidePager) {
      insidePager = true;
      try {
        return await withPager(true, () => command.run(argv));
      } finally {
        insidePager = false;
      }
    }
    // A unique prefix names a session; without one, show/diff/revert/unrevert take the latest
    // session of the workspace. delete needs an explicit id: deleting "whatever is latest" by
    // accident cannot be undone.
    const sessionArg = (db: Database): Promise<string> => {
      if (positionals.length > 1) throw new UsageError(`session ${sub} takes one session id, not ${positionals.length} (see 'snapline session list')`);
      if (positionals.length === 0 && sub === 'delete') throw new UsageError("session delete needs a session id or a unique prefix of one (see 'snapline session list')");
      return resolveSessionRef(db, positionals[0], v.dir ?? process.cwd());
    };
    /** The full session id (and --message, resolved) from a database opened only for that. */
    const resolveIds = async (): Promise<{ sid: string; mid?: string }> => {
      const db = openDatabase();
      try {
        const sid = await sessionArg(db);
        return { sid, mid: v.message === undefined ? undefined : resolveMessageRef(db, sid, v.message) };
      } finally {
        db.close();
      }
    };
    switch (sub) {
      case 'list': {
        // Sessions are stored under their workspace, so --dir names one the way run does.
        const directory = v.dir === undefined ? undefined : await resolveWorkspace(v.dir, true);
        const db = await openSettledDatabase(undefined, { onWarning, onWait });
        try {
          const limit = intOption('limit', v.limit, 100);
          const offset = intOption('offset', v.offset, 0);
          if (asJson) return (await json(listSessions(db, { directory, limit, offset })), 0);
          // Read a thousand rows at a time and written 64 KiB at a time: rows then die young, which
          // V8 collects cheaply (holding 10,000 made garbage collection the largest cost), and one
          // write a line was a quarter of listing 10,000 sessions.
          let out = '';
          for (let done = 0; done < limit; ) {
            const want = Math.min(LIST_PAGE, limit - done);
            const page = listSessions(db, { directory, limit: want, offset: offset + done });
            for (const s of page) {
              out += `${s.id}  ${when(s.time.updated)}  ${totals(s).padEnd(24)} ${s.title}  ${s.directory}${s.agent ? `  [${s.agent.name}]` : ''}${s.revert ? '  [reverted]' : ''}${s.busy ? '  [running]' : ''}\n`;
              if (out.length >= 65536) {
                await write(out);
                out = '';
              }
            }
            done += page.length;
            if (page.length < want) break;
          }
          if (out) await write(out);
          return 0;
        } finally {
          db.close();
        }
      }
      case 'show': {
        const db = await openSettledDatabase(undefined, { onWarning, onWait });
        try {
          const view = showSession(db, await sessionArg(db), { limit: intOption('limit', v.limit, 50), offset: intOption('offset', v.offset, 0) });
          if (asJson) return (await json(view), 0);
          const s = view.session;
          const lines = [`${s.id}  ${s.title}`, `  directory ${s.directory}`, ...(s.agent ? [`  agent     ${s.agent.name}${s.agent.session ? ` (its session ${s.agent.session})` : ''}`] : []), `  updated   ${when(s.time.updated)}   ${totals(s)}`];
          if (s.revert) lines.push(`  reverted to before ${s.revert.messageID} (${s.revert.paths} paths; 'session unrevert' puts them back)`);
          if (s.busy) lines.push(`  running a turn (pid ${s.busy.pid})`);
          lines.push(`  messages ${view.offset + 1}-${view.offset + view.messages.length} of ${view.total}`, '');
          const turnWidth = Math.max(0, ...view.messages.map((m) => (m.turn === undefined ? 0 : `#${m.turn}  `.length)));
          for (const m of view.messages) {
            const sum = summaryOf(m);
            const head = (m.data.role === 'user' && m.turn !== undefined ? `#${m.turn}` : '').padEnd(turnWidth) + (m.data.role === 'user' ? `${m.id}  user${sum ? `   +${sum.total.additions} -${sum.total.deletions} in ${sum.total.files} file${sum.total.files === 1 ? '' : 's'}${sum.truncated ? ` (${sum.diffs.length} listed)` : ''}` : ''}` : `${m.id}  assistant${m.data.exit !== undefined ? `  exit ${m.data.exit}` : ''}${m.data.interrupted ? `  interrupted by ${m.data.interrupted}` : ''}${m.data.error ? `  error: ${m.data.error.message}` : ''}`);
            lines.push(head);
            for (const p of m.parts) {
              lines.push(`    ${describePart(p.data)}`);
              if ((p.data.type === 'step-start' || p.data.type === 'step-finish') && p.data.skipped) for (const k of p.data.skipped) lines.push(`      not snapshotted: ${k.path} — ${describeSkip(k)}`);
            }
            if (sum) for (const d of sum.diffs) lines.push(`    ${d.binary ? 'bin' : `+${d.additions} -${d.deletions}${d.approximate ? ' (approx.)' : ''}`}  ${d.file}`);
          }
          await write(lines.join('\n') + '\n');
          return 0;
        } finally {
          db.close();
        }
      }
      case 'diff': {
        const db = await openSettledDatabase(undefined, { onWarning, onWait });
        let range;
        let sid: string;
        let files: string[] | undefined;
        let wide = false;
        let worktree: string;
        try {
          sid = await sessionArg(db);
          const session = getSession(db, sid);
          // Its workspace here: the recorded one, or this machine's clone of it.
          worktree = await sessionWorkspace(session, v.dir ?? process.cwd());
          // A turn interrupted before its end snapshot gets it now, so its changes show (only
          // where it was recorded: a clone elsewhere is not the workspace the turn changed).
          if (worktree === session.directory) {
            await recoverInterruptedTurn(session.directory, { db, onWait }).catch((e: unknown) => {
              if (!(e instanceof SnaplineError)) throw e;
              process.stderr.write(`snapline: warning: the interrupted turn's end could not be recorded: ${e.message}\n`);
            });
          }
          const mid = v.message === undefined ? undefined : resolveMessageRef(db, sid, v.message);
          wide = mid === undefined;
          range = diffRange(db, sid, mid);
          files = v.file?.map((f) => workspacePath(worktree, f, process.cwd()));
          if (v['turns-only'] && !wide) throw new UsageError('--turns-only goes with a session-wide diff (without --message)');
          if (!v.patch && (v.context !== undefined || v['max-bytes'] !== undefined || v.continue !== undefined)) throw new UsageError('--context, --max-bytes and --continue go with --patch');
          if (!v.patch && !wide) {
            const id = range.turns[0]!.id;
            const turn = turnNumbers(db, sid).get(id);
            if (renames) {
              // Summaries are stored without renames: with -M the turn is compared again from its snapshots.
              const ctx = await requireSnapshots(worktree, sid, [range.from, range.to]);
              const diffs = range.from && range.to ? await numstatBetween(ctx, range.from, range.to, { paths: files ?? [], renames }) : [];
              const t = { turn, messageID: id, total: { files: diffs.length, additions: diffs.reduce((n, d) => n + d.additions, 0), deletions: diffs.reduce((n, d) => n + d.deletions, 0) }, truncated: false, diffs };
              for (const f of untouched(files, [t])) process.stderr.write(`snapline: turn #${t.turn} did not change '${f}'\n`);
              if (asJson) return (await json(t), 0);
              const quote = await quotePathSetting({ cwd: worktree });
              await write(`#${t.turn}  ${t.messageID}  +${t.total.additions} -${t.total.deletions} in ${t.total.files} files\n`);
              if (t.diffs.length) await write(formatStat(t.diffs, terminalColumns(), { quotePath: quote, color }));
              return 0;
            }
            // One turn: its stored summary, from the database alone.
            const sum = summaryOf(showSessionMessage(db, sid, id));
            const t = { turn, messageID: id, total: sum?.total, truncated: sum?.truncated ?? false, diffs: onlyFiles(sum?.diffs ?? [], files) };
            for (const f of untouched(files, [t])) process.stderr.write(`snapline: turn #${t.turn} did not change '${f}'\n`);
            if (asJson) return (await json(t), 0);
            const quote = await quotePathSetting({ cwd: worktree });
            await write(`#${t.turn}  ${t.messageID}  +${t.total?.additions ?? 0} -${t.total?.deletions ?? 0} in ${t.total?.files ?? 0} files\n`);
            if (t.diffs.length) await write(formatStat(asStats(t.diffs), terminalColumns(), { quotePath: quote, color }));
            if (t.truncated) await write(`  (list capped at ${t.diffs.length} files; use --patch for all)\n`);
            return 0;
          }
        } finally {
          db.close();
        }
        const maxBytes = v['max-bytes'] === undefined ? (asJson && v.patch ? 1 << 20 : undefined) : intOption('max-bytes', v['max-bytes'], 0);
        if (maxBytes === 0) throw new UsageError('--max-bytes must be at least 1');
        // Snapshots recorded on another machine are fetched from the snapshot remote here.
        const ctx = await requireSnapshots(worktree, sid, [range.from, range.to, ...(v['turns-only'] ? range.turns.flatMap((t) => [t.start, t.end]) : [])]);
        // Paths are quoted as the workspace's git would (the store's own setting is snapline's).
        const quote = await quotePathSetting({ cwd: worktree });
        const only = v['turns-only'] ? await turnsChangedPaths(ctx, range.turns) : undefined;
        // Session-wide, the range runs from the first snapshot to the last: say so.
        const covers = !wide
          ? ''
          : only
            ? `session ${sid} — changes from its first snapshot to its last, limited to the ${only.size} path${only.size === 1 ? '' : 's'} its turns changed (edits made between turns to other files left out)\n`
            : `session ${sid} — all changes from its first snapshot to its last (edits made between turns included; --turns-only for the turns' own changes)\n`;
        if (!v.patch) {
          // A wanted path in neither snapshot is one the session did not change (said below).
          let wanted = files ?? [];
          let stats: DiffStat[] = [];
          for (;;) {
            try {
              stats = [];
              if (!files?.length || wanted.length) for await (const s of numstatStream(ctx, range.from, range.to, { paths: wanted, only, renames })) stats.push(s);
              break;
            } catch (e) {
              if (!(e instanceof UnknownPath) || !wanted.includes(e.path)) throw e;
              wanted = wanted.filter((p) => p !== e.path);
            }
          }
          for (const f of untouched(files, [{ diffs: stats, truncated: false }])) process.stderr.write(`snapline: the session did not change '${f}'\n`);
          if (asJson) return (await json({ sessionID: sid, from: range.from, to: range.to, turnsOnly: only !== undefined, diffs: stats }), 0);
          await write(covers + (stats.length ? formatStat(stats, terminalColumns(), { quotePath: quote, color }) : 'no files changed\n'));
          return 0;
        }
        const stream = patchStream(ctx, range.from, range.to, { quotePath: quote, color: color && !asJson, only, paths: files ?? [], context: intOption('context', v.context, 3, 100000), maxBytes, cursor: v.continue ? parseCursor(v.continue) : undefined, renames, binary: v.binary });
        if (asJson) {
          const parts: Buffer[] = [];
          for await (const b of stream.chunks) parts.push(b);
          await write(JSON.stringify({ from: range.from, to: range.to, ...(wide ? { turnsOnly: only !== undefined } : {}), patch: Buffer.concat(parts).toString('utf8'), next: stream.next() ?? null }) + '\n');
          return 0;
        }
        // The coverage line goes before the first page only ('git apply' skips text before a patch).
        if (covers && !v.continue) await write(covers);
        for await (const b of stream.chunks) await write(b);
        const next = stream.next();
        if (next) process.stderr.write(`snapline: page ends here; continue with --continue ${next}\n`);
        return 0;
      }
      case 'revert': {
        if (!v.message) throw new UsageError("session revert needs --message MSG (the first turn to undo: a turn number, 'last' or a message id; see 'snapline session show')");
        const { sid, mid } = await resolveIds();
        const files = counterLine('restoring files');
        const r = await revertSession(sid, mid!, { onProgress: progress, onFiles: files.update, onWait, onWarning, force: v.force, dryRun: v['dry-run'], waitSeconds }).finally(() => files.clear());
        if (asJson) return (await json(r), 0);
        const head = r.dryRun
          ? `revert of ${r.sessionID} to before ${r.messageID} would write ${r.written.length} and delete ${r.deleted.length} (${r.paths} paths covered; dry run, nothing written)`
          : `reverted ${r.sessionID} to before ${r.messageID}: ${r.written.length} written, ${r.deleted.length} deleted (${r.paths} paths covered; 'snapline session unrevert ${r.sessionID}' puts them back)`;
        await printUndo(head, r);
        return 0;
      }
      case 'unrevert': {
        const { sid } = await resolveIds();
        const files = counterLine('restoring files');
        const r = await unrevertSession(sid, { onProgress: progress, onFiles: files.update, onWait, onWarning, force: v.force, dryRun: v['dry-run'], waitSeconds }).finally(() => files.clear());
        if (asJson) return (await json(r), 0);
        await printUndo(r.dryRun ? `unrevert of ${r.sessionID} would write ${r.written.length} and delete ${r.deleted.length} (dry run, nothing written)` : `unrevert of ${r.sessionID}: ${r.written.length} written, ${r.deleted.length} deleted`, r);
        return 0;
      }
      case 'delete': {
        const { sid } = await resolveIds();
        const r = await deleteSession(sid, { onWait, onWarning, waitSeconds });
        if (asJson) return (await json(r), 0);
        await write(`deleted ${r.sessionID}${r.released ? ' and released its snapshots' : ''}\n`);
        return 0;
      }
      case undefined:
        throw new UsageError("session needs a subcommand: list, show, diff, revert, unrevert or delete (see 'snapline session --help')");
      default:
        throw new UsageError(`unknown session subcommand '${sub}' (list, show, diff, revert, unrevert, delete)`);
    }
  },
};

export default command;
