import { constants as osConstants } from 'node:os';
import { SnaplineError } from '../errors.js';

/** No session with this id in the database. */
export class UnknownSession extends SnaplineError {
  constructor(id: string) {
    super('unknown-session', `no session '${id}' (list them with 'snapline session list')`, 2);
  }
}

/** No message with this id in the session. */
export class UnknownMessage extends SnaplineError {
  constructor(sessionId: string, id: string) {
    super('unknown-message', `session ${sessionId} has no message '${id}' (see 'snapline session show ${sessionId}')`, 2);
  }
}

/** The database file exists but is not an SQLite database. */
export class NotADatabase extends SnaplineError {
  constructor(path: string) {
    super('not-a-database', `${path} is not an SQLite database (move it aside or set SNAPLINE_HOME to another directory)`);
  }
}

/** The database was written by a newer snapline whose schema this version does not know. */
export class DatabaseTooNew extends SnaplineError {
  constructor(path: string, found: number, known: number) {
    super('database-too-new', `${path} has schema version ${found} but this snapline knows up to ${known}: upgrade snapline`);
  }
}

/** A row read from the database does not have the shape snapline wrote. */
export class CorruptRow extends SnaplineError {
  constructor(table: string, id: string, detail: string) {
    super('corrupt-row', `${table} row ${id} is damaged (${detail}); delete the session or restore the database from a backup`);
  }
}

/** A turn of the session is running (in another process), so it cannot be changed now. */
export class SessionBusy extends SnaplineError {
  /**
   * `host`: the other machine sharing the database that runs it (absent: this machine);
   * `idleMinutes`: given for a turn opened there by `turn begin` (hooks) — `pid` is then the last
   * process that called for it, and the turn is taken over after this long without a call.
   */
  constructor(id: string, pid: number, host?: string, idleMinutes?: number) {
    super(
      'session-busy',
      host === undefined
        ? `session ${id} is running a turn (pid ${pid}); wait for it to finish, then try again`
        : idleMinutes !== undefined
          ? `session ${id} is running a turn on ${host} (pid ${pid}); wait for it to end, then try again (a turn opened there with no call for ${idleMinutes} minutes is taken over by the next 'turn begin')`
          : `session ${id} is running a turn on ${host} (pid ${pid}); wait for it to finish, then try again (if ${host} is gone for good: snapline db --write "UPDATE session SET busy_pid = NULL, busy_host = NULL WHERE id = '${id}'")`,
    );
  }
}

/** Another turn, revert or delete kept the workspace's turn lock longer than we were to wait (--wait, session.waitSeconds). */
export class WorkspaceBusy extends SnaplineError {
  constructor(worktree: string, holder: string, waitedMs: number) {
    super('workspace-busy', `workspace ${worktree} is busy: ${holder} is running a turn, revert or delete there; gave up after ${(waitedMs / 1000).toFixed(1)} s (wait longer with --wait SECONDS or session.waitSeconds, or try again when it is done)`);
  }
}

/** A snapshot a session row names is not in its workspace's store (an edited row, or a rebuilt store). */
export class SnapshotsMissing extends SnaplineError {
  constructor(sessionId: string, tree: string, worktree: string) {
    super('snapshots-missing', `session ${sessionId} names snapshot ${tree}, which the snapshot store of ${worktree} does not hold (the session row or the store was changed); nothing was written`);
  }
}

/** unrevert on a session that has nothing reverted. */
export class NotReverted extends SnaplineError {
  constructor(id: string) {
    super('not-reverted', `session ${id} has no revert to undo (revert a turn first with 'snapline session revert ${id} --message MSG')`, 2);
  }
}

/** At most this many paths are named in one error line; the rest are counted. */
const LISTED_PATHS = 10;

function listPaths(paths: readonly string[]): string {
  const shown = paths.slice(0, LISTED_PATHS).map((p) => (/[\s'"\\]/.test(p) ? JSON.stringify(p) : p));
  return shown.join(', ') + (paths.length > LISTED_PATHS ? ` and ${paths.length - LISTED_PATHS} more` : '');
}

/**
 * Revert or unrevert would overwrite files changed since the session last saw them (a hand edit,
 * another session, another tool). Raised before anything is written.
 */
export class WorkspaceEdited extends SnaplineError {
  readonly paths: readonly string[];
  constructor(sessionId: string, action: 'revert' | 'unrevert', paths: readonly string[]) {
    super(
      'workspace-edited',
      `${action} of session ${sessionId} would overwrite ${paths.length} file${paths.length === 1 ? '' : 's'} changed outside the session since it last saw ${paths.length === 1 ? 'it' : 'them'}: ${listPaths(paths)}; nothing was written (see every change with --dry-run; --force overwrites them after keeping them in a snapshot, and prints the command that brings them back)`,
    );
    this.paths = paths;
  }
}

/** A turn in the range to revert has no end snapshot, so what it changed is unknown. */
export class TurnChangesUnknown extends SnaplineError {
  constructor(sessionId: string, turnId: string, start: string, worktree: string) {
    super(
      'turn-changes-unknown',
      `turn ${turnId} of session ${sessionId} stopped before its end snapshot was recorded and could not be recovered (the workspace moved on before snapline saw it again), so what it changed is unknown; nothing was written (revert a later turn, or put files back by hand with 'snapline snapshot restore ${start} --dir ${worktree} -- PATH')`,
    );
  }
}

/** A read-only `db` query tried to change the database. */
export class WriteRefused extends SnaplineError {
  constructor() {
    super('write-refused', 'this statement writes to the database; pass --write if you mean it', 2);
  }
}

/** An SQL statement that SQLite rejects. */
export class QueryFailed extends SnaplineError {
  constructor(detail: string) {
    super('query-failed', `query failed: ${detail}`, 2);
  }
}

/** The agent command given to `run --agent-cmd` cannot be started. */
export class AgentNotFound extends SnaplineError {
  constructor(cmd: string, detail: string) {
    super('agent-not-found', `cannot start agent '${cmd}': ${detail} (check --agent-cmd and PATH)`, 2);
  }
}

/** `turn step` or `turn end` found no turn left open by `turn begin`. */
export class NoOpenTurn extends SnaplineError {
  constructor(where: string) {
    super('no-open-turn', `no open turn in ${where} (start one with 'snapline turn begin')`, 2);
  }
}

/** A session or message id prefix that matches more than one id. */
export class AmbiguousId extends SnaplineError {
  readonly candidates: readonly string[];
  constructor(ref: string, candidates: readonly string[], more: boolean) {
    super('ambiguous-id', `'${ref}' matches more than one id: ${candidates.join(', ')}${more ? ', …' : ''} (type more of it)`, 2);
    this.candidates = candidates;
  }
}

/** A turn number beyond the session's turns (turns count from 1). */
export class UnknownTurn extends SnaplineError {
  constructor(sessionId: string, ref: string, turns: number) {
    super('unknown-turn', `session ${sessionId} has ${turns} turn${turns === 1 ? '' : 's'}, so there is no turn ${ref} (turns count from 1; see 'snapline session show ${sessionId}')`, 2);
  }
}

/** No session id was given and the workspace has no session to default to. */
export class NoSessionHere extends SnaplineError {
  constructor(worktree: string) {
    super('no-session-here', `no session recorded in ${worktree}; give a session id (see 'snapline session list')`, 2);
  }
}

/** A turn stopped by a signal before its command started (its message says so; exit 128 + n). */
export class TurnInterrupted extends SnaplineError {
  constructor(signal: NodeJS.Signals) {
    super('turn-interrupted', `${signal} before the command started: the turn stopped there (its first snapshot is recorded)`, 128 + (osConstants.signals[signal] ?? 0));
  }
}

/** A session's workspace is not on this machine, and the current directory is not a clone of its repository. */
export class SessionElsewhere extends SnaplineError {
  constructor(id: string, directory: string, project: string) {
    super('session-elsewhere', project === 'global'
      ? `session ${id} was recorded in ${directory}, which is not on this machine (it is not in a git repository, so no clone can stand for it)`
      : `session ${id} was recorded in ${directory}, which is not on this machine: run this from a clone of its repository (root commit ${project.slice(0, 12)}), or pass --dir CLONE`, 2);
  }
}
