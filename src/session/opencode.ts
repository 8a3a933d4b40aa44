/**
 * Sessions, messages and parts in the shapes OpenCode's tools read (its SDK, `opencode import`):
 * the row's JSON with the id columns put back. Used by `snapline export` and the server alike.
 */
import type { Database } from './db.js';
import { parseMessageData, type MessageData, type PartData, type RevertState } from './model.js';
import { getSession, listParts, type MessageInfo, type PartInfo, type SessionInfo } from './store.js';

export interface OpenCodeSession {
  id: string;
  slug: string;
  projectID: string;
  directory: string;
  parentID?: string;
  title: string;
  version: string;
  time: { created: number; updated: number };
  summary: { additions: number; deletions: number; files: number };
  revert?: RevertState;
  /** snapline's own: the process running a turn of the session. */
  busy?: { pid: number; host: string };
}

export type OpenCodeMessage = { id: string; sessionID: string } & MessageData;
export type OpenCodePart = { id: string; sessionID: string; messageID: string } & PartData;
export interface OpenCodeMessageWithParts {
  info: OpenCodeMessage;
  parts: OpenCodePart[];
}

export function openCodeSession(s: SessionInfo): OpenCodeSession {
  const out: OpenCodeSession = { id: s.id, slug: s.slug, projectID: s.projectID, directory: s.directory, title: s.title, version: s.version, time: s.time, summary: s.summary };
  if (s.parentID) out.parentID = s.parentID;
  if (s.revert) out.revert = s.revert;
  if (s.busy) out.busy = s.busy;
  return out;
}

export function openCodeMessage(m: MessageInfo): OpenCodeMessage {
  return { id: m.id, sessionID: m.sessionID, ...m.data };
}

export function openCodePart(p: PartInfo): OpenCodePart {
  return { id: p.id, sessionID: p.sessionID, messageID: p.messageID, ...p.data };
}

export function withParts(db: Database, m: MessageInfo): OpenCodeMessageWithParts {
  return { info: openCodeMessage(m), parts: listParts(db, m.id).map(openCodePart) };
}

/** A session's message rows oldest first, read a page at a time (a session may hold thousands). */
function* messagePages(db: Database, sessionId: string): Generator<MessageInfo> {
  const page = db.prepare('SELECT id, session_id, time_created, time_updated, data FROM message WHERE session_id = ? AND id > ? ORDER BY id LIMIT 100');
  let after = '';
  for (;;) {
    const rows = page.all(sessionId, after) as { id: string; session_id: string; time_created: number; time_updated: number; data: string }[];
    if (rows.length === 0) return;
    for (const r of rows) yield { id: r.id, sessionID: r.session_id, time: { created: r.time_created, updated: r.time_updated }, data: parseMessageData(r.id, r.data) };
    after = rows[rows.length - 1]!.id;
  }
}

/**
 * OpenCode's export document `{info, messages: [{info, parts}]}` as JSON text, one message at a
 * time (each under 64 KiB plus its parts), so a long session is never held whole.
 */
export function* exportSessionJson(db: Database, sessionId: string): Generator<string> {
  const session = getSession(db, sessionId);
  yield `{"info":${JSON.stringify(openCodeSession(session))},"messages":[`;
  let first = true;
  for (const m of messagePages(db, sessionId)) {
    yield (first ? '' : ',') + JSON.stringify(withParts(db, m));
    first = false;
  }
  yield ']}\n';
}
