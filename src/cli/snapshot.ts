import { UsageError } from '../errors.js';
import type { AffectedSession } from '../session/doctor.js';
import { counterLine, parse, write, type Command } from './command.js';

const help = `snapline snapshot — record and restore workspace snapshots

Every workspace has its own shadow git object store (under the data directory, never in
your repository). 'track' records the workspace as a tree id; 'restore' writes files back
from one; the store keeps trees of live sessions and 'gc' cleans the rest.

Usage:
  snapline snapshot track   [--dir D] [--format text|json] [--force]
  snapline snapshot restore TREE [--dir D] [--force] [-- PATH...]
  snapline snapshot gc      [--dir D] [--prune-now] [--force]
  snapline snapshot du      [--dir D] [--format text|json]
  snapline snapshot doctor  [--dir D] [--rebuild] [--format text|json]

Subcommands:
  track     Snapshot the workspace; prints the tree id. Files over snapshot.maxFileSize
            (default 1 GiB), unreadable or vanished are listed on stderr (json: "skipped").
            When nothing changed since the last track, the snapline command answers
            without starting Node (SNAPLINE_FAST_TRACK=0: always Node).
  restore   Put the workspace (or only the PATHs) back to TREE: writes changed files,
            deletes files absent from TREE, touches nothing else. Prints what changed.
  gc        Remove leftovers of killed runs; prune snapshots no session keeps once older
            than snapshot.retention.maxAgeDays. Without --dir: every store.
  du        Disk usage per store and per session. Without --dir: every store.
  seal      (internal) Compress the big files a track copied into the store into git
            objects; track starts it in the background, and every reader seals first.
  doctor    Check the store: every object is rehashed (git fsck --full) and every snapshot
            the workspace's sessions name must be there. Each damaged object is printed as
            'damaged: OID (missing|corrupt) — used by session ses_… turns 2, 3 (msg_…)';
            exit 1 when anything is damaged. --rebuild moves a broken store aside and
            starts anew (its snapshots are then no longer available).

Options:
  --dir D          the workspace: the git work tree around D (its top level), or D itself
                   outside one (default: the current directory)
  --format F       text (default) or json
  --force          track/restore: allow / or the home directory;
                   gc: also release sessions past the retention limits
  --prune-now      gc: prune unreferenced snapshots without the grace period
  --rebuild        doctor: replace a broken store

Ignore rules: the workspace's .gitignore files, its repository's .git/info/exclude, your
global git excludes, and snapshot.ignore in snapline.json. Nested git repositories are
recorded as ordinary files; their .git is never touched.

Examples:
  tree=$(snapline snapshot track --dir ~/src/app)
  snapline snapshot restore "$tree" --dir ~/src/app -- src/main.ts
  snapline snapshot du --format json
  snapline snapshot doctor --dir ~/src/app

PATHs are relative to the current directory (to the workspace when you are outside it) and
must lie inside the workspace. With --format json, a failure is also printed on stdout as
{"error": {"name", "message"}}.
`;

const options = {
  dir: { type: 'string' },
  format: { type: 'string' },
  force: { type: 'boolean' },
  'prune-now': { type: 'boolean' },
  rebuild: { type: 'boolean' },
} as const;

/** Progress lines on stderr, only for a person watching a terminal. */
function progress(): ((m: string) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (m) => process.stderr.write(`\r\x1b[K${m}`);
}

function endProgress(): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
}

const onWait = (m: string) => process.stderr.write(`snapline: ${m}\n`);

function format(value: string | undefined): 'text' | 'json' {
  if (value === undefined || value === 'text') return 'text';
  if (value === 'json') return 'json';
  throw new UsageError(`--format must be text or json, not '${value}'`);
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

const command: Command = {
  summary: 'record, restore, check and clean workspace snapshots',
  help,
  async run(argv) {
    const { values, positionals } = parse(argv, options);
    const [sub, ...args] = positionals;
    const dir = values.dir ?? process.cwd();
    const fmt = format(values.format);
    const only = (allowed: string[]) => {
      for (const k of Object.keys(values)) if (!allowed.includes(k)) throw new UsageError(`--${k} does not apply to 'snapshot ${sub}'`);
    };
    switch (sub) {
      case 'track': {
        only(['dir', 'format', 'force']);
        if (args.length) throw new UsageError(`'snapshot track' takes no arguments (got '${args[0]}')`);
        // Each subcommand loads only its own module: a track (an agent's every step) starts fast.
        const [{ track }, { resolveWorkspace }, ticket] = await Promise.all([import('../snapshot/track.js'), import('../snapshot/store.js'), import('../snapshot/ticket.js')]);
        // What bin/snapline needs to answer the next no-change track without Node, read before
        // the track (which then runs under exactly that configuration): src/snapshot/ticket.ts.
        const basis = await ticket.trackTicketBasis(await resolveWorkspace(dir, values.force));
        const result = await track(dir, { force: values.force, onWait, onProgress: progress(), config: basis?.conditions.config });
        endProgress();
        if (fmt === 'json') await write(JSON.stringify({ tree: result.tree, skipped: result.skipped }) + '\n');
        else {
          for (const s of result.skipped) process.stderr.write(`snapline: warning: not snapshotted (${s.reason}${s.size !== undefined ? `, ${s.size} bytes` : ''}): ${s.path}\n`);
          await write(result.tree + '\n');
        }
        if (basis) await ticket.writeTrackTicket(basis, result);
        return 0;
      }
      case 'seal': {
        // Internal: started detached by a track that left big files pending (docs/snapshot.md,
        // "Big files"). The store comes in SNAPLINE_SEAL_STORE, not in the arguments.
        only([]);
        const store = process.env.SNAPLINE_SEAL_STORE;
        if (!store || args.length) throw new UsageError("'snapshot seal' is started by track, with SNAPLINE_SEAL_STORE set");
        const { sealPending } = await import('../snapshot/pending.js');
        const { loadConfig } = await import('../config.js');
        await sealPending(store, { timeoutMs: loadConfig().snapshot.lockTimeoutMs });
        const { refreshRacyEntries } = await import('../snapshot/track.js');
        await refreshRacyEntries(store);
        return 0;
      }
      case 'restore': {
        only(['dir', 'format', 'force']);
        const [tree, ...paths] = args;
        if (!tree) throw new UsageError("'snapshot restore' needs a TREE id (see 'snapline snapshot --help')");
        const [{ restore }, { resolveWorkspace }, { workspacePath }] = await Promise.all([import('../snapshot/restore.js'), import('../snapshot/store.js'), import('../snapshot/paths.js')]);
        const files = counterLine('restoring files');
        // PATHs are typed relative to where the user is (or to the workspace from outside it).
        const worktree = paths.length ? await resolveWorkspace(dir, values.force ?? false) : dir;
        const wanted = paths.map((p) => workspacePath(worktree, p, process.cwd()));
        const result = await restore(dir, tree, wanted.length ? wanted : undefined, { force: values.force, onWait, onProgress: files.update }).finally(() => files.clear());
        if (fmt === 'json') await write(JSON.stringify(result) + '\n');
        else {
          for (const p of result.written) await write(`restored ${p}\n`);
          for (const p of result.deleted) await write(`deleted  ${p}\n`);
        }
        return 0;
      }
      case 'gc': {
        only(['dir', 'format', 'force', 'prune-now']);
        noArgs(sub, args);
        const { gc } = await import('../snapshot/retention.js');
        const reports = await gc(values.dir, { force: values.force, pruneNow: values['prune-now'], onWait });
        if (fmt === 'json') await write(JSON.stringify(reports) + '\n');
        else {
          for (const r of reports) {
            await write(`${r.store}: ${mib(r.bytesBefore)} -> ${mib(r.bytesAfter)}${r.removed.length ? `, removed ${r.removed.join(', ')}` : ''}${r.released.length ? `, released sessions ${r.released.join(', ')}` : ''}\n`);
          }
        }
        return 0;
      }
      case 'du': {
        only(['dir', 'format']);
        noArgs(sub, args);
        const { du } = await import('../snapshot/retention.js');
        const usage = await du(values.dir);
        if (fmt === 'json') await write(JSON.stringify(usage) + '\n');
        else {
          for (const u of usage) {
            await write(`${mib(u.bytes).padStart(12)}  ${u.worktree || '(unknown workspace)'}  ${u.store}\n`);
            for (const s of u.sessions) await write(`${mib(s.bytes).padStart(12)}    session ${s.id}\n`);
          }
        }
        return 0;
      }
      case 'doctor': {
        only(['dir', 'format', 'rebuild', 'force']);
        noArgs(sub, args);
        // Loaded here only: the other subcommands do not need the session database.
        const { doctorWithSessions } = await import('../session/doctor.js');
        const report = await doctorWithSessions(dir, { rebuild: values.rebuild, force: values.force, onWait });
        if (fmt === 'json') await write(JSON.stringify(report) + '\n');
        else if (report.ok) await write(`ok: ${report.store}\n`);
        else {
          for (const p of report.problems) process.stderr.write(`snapline: ${p}\n`);
          for (const d of report.damaged) await write(`damaged: ${d.oid} (${d.kind}) — ${usedBy(d.sessions)}\n`);
          if (report.damagedTotal > report.damaged.length) await write(`damaged: ${report.damagedTotal - report.damaged.length} more objects not listed\n`);
          await write(report.movedTo ? `rebuilt ${report.store} (broken store kept at ${report.movedTo})\n` : `damaged: ${report.store} (run 'snapline snapshot doctor --rebuild' to set it aside and start a new, empty store)\n`);
        }
        return report.ok || report.movedTo ? 0 : 1;
      }
      case undefined:
        throw new UsageError("'snapshot' needs a subcommand: track, restore, gc, du or doctor (see 'snapline snapshot --help')");
      default:
        throw new UsageError(`unknown subcommand 'snapshot ${sub}' (track, restore, gc, du or doctor)`);
    }
  },
};

/** "used by session ses_… turns 2, 3 (msg_…, msg_…); session …" for a damaged object. */
function usedBy(sessions: AffectedSession[]): string {
  if (sessions.length === 0) return 'used by no retained snapshot';
  return (
    'used by ' +
    sessions
      .map((s) => {
        if (s.unknown) return `session ${s.id} (not in the session database)`;
        const turns = s.turns.length ? ` turn${s.turns.length === 1 ? '' : 's'} ${s.turns.map((t) => t.number).join(', ')} (${s.turns.map((t) => t.messageID).join(', ')})` : '';
        return `session ${s.id}${turns}${s.revert ? `${turns ? ' and' : ''} its revert snapshot` : ''}`;
      })
      .join('; ')
  );
}

function noArgs(sub: string, args: string[]): void {
  if (args.length) throw new UsageError(`'snapshot ${sub}' takes no arguments (got '${args[0]}')`);
}

export default command;
