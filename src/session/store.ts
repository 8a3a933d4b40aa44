/** Plain functions over the session database: projects, sessions, messages, parts. */
import { hostname } from 'node:os';
import { pidRunning } from '../snapshot/lock.js';
import type { Database } from './db.js';
import { jsonParam, jsonScalarParam, jsonSet, jsonText, storableJson, type Params } from './sql.js';
import { CorruptRow, SessionBusy, UnknownMessage, UnknownSession } from './errors.js';
import { advanceClock, idAt, newId } from './id.js';
import { parseMessageData, parsePartData, parseRevert, type MessageData, type PartData, type RevertState } from './model.js';

/** snapline's version, recorded on each session like OpenCode does. */
export const SESSION_VERSION = '0.1.0';

export interface SessionInfo {
  id: string;
  projectID: string;
  parentID?: string;
  slug: string;
  title: string;
  directory: string;
  version: string;
  time: { created: number; updated: number };
  summary: { additions: number; deletions: number; files: number };
  revert?: RevertState;
  /**
   * Who is running a turn of this session: a live process (`run`), or a turn opened by `turn
   * begin` (hooks) and not yet ended — `turn` is its assistant message, `pid` the last process
   * that called for it — while it has had a call within OPEN_TURN_IDLE_MS.
   */
  busy?: { pid: number; host: string; turn?: string };
  /** The agent program recording into this session, and its own session id (hooks, `turn begin`). */
  agent?: { name: string; session?: string };
}

export interface MessageInfo<D extends MessageData = MessageData> {
  id: string;
  sessionID: string;
  time: { created: number; updated: number };
  data: D;
}

export interface PartInfo<D extends PartData = PartData> {
  id: string;
  messageID: string;
  sessionID: string;
  time: { created: number; updated: number };
  data: D;
}

interface DataRow {
  id: string;
  session_id: string;
  message_id?: string;
  time_created: number;
  time_updated: number;
  data: string;
}

/** Records the project a workspace belongs to (id: its repository's root commit, or "global"). */
export function ensureProject(db: Database, id: string, worktree: string, vcs: string | null): void {
  const now = Date.now();
  db.prepare(
    `INSERT INTO project (id, worktree, vcs, time_created, time_updated) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT(id) DO UPDATE SET time_updated = excluded.time_updated`,
  ).run(id, worktree, vcs, now, now);
}

/** Creates a session row (the project row must exist). */
export function createSession(db: Database, opts: { projectID: string; directory: string; title?: string; parentID?: string; agent?: string; agentSession?: string }): SessionInfo {
  const now = Date.now();
  const id = newId('session');
  const title = opts.title ?? `New session - ${new Date(now).toISOString()}`;
  db.prepare(
    `INSERT INTO session (id, project_id, parent_id, slug, directory, title, version, time_created, time_updated, agent, agent_session)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(id, opts.projectID, opts.parentID ?? null, id.slice(4, 16), opts.directory, title, SESSION_VERSION, now, now, opts.agent ?? null, opts.agentSession ?? null);
  return getSession(db, id);
}

/**
 * The session columns SessionInfo is read from, in toSession's order. The seven that are rarely set
 * come folded into one JSON array (NULL when all are): a listing of 10,000 sessions reads 12
 * cells a row instead of 17. `revert` goes in as text, so a row edited into bad JSON still
 * reads as CorruptRow.
 */
function sessionColumns(db: Database): string {
  const [array, revert] = db.dialect === 'sqlite' ? ['json_array', 'revert'] : ['json_build_array', 'revert::text'];
  return `id, project_id, slug, title, directory, version, time_created, time_updated, summary_additions, summary_deletions, summary_files,
    CASE WHEN parent_id IS NULL AND revert IS NULL AND busy_pid IS NULL AND agent IS NULL THEN NULL
      ELSE ${array}(parent_id, ${revert}, busy_pid, busy_host, agent, agent_session, busy_turn) END`;
}

/** The sessions a query (`SELECT <sessionColumns> FROM session …`) finds. */
function readSessions(db: Database, where: string, ...params: Params): SessionInfo[] {
  return db.prepare(`SELECT ${sessionColumns(db)} FROM session ${where}`).raw().all(...params).map(toSession);
}

/** The session recording an agent's own session (by the agent's name and session id), if any. */
export function findAgentSession(db: Database, agent: string, agentSession: string): SessionInfo | undefined {
  return readSessions(db, 'WHERE agent = ? AND agent_session = ?', agent, agentSession)[0];
}

function toSession(r: unknown[]): SessionInfo {
  const [id, projectID, slug, title, directory, version, created, updated, additions, deletions, files, extra] = r as [string, string, string, string, string, string, number, number, number, number, number, string | null];
  if (typeof id !== 'string' || typeof directory !== 'string') throw new CorruptRow('session', String(id), 'missing id or directory');
  const s: SessionInfo = {
    id,
    projectID,
    slug,
    title,
    directory,
    version,
    time: { created, updated },
    summary: { additions: additions ?? 0, deletions: deletions ?? 0, files: files ?? 0 },
  };
  if (extra === null) return s;
  const [parentID, revertText, busyPid, busyHost, agent, agentSession, busyTurn] = JSON.parse(extra) as [string | null, string | null, number | null, string | null, string | null, string | null, string | null];
  if (parentID) s.parentID = parentID;
  if (agent) s.agent = agentSession ? { name: agent, session: agentSession } : { name: agent };
  const revert = parseRevert(id, revertText);
  if (revert) s.revert = revert;
  if (busyPid === null) return s;
  if (busyTurn) {
    if (updated > Date.now() - OPEN_TURN_IDLE_MS) s.busy = { pid: busyPid, host: busyHost ?? '', turn: busyTurn };
  } else if (processAlive(busyPid, busyHost ?? '')) s.busy = { pid: busyPid, host: busyHost ?? '' };
  return s;
}

/** A session by id; UnknownSession if there is none. */
export function getSession(db: Database, id: string): SessionInfo {
  const s = readSessions(db, 'WHERE id = ?', id)[0];
  if (!s) throw new UnknownSession(id);
  return s;
}

/** Sessions, newest first (ids sort that way), optionally only those of one workspace (as resolveWorkspace gives it) and of titles matching `search`. */
export function listSessions(db: Database, opts: { directory?: string; limit?: number; offset?: number; search?: string } = {}): SessionInfo[] {
  const conds = [];
  if (opts.directory !== undefined) conds.push('directory = @directory');
  // `search`: a case-insensitive substring of the title (LIKE's wildcards taken literally).
  // PostgreSQL's LIKE is case-sensitive where SQLite's is not (for ASCII): ILIKE there.
  if (opts.search) conds.push(`title ${db.dialect === 'postgres' ? 'ILIKE' : 'LIKE'} @search ESCAPE '\\'`);
  const where = conds.length ? `WHERE ${conds.join(' AND ')}` : '';
  const search = opts.search ? `%${opts.search.replace(/[\\%_]/g, (c) => '\\' + c)}%` : undefined;
  return readSessions(db, `${where} ORDER BY id LIMIT @limit OFFSET @offset`, { directory: opts.directory, search, limit: opts.limit ?? NO_LIMIT, offset: opts.offset ?? 0 });
}

/** The most recently updated session of a directory (`run --continue`). */
export function latestSession(db: Database, directory: string): SessionInfo | undefined {
  return readSessions(db, 'WHERE directory = ? ORDER BY time_updated DESC, id LIMIT 1', directory)[0];
}

/** Sessions of a project updated at `since` or later, most recently updated first, at most `limit`. */
export function recentProjectSessions(db: Database, projectId: string, since: number, limit: number): SessionInfo[] {
  return readSessions(db, 'WHERE project_id = ? AND time_updated >= ? ORDER BY time_updated DESC, id LIMIT ?', projectId, since, limit);
}

/** Total number of sessions (for paging). */
export function countSessions(db: Database): number {
  return (db.prepare('SELECT COUNT(*) AS n FROM session').get() as { n: number }).n;
}

/** A LIMIT meaning "all rows" in both dialects (SQLite's -1 is an error in PostgreSQL). */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * Marks a session as running a turn in this process; SessionBusy if a live process (of any
 * machine sharing the database) already does. The row is locked while checking (SQLite: the
 * write transaction; PostgreSQL: FOR UPDATE), so two machines never both take it. Ids made
 * from here on sort after the session's last message even if this machine's clock is behind.
 */
export function markBusy(db: Database, id: string): void {
  db.transaction(() => {
    lockSession(db, id);
    assertNotBusy(getSession(db, id));
    db.prepare('UPDATE session SET busy_pid = ?, busy_host = ?, busy_turn = NULL WHERE id = ?').run(process.pid, hostname(), id);
    advancePastSession(db, id);
  });
}

/** Ids made from here on sort after the session's last message (whatever this machine's clock says). */
function advancePastSession(db: Database, id: string): void {
  const last = db.prepare('SELECT id FROM message WHERE session_id = ? ORDER BY id DESC LIMIT 1').pluck().get(id);
  if (typeof last === 'string') advanceClock(last);
}

/**
 * How long a turn opened on another machine (`turn begin`, hooks) holds its session without any
 * call (begin, step, end) before a `turn begin` here may take the session over — its agent or
 * machine is taken to be gone; that turn is then marked interrupted.
 */
export const OPEN_TURN_IDLE_MS = 60 * 60_000;

/**
 * Takes the session for a call of the turn API (begin, step, end), each its own process: the
 * mark belongs to this host's open turn (setBusyTurn names it), not to a process. SessionBusy
 * while a live `run` (any machine) or an open turn of another machine with a call within
 * OPEN_TURN_IDLE_MS holds the session; an idle one of another machine is taken over (that turn
 * marked interrupted: its machine's workspace is not here to snapshot). This host's own open
 * turn keeps the mark; turns left open here follow the left-open rules (the next begin closes
 * them). Locks the row like markBusy, and restarts the idle clock.
 */
export function markTurn(db: Database, id: string): void {
  db.transaction(() => {
    lockSession(db, id);
    const s = getSession(db, id);
    const here = hostname();
    assertNotBusy(s);
    const held = db.prepare('SELECT busy_host, busy_turn FROM session WHERE id = ?').get(id) as { busy_host: string | null; busy_turn: string | null };
    if (held.busy_turn && held.busy_host !== here && !s.busy) {
      const message = `the turn was left open on ${held.busy_host} with no call for ${OPEN_TURN_IDLE_MS / 60_000} minutes; ${here} took the session over`;
      interruptMessages(db, id, message, held.busy_turn);
    }
    const turn = held.busy_host === here ? held.busy_turn : null;
    db.prepare('UPDATE session SET busy_pid = ?, busy_host = ?, busy_turn = ?, time_updated = ? WHERE id = ?').run(process.pid, here, turn, Date.now(), id);
    advancePastSession(db, id);
  });
}

/** Names the open turn (its assistant message) that holds this host's mark on the session. */
export function setBusyTurn(db: Database, id: string, turn: string): void {
  db.prepare('UPDATE session SET busy_turn = ? WHERE id = ? AND busy_host = ?').run(turn, id, hostname());
}

/** Clears this host's turn mark (the turn ended, or its begin failed). */
export function clearTurnMark(db: Database, id: string): void {
  db.prepare('UPDATE session SET busy_pid = NULL, busy_host = NULL, busy_turn = NULL WHERE id = ? AND busy_host = ?').run(id, hostname());
}

/** Locks the session's row until the transaction ends (SQLite: its write transaction already does). */
function lockSession(db: Database, id: string): void {
  if (db.dialect === 'postgres') db.prepare('SELECT id FROM session WHERE id = ? FOR UPDATE').get(id);
}

/** Clears the running-turn mark set by markBusy. */
export function clearBusy(db: Database, id: string): void {
  db.prepare('UPDATE session SET busy_pid = NULL, busy_host = NULL WHERE id = ? AND busy_pid = ? AND busy_host = ?').run(id, process.pid, hostname());
}

/** What an interrupted turn's assistant message says (snapline was killed before finishing it). */
export const INTERRUPTED = 'interrupted';

/**
 * Marks the turns of sessions whose busy process died (killed, machine crash) as interrupted:
 * each assistant message left without a completion time gets `finish: "error"` and
 * `error: {name: "interrupted"}`, keeping the parts it captured (step-start snapshot, output,
 * maybe step-finish); the busy mark is cleared. Returns how many messages were marked.
 */
export function markInterruptedTurns(db: Database): number {
  const stale = (db.prepare('SELECT id, busy_pid, busy_host FROM session WHERE busy_pid IS NOT NULL AND busy_turn IS NULL').all() as { id: string; busy_pid: number; busy_host: string | null }[]).filter(
    (r) => !processAlive(r.busy_pid, r.busy_host ?? ''),
  );
  let marked = 0;
  for (const r of stale) {
    db.transaction(() => {
      // Re-checked inside the write transaction: another process may have taken the session over.
      const still = db.prepare('SELECT 1 FROM session WHERE id = ? AND busy_pid = ? AND busy_turn IS NULL').get(r.id, r.busy_pid);
      if (!still) return;
      marked += interruptMessages(db, r.id, `snapline (pid ${r.busy_pid}) stopped before this turn was fully recorded; its parts hold what was captured`);
      db.prepare('UPDATE session SET busy_pid = NULL, busy_host = NULL WHERE id = ? AND busy_pid = ?').run(r.id, r.busy_pid);
    });
  }
  return marked;
}

/** Marks the session's open assistant messages (or only `messageId`) interrupted, saying `message`; returns how many. */
function interruptMessages(db: Database, sessionId: string, message: string, messageId?: string): number {
  const now = Date.now();
  const error = JSON.stringify({ name: INTERRUPTED, message });
  return db
    .prepare(
      `UPDATE message SET time_updated = ?, data = ${jsonSet(db, 'data', [
        ['$.finish', jsonScalarParam(db, 'text')],
        ['$.error', jsonParam(db)],
        ['$.time.completed', jsonScalarParam(db, 'number')],
      ])}
       WHERE session_id = ? AND ${messageId === undefined ? '' : 'id = ? AND '}${jsonText(db, 'data', '$.role')} = 'assistant' AND ${jsonText(db, 'data', '$.time.completed')} IS NULL`,
    )
    .run(now, 'error', error, now, sessionId, ...(messageId === undefined ? [] : [messageId])).changes;
}

/**
 * Refuses when another process (`run`) or another machine's open turn is running a turn of the
 * session. This host's open turns do not count: this host's turn lock orders its commands.
 */
export function assertNotBusy(s: SessionInfo): void {
  if (!s.busy) return;
  const here = s.busy.host === hostname();
  if (here && (s.busy.turn !== undefined || s.busy.pid === process.pid)) return;
  throw new SessionBusy(s.id, s.busy.pid, here ? undefined : s.busy.host, s.busy.turn === undefined ? undefined : OPEN_TURN_IDLE_MS / 60_000);
}

/** A pid on this host that still exists (a crashed turn must not leave its session busy forever). */
export function processAlive(pid: number, host: string): boolean {
  return host !== hostname() || pidRunning(pid);
}

/** Sets the session's totals and update time. */
export function updateSessionSummary(db: Database, id: string, totals: { additions: number; deletions: number; files: number }): void {
  db.prepare('UPDATE session SET summary_additions = ?, summary_deletions = ?, summary_files = ?, time_updated = ? WHERE id = ?').run(totals.additions, totals.deletions, totals.files, Date.now(), id);
}

/** Sets (or clears, with undefined) the session's revert state. */
export function setRevert(db: Database, id: string, revert: RevertState | undefined): void {
  db.prepare('UPDATE session SET revert = ?, time_updated = ? WHERE id = ?').run(revert ? JSON.stringify(revert) : null, Date.now(), id);
}

/** Adds a message; returns it with its new id. */
export function insertMessage<D extends MessageData>(db: Database, sessionId: string, data: D): MessageInfo<D> {
  const now = Date.now();
  const id = newId('message');
  db.prepare('INSERT INTO message (id, session_id, time_created, time_updated, data) VALUES (?, ?, ?, ?, ?)').run(id, sessionId, now, now, storableJson(db, JSON.stringify(data)));
  return { id, sessionID: sessionId, time: { created: now, updated: now }, data };
}

/** Replaces a message's data. */
export function updateMessage(db: Database, id: string, data: MessageData): void {
  db.prepare('UPDATE message SET data = ?, time_updated = ? WHERE id = ?').run(storableJson(db, JSON.stringify(data)), Date.now(), id);
}

/** Adds a part to a message, made now or at `at` (a step recorded after the fact; `seq` orders parts of one millisecond); returns it with its new id. */
export function insertPart<D extends PartData>(db: Database, messageId: string, sessionId: string, data: D, at?: { ms: number; seq: number }): PartInfo<D> {
  const now = at?.ms ?? Date.now();
  const id = at ? idAt('part', at.ms, at.seq) : newId('part');
  db.prepare('INSERT INTO part (id, message_id, session_id, time_created, time_updated, data) VALUES (?, ?, ?, ?, ?, ?)').run(id, messageId, sessionId, now, now, storableJson(db, JSON.stringify(data)));
  return { id, messageID: messageId, sessionID: sessionId, time: { created: now, updated: now }, data };
}

function toMessage(r: DataRow): MessageInfo {
  return { id: r.id, sessionID: r.session_id, time: { created: r.time_created, updated: r.time_updated }, data: parseMessageData(r.id, r.data) };
}

function toPart(r: DataRow): PartInfo {
  return { id: r.id, messageID: r.message_id!, sessionID: r.session_id, time: { created: r.time_created, updated: r.time_updated }, data: parsePartData(r.id, r.data) };
}

/** A session's messages, oldest first, one page at a time. */
export function listMessages(db: Database, sessionId: string, opts: { limit?: number; offset?: number } = {}): MessageInfo[] {
  const rows = db
    .prepare('SELECT id, session_id, time_created, time_updated, data FROM message WHERE session_id = ? ORDER BY id LIMIT ? OFFSET ?')
    .all(sessionId, opts.limit ?? NO_LIMIT, opts.offset ?? 0) as unknown as DataRow[];
  return rows.map(toMessage);
}

/** Number of messages of a session. */
export function countMessages(db: Database, sessionId: string): number {
  return (db.prepare('SELECT COUNT(*) AS n FROM message WHERE session_id = ?').get(sessionId) as { n: number }).n;
}

/** One message of a session; UnknownMessage if the session has no such message. */
export function getMessage(db: Database, sessionId: string, id: string): MessageInfo {
  const r = db.prepare('SELECT id, session_id, time_created, time_updated, data FROM message WHERE id = ? AND session_id = ?').get(id, sessionId) as DataRow | undefined;
  if (!r) throw new UnknownMessage(sessionId, id);
  return toMessage(r);
}

/** The parts of a message, oldest first. */
export function listParts(db: Database, messageId: string): PartInfo[] {
  const rows = db.prepare('SELECT id, message_id, session_id, time_created, time_updated, data FROM part WHERE message_id = ? ORDER BY id').all(messageId) as unknown as DataRow[];
  return rows.map(toPart);
}

/** One turn: a user message and the snapshots bracketing the work done for it. */
export interface Turn {
  /** The user message id. */
  id: string;
  /** Assistant messages answering it. */
  assistants: string[];
  /** Snapshot of the first step-start (before the work), if any. */
  start?: string;
  /** Snapshot of the last step-finish (after the work), if any. */
  end?: string;
}

/**
 * A session's turns in order, with their snapshots — read from the step parts' snapshot fields
 * only (a JSON path in SQL), so no large row is loaded.
 */
export function listTurns(db: Database, sessionId: string): Turn[] {
  try {
    return readTurns(db, sessionId);
  } catch (e) {
    // json_extract fails on a row edited into invalid JSON: name the row, like reading it would.
    // (PostgreSQL's jsonb columns cannot hold invalid JSON.)
    if (db.dialect !== 'sqlite') throw e;
    for (const table of ['message', 'part'] as const) {
      const bad = db.prepare(`SELECT id FROM ${table} WHERE session_id = ? AND NOT json_valid(data) LIMIT 1`).get(sessionId) as { id: string } | undefined;
      if (bad) throw new CorruptRow(table, bad.id, 'data is not valid JSON');
    }
    throw e;
  }
}

function readTurns(db: Database, sessionId: string): Turn[] {
  const users = db
    .prepare(`SELECT id, ${jsonText(db, 'data', '$.role')} AS role, ${jsonText(db, 'data', '$.parentID')} AS parent FROM message WHERE session_id = ? ORDER BY id`)
    .all(sessionId) as { id: string; role: string; parent: string | null }[];
  const turns = new Map<string, Turn>();
  const owner = new Map<string, Turn>();
  for (const m of users) {
    if (m.role === 'user') turns.set(m.id, { id: m.id, assistants: [] });
    else if (m.parent && turns.has(m.parent)) {
      const t = turns.get(m.parent)!;
      t.assistants.push(m.id);
      owner.set(m.id, t);
    }
  }
  const steps = db
    .prepare(
      `SELECT message_id AS mid, ${jsonText(db, 'data', '$.type')} AS type, ${jsonText(db, 'data', '$.snapshot')} AS snapshot
       FROM part WHERE session_id = ? AND ${jsonText(db, 'data', '$.type')} IN ('step-start', 'step-finish') ORDER BY id`,
    )
    .all(sessionId) as { mid: string; type: string; snapshot: string | null }[];
  for (const s of steps) {
    const t = owner.get(s.mid);
    if (!t || typeof s.snapshot !== 'string') continue;
    if (s.type === 'step-start' && t.start === undefined) t.start = s.snapshot;
    if (s.type === 'step-finish') t.end = s.snapshot;
  }
  return [...turns.values()];
}

/** Assistant messages of a session still open (no completion time), oldest first. */
export function openAssistantMessages(db: Database, sessionId: string): string[] {
  const rows = db
    .prepare(`SELECT id FROM message WHERE session_id = ? AND ${jsonText(db, 'data', '$.role')} = 'assistant' AND ${jsonText(db, 'data', '$.time.completed')} IS NULL ORDER BY id`)
    .all(sessionId) as { id: string }[];
  return rows.map((r) => r.id);
}

/** The first and the last step-start snapshot of one message (read from those parts only). */
export function stepSnapshots(db: Database, messageId: string): { first?: string; last?: string } {
  const q = (order: 'ASC' | 'DESC') =>
    (db.prepare(`SELECT ${jsonText(db, 'data', '$.snapshot')} AS s FROM part WHERE message_id = ? AND ${jsonText(db, 'data', '$.type')} = 'step-start' ORDER BY id ${order} LIMIT 1`).get(messageId) as { s: unknown } | undefined)?.s;
  const first = q('ASC');
  const last = q('DESC');
  const out: { first?: string; last?: string } = {};
  if (typeof first === 'string') out.first = first;
  if (typeof last === 'string') out.last = last;
  return out;
}

/** Marks a session as just used (so `--continue` and `turn step` without --session find it). */
export function touchSession(db: Database, id: string): void {
  db.prepare('UPDATE session SET time_updated = ? WHERE id = ?').run(Date.now(), id);
}

/** Every snapshot id a session's parts mention (for retention). */
export function sessionSnapshots(db: Database, sessionId: string): string[] {
  const rows = db
    .prepare(`SELECT DISTINCT ${jsonText(db, 'data', '$.snapshot')} AS s FROM part WHERE session_id = ? AND ${jsonText(db, 'data', '$.snapshot')} IS NOT NULL`)
    .all(sessionId) as { s: string }[];
  return rows.map((r) => r.s);
}

/** Deletes the messages (and their parts) from `messageId` on: the turns a revert discarded. */
export function deleteMessagesFrom(db: Database, sessionId: string, messageId: string): number {
  return db.transaction(() => {
    db.prepare('DELETE FROM part WHERE session_id = ? AND message_id >= ?').run(sessionId, messageId);
    return db.prepare('DELETE FROM message WHERE session_id = ? AND id >= ?').run(sessionId, messageId).changes;
  });
}

/** Deletes a session's rows (parts, messages, the session) in one transaction. */
export function deleteSessionRows(db: Database, sessionId: string): void {
  db.transaction(() => {
    db.prepare('DELETE FROM part WHERE session_id = ?').run(sessionId);
    db.prepare('DELETE FROM message WHERE session_id = ?').run(sessionId);
    if (db.prepare('DELETE FROM session WHERE id = ?').run(sessionId).changes === 0) throw new UnknownSession(sessionId);
  });
}
