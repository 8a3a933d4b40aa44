import { UsageError } from '../errors.js';
import { numstatStream } from '../diff/numstat.js';
import { patchStream, parseCursor } from '../diff/patch.js';
import { formatStat } from '../diff/stat.js';
import { quotePathSetting } from '../git/repo.js';
import { storeContext } from '../snapshot/index.js';
import {
  deleteSession,
  describePart,
  describeSkip,
  diffRange,
  getMessage as showSessionMessage,
  listSessions,
  openDatabase,
  revertSession,
  showSession,
  summaryOf,
  turnsChangedPaths,
  unrevertSession,
  type FileDiff,
  type SessionInfo,
} from '../session/index.js';
import { colorArgs, colorOption, counterLine, intOption, parse, terminalColumns, withPager, write, type Command } from './command.js';
import { asStats } from './run.js';

const help = `snapline session — browse, diff, revert and delete recorded sessions

Usage:
  snapline session list [--dir DIR] [--limit N] [--offset N] [--format text|json]
  snapline session show ID [--limit N] [--offset N] [--format text|json] [--no-pager]
  snapline session diff ID [--message MSG | --turns-only] [--file PATH]... [--format text|json]
  snapline session diff ID [--message MSG | --turns-only] [--file PATH]... --patch [-U N] [--max-bytes N] [--continue CURSOR]
                        [--color[=auto|always|never]] [--no-pager]
  snapline session revert ID --message MSG
  snapline session unrevert ID
  snapline session delete ID

list      sessions newest first: id, title, directory, last update, +/- totals
show      the session's turns (messages and their parts, with per-turn +/-), a page at a time
          (--limit messages from --offset; default 50 from 0); reads the database only
diff      per-file +/- and, with --patch, the unified diff (produced on demand from the
          snapshots, streamed; pages with --max-bytes, the cursor for --continue printed on
          stderr, or as "next" in json).
          Without --message: everything from the session's first snapshot to its last, so
          edits made between turns (by hand, by other tools) are included; the first line
          says so. --turns-only keeps only the paths the turns themselves changed.
          With --message MSG: that turn alone (its stats come from the stored summary).
          On a terminal, show and diff output is coloured like git's (--color=never or
          NO_COLOR turns it off; --color=always forces it) and paged ($SNAPLINE_PAGER, else
          $PAGER, else 'less' with LESS=FRX; --no-pager or a pager of "cat" for none).
revert    puts back, per path, the files changed by turn MSG and later turns as they were before
          MSG (the current state is snapshotted first); files the session never changed are
          never written. Refused while a turn of the session is running.
unrevert  puts exactly the paths of the last revert back as they were before it
delete    deletes the session's rows and releases its snapshots (gc may then prune them)

Examples:
  snapline session list
  snapline session show ses_... --limit 20
  snapline session diff ses_...                     # first to last snapshot
  snapline session diff ses_... --turns-only --patch
  snapline session diff ses_... --message msg_... --patch --max-bytes 65536
  snapline session revert ses_... --message msg_...
`;

function json(v: unknown): Promise<void> | void {
  return write(JSON.stringify(v, null, 2) + '\n');
}

function when(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

function totals(s: SessionInfo): string {
  return `+${s.summary.additions} -${s.summary.deletions} (${s.summary.files} file${s.summary.files === 1 ? '' : 's'})`;
}

function onlyFiles(diffs: FileDiff[], files: string[] | undefined): FileDiff[] {
  return files?.length ? diffs.filter((d) => files.includes(d.file)) : diffs;
}

const progress = (m: string) => {
  if (process.stderr.isTTY) process.stderr.write(`snapline: ${m}\n`);
};

/** Waiting for another process is always said, terminal or not: the user should know why. */
const onWait = (m: string) => process.stderr.write(`snapline: ${m}\n`);

/** Set while a paged run of show/diff is under way. */
let insidePager = false;

const command: Command = {
  summary: 'list, show, diff, revert, unrevert or delete sessions',
  help,
  async run(argv) {
    const [sub, ...rest] = argv;
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
      'turns-only': { type: 'boolean' },
      color: { type: 'string' },
      'no-pager': { type: 'boolean' },
    });
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
    const id = (): string => {
      if (positionals.length !== 1) throw new UsageError(`session ${sub} needs one session id (see 'snapline session list')`);
      return positionals[0]!;
    };
    switch (sub) {
      case 'list': {
        const db = openDatabase();
        try {
          const sessions = listSessions(db, { directory: v.dir, limit: intOption('limit', v.limit, 100), offset: intOption('offset', v.offset, 0) });
          if (asJson) return (await json(sessions), 0);
          for (const s of sessions) await write(`${s.id}  ${when(s.time.updated)}  ${totals(s).padEnd(24)} ${s.title}  ${s.directory}${s.revert ? '  [reverted]' : ''}${s.busy ? '  [running]' : ''}\n`);
          return 0;
        } finally {
          db.close();
        }
      }
      case 'show': {
        const db = openDatabase();
        try {
          const view = showSession(db, id(), { limit: intOption('limit', v.limit, 50), offset: intOption('offset', v.offset, 0) });
          if (asJson) return (await json(view), 0);
          const s = view.session;
          const lines = [`${s.id}  ${s.title}`, `  directory ${s.directory}`, `  updated   ${when(s.time.updated)}   ${totals(s)}`];
          if (s.revert) lines.push(`  reverted to before ${s.revert.messageID} (${s.revert.files} paths; 'session unrevert' puts them back)`);
          if (s.busy) lines.push(`  running a turn (pid ${s.busy.pid})`);
          lines.push(`  messages ${view.offset + 1}-${view.offset + view.messages.length} of ${view.total}`, '');
          for (const m of view.messages) {
            const sum = summaryOf(m);
            const head = m.data.role === 'user' ? `${m.id}  user${sum ? `   +${sum.total.additions} -${sum.total.deletions} in ${sum.total.files} file${sum.total.files === 1 ? '' : 's'}${sum.truncated ? ` (${sum.diffs.length} listed)` : ''}` : ''}` : `${m.id}  assistant${m.data.exit !== undefined ? `  exit ${m.data.exit}` : ''}${m.data.error ? `  error: ${m.data.error.message}` : ''}`;
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
        const db = openDatabase();
        let range;
        const sid = id();
        const wide = v.message === undefined;
        try {
          range = diffRange(db, sid, v.message);
          if (v['turns-only'] && !wide) throw new UsageError('--turns-only goes with a session-wide diff (without --message)');
          if (!v.patch && (v.context !== undefined || v['max-bytes'] !== undefined || v.continue !== undefined)) throw new UsageError('--context, --max-bytes and --continue go with --patch');
          if (!v.patch && !wide) {
            // One turn: its stored summary, from the database alone.
            const sum = summaryOf(showSessionMessage(db, sid, range.turns[0]!.id));
            const t = { messageID: range.turns[0]!.id, total: sum?.total, truncated: sum?.truncated ?? false, diffs: onlyFiles(sum?.diffs ?? [], v.file) };
            if (asJson) return (await json(t), 0);
            const quote = await quotePathSetting({ cwd: range.directory });
            await write(`${t.messageID}  +${t.total?.additions ?? 0} -${t.total?.deletions ?? 0} in ${t.total?.files ?? 0} files\n`);
            if (t.diffs.length) await write(formatStat(asStats(t.diffs), terminalColumns(), { quotePath: quote, color }));
            if (t.truncated) await write(`  (list capped at ${t.diffs.length} files; use --patch for all)\n`);
            return 0;
          }
        } finally {
          db.close();
        }
        const maxBytes = v['max-bytes'] === undefined ? (asJson && v.patch ? 1 << 20 : undefined) : intOption('max-bytes', v['max-bytes'], 0);
        if (maxBytes === 0) throw new UsageError('--max-bytes must be at least 1');
        const ctx = await storeContext(range.directory);
        // Paths are quoted as the workspace's git would (the store's own setting is snapline's).
        const quote = await quotePathSetting({ cwd: range.directory });
        const only = v['turns-only'] ? await turnsChangedPaths(ctx, range.turns) : undefined;
        // Session-wide, the range runs from the first snapshot to the last: say so.
        const covers = !wide
          ? ''
          : only
            ? `session ${sid} — changes from its first snapshot to its last, limited to the ${only.size} path${only.size === 1 ? '' : 's'} its turns changed (edits made between turns to other files left out)\n`
            : `session ${sid} — all changes from its first snapshot to its last (edits made between turns included; --turns-only for the turns' own changes)\n`;
        if (!v.patch) {
          const stats = [];
          for await (const s of numstatStream(ctx, range.from, range.to, { paths: v.file ?? [], only })) stats.push(s);
          if (asJson) return (await json({ sessionID: sid, from: range.from, to: range.to, turnsOnly: only !== undefined, diffs: stats }), 0);
          await write(covers + (stats.length ? formatStat(stats, terminalColumns(), { quotePath: quote, color }) : 'no files changed\n'));
          return 0;
        }
        const stream = patchStream(ctx, range.from, range.to, { quotePath: quote, color: color && !asJson, only, paths: v.file ?? [], context: intOption('context', v.context, 3, 100000), maxBytes, cursor: v.continue ? parseCursor(v.continue) : undefined });
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
        if (!v.message) throw new UsageError("session revert needs --message MSG (the first turn to undo; see 'snapline session show')");
        const files = counterLine('restoring files');
        const r = await revertSession(id(), v.message, { onProgress: progress, onFiles: files.update, onWait }).finally(() => files.clear());
        if (asJson) return (await json(r), 0);
        await write(`reverted ${r.sessionID} to before ${r.messageID}: ${r.written.length} written, ${r.deleted.length} deleted (${r.paths} paths covered; 'snapline session unrevert ${r.sessionID}' puts them back)\n`);
        return 0;
      }
      case 'unrevert': {
        const files = counterLine('restoring files');
        const r = await unrevertSession(id(), { onProgress: progress, onFiles: files.update, onWait }).finally(() => files.clear());
        if (asJson) return (await json(r), 0);
        await write(`unreverted ${r.sessionID}: ${r.written.length} written, ${r.deleted.length} deleted\n`);
        return 0;
      }
      case 'delete': {
        const r = await deleteSession(id(), { onWait });
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
