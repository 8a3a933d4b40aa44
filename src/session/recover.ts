/**
 * Recovery of interrupted turns: a turn whose process died after its command ran but before its
 * end snapshot gets that snapshot from the next command that holds the workspace, so what it
 * changed is known, shown and revertable.
 */
import { isAbsolute } from 'node:path';
import { retain } from '../snapshot/retention.js';
import { resolveWorkspace, storeContext } from '../snapshot/store.js';
import { track, type TrackResult } from '../snapshot/track.js';
import { isDatabaseError, openDatabase, type Database } from './db.js';
import { CorruptRow } from './errors.js';
import { withTurnLock } from './lock.js';
import { NO_TOKENS, type AssistantMessageData, type PartData, type TurnSummary } from './model.js';
import { getMessage, getSession, insertPart, listTurns, updateMessage, updateSessionSummary } from './store.js';
import { jsonText } from './sql.js';
import { capPaths, summarize } from './summary.js';
import { sessionTotals } from './record.js';

export interface RecoveredTurn {
  sessionID: string;
  /** The turn (its user message). */
  messageID: string;
  /** The end snapshot recorded for it. */
  snapshot: string;
  summary: TurnSummary;
}

interface Interrupted {
  sessionID: string;
  turnID: string;
  /** The assistant message that gets the step-finish part. */
  assistantID: string;
  start: string;
}

/**
 * The workspace's latest turn, if it stopped after its step-start snapshot without an end
 * snapshot and no process is recording it. Only the latest turn: once another turn ran in the
 * workspace, a snapshot taken now would credit the interrupted one with later work. A reverted
 * session is skipped: its workspace state is the revert's, not the turn's.
 */
function interruptedTurn(db: Database, worktree: string): Interrupted | undefined {
  try {
    const latest = db
      .prepare(
        `SELECT m.id AS id, m.session_id AS sid FROM message m JOIN session s ON s.id = m.session_id
         WHERE s.directory = ? AND ${db.dialect === 'sqlite' ? `CASE WHEN json_valid(m.data) THEN ${jsonText(db, 'm.data', '$.role')} END` : jsonText(db, 'm.data', '$.role')} = 'user' ORDER BY m.id DESC LIMIT 1`,
      )
      .get(worktree) as { id: string; sid: string } | undefined;
    if (!latest) return undefined;
    const session = getSession(db, latest.sid);
    if (session.busy || session.revert) return undefined;
    const turn = listTurns(db, session.id).find((t) => t.id === latest.id);
    const assistantID = turn?.assistants.at(-1);
    if (!turn?.start || turn.end || !assistantID) return undefined;
    const data = getMessage(db, session.id, assistantID).data as AssistantMessageData;
    if (data.finish !== 'error' || data.time.completed === undefined) return undefined;
    return { sessionID: session.id, turnID: turn.id, assistantID, start: turn.start };
  } catch (e) {
    // Damaged rows are not recovered: the commands reading that session report the damage.
    if (e instanceof CorruptRow || isDatabaseError(e)) return undefined;
    throw e;
  }
}

/**
 * Inside the workspace's turn lock: records the end snapshot of the workspace's interrupted
 * turn, if there is one — a `step-finish` part flagged `recovered` with the time, retained for
 * the session — then its summary, patch part and the session totals, like a finished turn's.
 * `now` is a snapshot of the workspace the caller has just taken (saves a second one).
 */
export async function recoverLocked(db: Database, worktree: string, now?: TrackResult): Promise<RecoveredTurn | undefined> {
  const turn = interruptedTurn(db, worktree);
  if (!turn) return undefined;
  const end = now ?? (await track(worktree));
  await retain(worktree, turn.sessionID, [end.tree]);
  const ctx = await storeContext(worktree);
  const paths: string[] = [];
  const summary = await summarize(ctx, turn.start, end.tree, (s) => paths.push(s.file));
  const totals = await sessionTotals(db, ctx, turn.sessionID, turn.start, end.tree, summary);
  const recoveredAt = Date.now();
  const finish: PartData = {
    type: 'step-finish',
    reason: 'interrupted',
    snapshot: end.tree,
    cost: 0,
    tokens: NO_TOKENS,
    recovered: true,
    recoveredAt,
  };
  if (end.skipped.length) finish.skipped = end.skipped.map((s) => (s.size === undefined ? { path: s.path, reason: s.reason } : { path: s.path, reason: s.reason, size: s.size }));
  db.transaction(() => {
    insertPart(db, turn.assistantID, turn.sessionID, finish);
    if (paths.length) insertPart(db, turn.assistantID, turn.sessionID, { type: 'patch', hash: turn.start, ...capPaths(paths) });
    const user = getMessage(db, turn.sessionID, turn.turnID);
    updateMessage(db, turn.turnID, { ...user.data, summary } as typeof user.data);
    updateSessionSummary(db, turn.sessionID, totals);
  });
  return { sessionID: turn.sessionID, messageID: turn.turnID, snapshot: end.tree, summary };
}

/**
 * Records the end snapshot of the interrupted turn of the workspace at `directory`, if any
 * (see recoverLocked), taking the workspace's turn lock for it. Cheap when there is none: one
 * query, no lock, no snapshot. Called by run, revert, unrevert and session diff; agent
 * integrations call it when a turn begins.
 */
export async function recoverInterruptedTurn(directory: string, opts: { db?: Database; onWait?: (message: string) => void } = {}): Promise<RecoveredTurn | undefined> {
  const db = opts.db ?? openDatabase();
  try {
    if (!isAbsolute(directory)) return undefined;
    if (!interruptedTurn(db, directory)) return undefined;
    const worktree = await resolveWorkspace(directory, false);
    return await withTurnLock(worktree, () => recoverLocked(db, worktree), { onWait: opts.onWait });
  } finally {
    if (!opts.db) db.close();
  }
}
