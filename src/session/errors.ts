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
  constructor(id: string, pid: number) {
    super('session-busy', `session ${id} is running a turn (pid ${pid}); wait for it to finish, then try again`);
  }
}

/** Another turn, revert or delete kept the workspace's turn lock longer than snapshot.lockTimeoutMs. */
export class WorkspaceBusy extends SnaplineError {
  constructor(worktree: string, holder: string, waitedMs: number) {
    super('workspace-busy', `workspace ${worktree} is busy: ${holder} is running a turn, revert or delete there; gave up after ${waitedMs} ms (raise snapshot.lockTimeoutMs, or try again when it is done)`);
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
