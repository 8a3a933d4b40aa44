/**
 * Names a person can type for sessions and messages: unique id prefixes, turn numbers, `last`,
 * and "the latest session here". The CLI (and the server) turn what the user typed into full
 * ids here, so the rest of the library only ever sees exact ids.
 */
import { UsageError } from '../errors.js';
import { projectId, resolveWorkspace } from '../snapshot/store.js';
import type { Database } from './db.js';
import { AmbiguousId, NoSessionHere, UnknownMessage, UnknownSession, UnknownTurn } from './errors.js';
import { latestSession, listTurns, recentProjectSessions, type SessionInfo } from './store.js';
import { sessionWorkspace } from './workspace.js';

/** Candidates shown when a prefix is ambiguous. */
const SHOWN_CANDIDATES = 5;

/** `LIKE` pattern for ids starting with `prefix` (wildcards in it taken literally). */
function likePrefix(prefix: string): string {
  return prefix.replace(/[\\%_]/g, (c) => '\\' + c) + '%';
}

/** The ids starting with `ref` (with `kind_` put in front when the user left it out), at most SHOWN_CANDIDATES + 1. */
function idsByPrefix(db: Database, sql: string, kind: 'ses' | 'msg', ref: string, ...params: string[]): string[] {
  const prefix = ref.startsWith(`${kind}_`) ? ref : `${kind}_${ref}`;
  const rows = db.prepare(sql).all(...params, likePrefix(prefix), SHOWN_CANDIDATES + 1) as { id: string }[];
  return rows.map((r) => r.id);
}

function unique(ref: string, ids: string[]): string | undefined {
  if (ids.length > 1) throw new AmbiguousId(ref, ids.slice(0, SHOWN_CANDIDATES), ids.length > SHOWN_CANDIDATES);
  return ids[0];
}

/**
 * The full id of the session `ref` names: an id, or a unique prefix of one (`ses_` may be left
 * out). Without `ref`, the most recently updated session of the workspace around `cwd`
 * (latestSessionHere: sessions recorded in clones of it on other machines count too).
 * UnknownSession when nothing matches, AmbiguousId when a prefix matches several sessions,
 * NoSessionHere when the workspace has no session.
 */
export async function resolveSessionRef(db: Database, ref: string | undefined, cwd: string): Promise<string> {
  if (ref === undefined) {
    const worktree = await resolveWorkspace(cwd, true);
    const latest = await latestSessionHere(db, worktree);
    if (!latest) throw new NoSessionHere(worktree);
    return latest.id;
  }
  if (ref.trim() === '') throw new UsageError('a session id cannot be empty');
  if (db.prepare('SELECT 1 FROM session WHERE id = ?').get(ref)) return ref;
  const id = unique(ref, idsByPrefix(db, "SELECT id FROM session WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT ?", 'ses', ref));
  if (id === undefined) throw new UnknownSession(ref);
  return id;
}

/** How many of a project's most recent sessions latestSessionHere looks through for one recorded elsewhere. */
const ELSEWHERE_CANDIDATES = 50;

/**
 * The most recently updated session of a workspace on this machine: one recorded in it, or one
 * recorded on another machine in a clone of the same repository (a shared database), which
 * sessionWorkspace maps to this clone — whichever was updated last.
 */
export async function latestSessionHere(db: Database, worktree: string): Promise<SessionInfo | undefined> {
  const own = latestSession(db, worktree);
  const project = await projectId(worktree);
  if (project === 'global') return own;
  for (const s of recentProjectSessions(db, project, own?.time.updated ?? 0, ELSEWHERE_CANDIDATES)) {
    if (s.directory === worktree) return s;
    // Recorded elsewhere when its directory does not exist here: then it maps to this clone.
    if ((await sessionWorkspace(s, worktree).catch(() => undefined)) === worktree) return s;
  }
  return own;
}

/**
 * The full id of the message `ref` names in a session: an id, a unique prefix of one (`msg_`
 * may be left out), a turn number (`2`: the user message of the session's second turn,
 * counting from 1) or `last` (the last turn). UnknownTurn for a number past the last turn,
 * UnknownMessage when nothing matches, AmbiguousId when a prefix matches several messages.
 */
export function resolveMessageRef(db: Database, sessionId: string, ref: string): string {
  if (ref.trim() === '') throw new UsageError('a message id cannot be empty');
  if (ref === 'last' || /^\d+$/.test(ref)) {
    const turns = listTurns(db, sessionId);
    const n = ref === 'last' ? turns.length : Number(ref);
    const turn = n >= 1 ? turns[n - 1] : undefined;
    if (!turn) throw new UnknownTurn(sessionId, ref, turns.length);
    return turn.id;
  }
  if (db.prepare('SELECT 1 FROM message WHERE id = ? AND session_id = ?').get(ref, sessionId)) return ref;
  const id = unique(ref, idsByPrefix(db, "SELECT id FROM message WHERE session_id = ? AND id LIKE ? ESCAPE '\\' ORDER BY id LIMIT ?", 'msg', ref, sessionId));
  if (id === undefined) throw new UnknownMessage(sessionId, ref);
  return id;
}

/** Turn numbers (1-based) of a session's messages: a user message's own, an assistant's the turn it answers. */
export function turnNumbers(db: Database, sessionId: string): Map<string, number> {
  const numbers = new Map<string, number>();
  listTurns(db, sessionId).forEach((t, i) => {
    numbers.set(t.id, i + 1);
    for (const a of t.assistants) numbers.set(a, i + 1);
  });
  return numbers;
}
