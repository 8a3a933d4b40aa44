/** Reading a session back for display: stored summaries only, never a blob. */
import type { Database } from './db.js';
import type { FileDiff, PartData, ToolState, TurnSummary } from './model.js';
import { UsageError } from '../errors.js';
import { turnNumbers } from './resolve.js';
import type { GitContext } from '../git/run.js';
import { changedPaths } from '../git/tree-diff.js';
import { countMessages, getMessage, getSession, listMessages, listParts, listTurns, type MessageInfo, type PartInfo, type SessionInfo, type Turn } from './store.js';

export interface MessageView extends MessageInfo {
  parts: PartInfo[];
  /** The turn (1-based) the message opens (user) or answers (assistant). */
  turn?: number;
}

export interface SessionView {
  session: SessionInfo;
  /** Messages in this page, oldest first, with their parts. */
  messages: MessageView[];
  /** All messages of the session (for paging). */
  total: number;
  offset: number;
}

/** A page of a session's messages with their parts, from the database alone. */
export function showSession(db: Database, sessionId: string, opts: { limit?: number; offset?: number } = {}): SessionView {
  const session = getSession(db, sessionId);
  const offset = opts.offset ?? 0;
  const turns = turnNumbers(db, sessionId);
  const messages = listMessages(db, sessionId, { limit: opts.limit ?? 50, offset }).map((m): MessageView => {
    const turn = turns.get(m.id);
    return turn === undefined ? { ...m, parts: listParts(db, m.id) } : { ...m, parts: listParts(db, m.id), turn };
  });
  return { session, messages, total: countMessages(db, sessionId), offset };
}

/** The stored summary of a user message (undefined for assistant messages or unfinished turns). */
export function summaryOf(m: MessageInfo): TurnSummary | undefined {
  return m.data.role === 'user' ? m.data.summary : undefined;
}

/** Short one-line description of a part, for listings. */
export function describePart(p: PartData): string {
  switch (p.type) {
    case 'text':
      return `text: ${oneLine(p.text)}${p.truncated ? ` … (${p.bytes} bytes)` : ''}${p.interrupted ? ` (interrupted by ${p.interrupted})` : ''}`;
    case 'step-start':
      return `step-start ${p.snapshot?.slice(0, 12) ?? '(no snapshot)'}${p.skipped?.length ? ` (${p.skipped.length} not snapshotted)` : ''}`;
    case 'step-finish':
      return `step-finish ${p.snapshot?.slice(0, 12) ?? '(no snapshot)'}${p.recovered ? ' (taken when the interrupted turn was recovered)' : ''}${p.skipped?.length ? ` (${p.skipped.length} not snapshotted)` : ''}`;
    case 'patch':
      return `patch ${p.hash.slice(0, 12)}: ${p.total ?? p.files.length} file${(p.total ?? p.files.length) === 1 ? '' : 's'}`;
    case 'tool':
      if ('agent' in p.state.metadata) return `tool ${p.tool}: ${oneLine(p.state.title)}`;
      return `tool bash: ${oneLine((p.state as ToolState).input.command)} → exit ${(p.state as ToolState).metadata.exit ?? '?'}, ${(p.state as ToolState).metadata.outputBytes} bytes of output${(p.state as ToolState).metadata.interrupted ? ` (interrupted by ${(p.state as ToolState).metadata.interrupted})` : ''}`;
    default:
      return (p as { type: string }).type;
  }
}

function oneLine(s: string, max = 70): string {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length > max ? line.slice(0, max - 1) + '…' : line;
}

/** Sum of a summary's listed entries (equals `total` unless truncated). */
export function listedTotals(diffs: readonly FileDiff[]): { additions: number; deletions: number } {
  let additions = 0;
  let deletions = 0;
  for (const d of diffs) {
    additions += d.additions;
    deletions += d.deletions;
  }
  return { additions, deletions };
}

/** The snapshots a diff of the session (or of one turn) compares; UsageError if there are none yet. */
export function diffRange(db: Database, sessionId: string, messageId?: string): { directory: string; from: string; to: string; turns: Turn[] } {
  const session = getSession(db, sessionId);
  const all = listTurns(db, sessionId);
  let turns = all;
  if (messageId !== undefined) {
    getMessage(db, sessionId, messageId);
    turns = all.filter((t) => t.id === messageId || t.assistants.includes(messageId));
  }
  const from = turns.find((t) => t.start)?.start;
  const to = [...turns].reverse().find((t) => t.end)?.end;
  if (!from || !to) throw new UsageError(`${messageId ? `turn ${messageId}` : `session ${sessionId}`} has no finished turn to diff`);
  return { directory: session.directory, from, to, turns };
}

/**
 * The paths the turns themselves changed: each turn's own step-start → step-finish snapshots,
 * so edits made between turns (by hand, by other tools) are not among them.
 */
export async function turnsChangedPaths(ctx: GitContext, turns: readonly Turn[]): Promise<Set<string>> {
  const paths = new Set<string>();
  for (const t of turns) {
    if (!t.start || !t.end) continue;
    for (const c of await changedPaths(ctx, t.start, t.end)) paths.add(c.path);
  }
  return paths;
}
