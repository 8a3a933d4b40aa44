import { UsageError } from '../errors.js';
import { numstatBetween } from '../diff/numstat.js';
import { patchStream, parseCursor } from '../diff/patch.js';
import { formatStat } from '../diff/stat.js';
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
  unrevertSession,
  type FileDiff,
  type SessionInfo,
} from '../session/index.js';
import { counterLine, intOption, parse, terminalColumns, write, type Command } from './command.js';
import { renameArgs } from './diff.js';
import { asStats } from './run.js';

const help = `snapline session — browse, diff, revert and delete recorded sessions

Usage:
  snapline session list [--dir DIR] [--limit N] [--offset N] [--format text|json]
  snapline session show ID [--limit N] [--offset N] [--format text|json]
  snapline session diff ID [--message MSG] [--file PATH]... [--format text|json]
  snapline session diff ID [--message MSG] [--file PATH]... --patch [-U N] [--max-bytes N] [--continue CURSOR]
                        [-M[N%]] [--binary]
  snapline session revert ID --message MSG
  snapline session unrevert ID
  snapline session delete ID

list      sessions newest first: id, title, directory, last update, +/- totals
show      the session's turns (messages and their parts, with per-turn +/-), a page at a time
          (--limit messages from --offset; default 50 from 0); reads the database only
diff      per-file +/- of the session (or of turn --message), from the stored summaries;
          --patch produces the unified diff on demand from the snapshots, streamed, and pages it
          with --max-bytes (the cursor for --continue is printed on stderr, or as "next" in json);
          -M[N%] pairs renames as 'git diff -M' does (per turn, compared again from the snapshots;
          stored summaries stay without renames); --binary writes git's binary patches
revert    puts back, per path, the files changed by turn MSG and later turns as they were before
          MSG (the current state is snapshotted first); files the session never changed are
          never written. Refused while a turn of the session is running.
unrevert  puts exactly the paths of the last revert back as they were before it
delete    deletes the session's rows and releases its snapshots (gc may then prune them)

Examples:
  snapline session list
  snapline session show ses_... --limit 20
  snapline session diff ses_... --message msg_... --patch --max-bytes 65536
  snapline session diff ses_... -M --patch --binary > turn.patch   (applies with 'git apply')
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

const command: Command = {
  summary: 'list, show, diff, revert, unrevert or delete sessions',
  help,
  async run(argv) {
    const [sub, ...all] = argv;
    // -M[<n>] / --find-renames[=<n>] (session diff): renames paired live from the snapshots.
    const { renames, rest } = renameArgs(all);
    const { values: v, positionals } = parse(rest, {
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
      binary: { type: 'boolean' },
    });
    if ((renames || v.binary) && sub !== 'diff') throw new UsageError('-M and --binary go with session diff');
    if (v.binary && !v.patch) throw new UsageError('--binary goes with --patch');
    const format = v.format ?? 'text';
    if (format !== 'text' && format !== 'json') throw new UsageError(`--format must be text or json, not '${format}'`);
    const asJson = format === 'json';
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
        try {
          range = diffRange(db, sid, v.message);
          if (!v.patch) {
            if (v.context !== undefined || v['max-bytes'] !== undefined || v.continue !== undefined) throw new UsageError('--context, --max-bytes and --continue go with --patch');
            if (renames) {
              // Summaries are stored without renames: with -M each turn is compared again.
              const ctx = await storeContext(range.directory);
              const turns = [];
              for (const t of range.turns.filter((t) => t.start && t.end)) {
                const diffs = await numstatBetween(ctx, t.start!, t.end!, { paths: v.file ?? [], renames });
                turns.push({ messageID: t.id, total: { files: diffs.length, additions: diffs.reduce((n, d) => n + d.additions, 0), deletions: diffs.reduce((n, d) => n + d.deletions, 0) }, diffs });
              }
              if (asJson) return (await json(v.message ? turns[0] : turns), 0);
              for (const t of turns) {
                await write(`${t.messageID}  +${t.total.additions} -${t.total.deletions} in ${t.total.files} files\n`);
                if (t.diffs.length) await write(formatStat(t.diffs, terminalColumns()));
              }
              return 0;
            }
            const turns = range.turns.map((t) => {
              const sum = summaryOf(showSessionMessage(db, sid, t.id));
              return { messageID: t.id, total: sum?.total, truncated: sum?.truncated ?? false, diffs: onlyFiles(sum?.diffs ?? [], v.file) };
            });
            if (asJson) return (await json(v.message ? turns[0] : turns), 0);
            for (const t of turns) {
              await write(`${t.messageID}  +${t.total?.additions ?? 0} -${t.total?.deletions ?? 0} in ${t.total?.files ?? 0} files\n`);
              if (t.diffs.length) await write(formatStat(asStats(t.diffs), terminalColumns()));
              if (t.truncated) await write(`  (list capped at ${t.diffs.length} files; use --patch for all)\n`);
            }
            return 0;
          }
        } finally {
          db.close();
        }
        const maxBytes = v['max-bytes'] === undefined ? (asJson ? 1 << 20 : undefined) : intOption('max-bytes', v['max-bytes'], 0);
        if (maxBytes === 0) throw new UsageError('--max-bytes must be at least 1');
        const ctx = await storeContext(range.directory);
        const stream = patchStream(ctx, range.from, range.to, { paths: v.file ?? [], context: intOption('context', v.context, 3, 100000), maxBytes, cursor: v.continue ? parseCursor(v.continue) : undefined, renames, binary: v.binary });
        if (asJson) {
          const parts: Buffer[] = [];
          for await (const b of stream.chunks) parts.push(b);
          await write(JSON.stringify({ from: range.from, to: range.to, patch: Buffer.concat(parts).toString('utf8'), next: stream.next() ?? null }) + '\n');
          return 0;
        }
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
