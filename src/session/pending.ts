/**
 * Deferred turn summaries. An agent waits for its end hook, and a turn's exact summary (and,
 * from the second turn on, the session's net totals) compares every file the turn changed —
 * seconds for hundreds of MiB. So a hook ends a turn with what must be exact at that moment
 * (end snapshot, step-finish, the assistant message's completion) and records the rest as a row
 * of `summary_pending`, in the same transaction; a detached `snapline summarize` process then
 * computes the summary, the patch part and the totals exactly as closeTurn does.
 *
 * Every reader of summaries or totals settles the pending rows first (settleSummaries, or
 * openSettledDatabase for a command): it waits for a live process working on a row, and
 * computes the row itself when none is (the summarizer was killed, or never started). A row is
 * written by one process only: the worker claims it (compare-and-set on its claim columns), and
 * the result goes in with the row's deletion in one transaction — a row already gone (done by
 * another, or its turn deleted by a revert: the row goes with its message) writes nothing.
 */
import { hostname } from 'node:os';
import { startBackground } from '../background.js';
import type { Database, OpenOptions } from './db.js';
import { anyPendingEnd } from './fast-steps.js';
import { jsonText } from './sql.js';
import { getMessage, getSession, insertPart, processAlive, updateMessage, type SessionInfo } from './store.js';

/** A turn whose summary, patch part and session totals are still to be computed. */
export interface PendingSummary {
  /** The turn's user message (gets the summary). */
  messageID: string;
  sessionID: string;
  /** The assistant message (gets the patch part). */
  assistantID: string;
  /** The turn's first snapshot and its end snapshot. */
  from: string;
  to: string;
  /** The session's first snapshot when the turn ended (its totals run from there to `to`). */
  totalsFrom: string;
  /** When the turn ended (ms): the patch part is dated then, right after the step-finish. */
  at: number;
}

interface PendingRow {
  message_id: string;
  session_id: string;
  assistant_id: string;
  from_tree: string;
  to_tree: string;
  totals_from: string;
  time_created: number;
  claim_pid: number | null;
  claim_host: string | null;
  claim_time: number | null;
}

/** A claim by a process of another host counts as abandoned after this long without the work done. */
export const CLAIM_STALE_MS = 10 * 60_000;
/** How often a reader looks again while another process computes a summary. */
const POLL_MS = 50;

/** Records a turn's summary as pending work (inside the transaction that completes the turn). */
export function deferSummary(db: Database, p: PendingSummary): void {
  db.prepare(
    `INSERT INTO summary_pending (message_id, session_id, assistant_id, from_tree, to_tree, totals_from, time_created)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  ).run(p.messageID, p.sessionID, p.assistantID, p.from, p.to, p.totalsFrom, p.at);
}

/** True when some turn of the session waits for its summary with no live process working on it. */
export function needsSummarizer(db: Database, sessionId: string): boolean {
  return pendingRows(db, sessionId).some((r) => !claimedElsewhere(r));
}

/**
 * True when a reader has something to complete first: a turn (of the session, if given) waiting
 * for its summary, or an end the step hook script answered that is not recorded yet.
 */
export function hasPendingWork(db: Database, sessionId?: string): boolean {
  return anyPendingEnd() || hasPendingSummaries(db, sessionId);
}

/** True when some turn (of the session, if given) still waits for its summary. */
export function hasPendingSummaries(db: Database, sessionId?: string): boolean {
  const row = sessionId === undefined ? db.prepare('SELECT 1 AS x FROM summary_pending LIMIT 1').get() : db.prepare('SELECT 1 AS x FROM summary_pending WHERE session_id = ? LIMIT 1').get(sessionId);
  return row !== undefined;
}

function pendingRows(db: Database, sessionId?: string): PendingRow[] {
  const cols = 'message_id, session_id, assistant_id, from_tree, to_tree, totals_from, time_created, claim_pid, claim_host, claim_time';
  return (sessionId === undefined
    ? db.prepare(`SELECT ${cols} FROM summary_pending ORDER BY message_id`).all()
    : db.prepare(`SELECT ${cols} FROM summary_pending WHERE session_id = ? ORDER BY message_id`).all(sessionId)) as unknown as PendingRow[];
}

function toPending(r: PendingRow): PendingSummary {
  return { messageID: r.message_id, sessionID: r.session_id, assistantID: r.assistant_id, from: r.from_tree, to: r.to_tree, totalsFrom: r.totals_from, at: Number(r.time_created) };
}

export interface SettleOptions {
  /** Only this session's pending turns (default: all). */
  sessionId?: string;
  /** Told once per turn whose summary could not be computed (it stays pending). */
  onWarning?: (message: string) => void;
  /** Told when waiting for another process computing a summary. */
  onWait?: (message: string) => void;
  /** Told of each summary this process recorded. */
  onDone?: (done: SettledSummary) => void;
}

export interface SettledSummary extends PendingSummary {
  files: number;
  additions: number;
  deletions: number;
}

/**
 * Completes the pending summaries (of one session, or all): first records the ends the step
 * hook script answered (their turns then close, src/session/turn-api.ts, settlePendingEnds),
 * then waits for the summaries a live process is computing and computes the others here.
 * Returns how many summaries this process recorded. A turn whose snapshots cannot be read here
 * stays pending (onWarning says why).
 */
export function settleSummaries(db: Database, opts: SettleOptions = {}): Promise<number> {
  // One settling at a time per connection (a server's concurrent requests): the later one then
  // finds the work done instead of computing the same summaries again beside the first.
  const run = (settling.get(db) ?? Promise.resolve(0))
    .catch(() => 0)
    .then(async () => {
      await settleEnds(db, opts);
      return settle(db, opts);
    });
  settling.set(db, run);
  return run;
}

const settling = new WeakMap<Database, Promise<number>>();

/** How long a reader waits for a busy workspace to record an answered end there (then it reads without; the next reader records it). */
const END_WAIT_MS = 5_000;

/** Records the ends the step hook script answered (cheap when there is none: one readdir). */
async function settleEnds(db: Database, opts: SettleOptions): Promise<void> {
  if (!anyPendingEnd()) return;
  const { settlePendingEnds } = await import('./turn-api.js');
  try {
    await settlePendingEnds(db, { sessionId: opts.sessionId, waitMs: END_WAIT_MS, onWarning: opts.onWarning, onWait: opts.onWait });
  } catch (e) {
    opts.onWarning?.(`the ends of agent turns are still to be recorded: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
}

async function settle(db: Database, opts: SettleOptions): Promise<number> {
  const failed = new Set<string>();
  let recorded = 0;
  for (;;) {
    const rows = pendingRows(db, opts.sessionId).filter((r) => !failed.has(r.message_id));
    if (rows.length === 0) return recorded;
    for (const row of rows) {
      if (claimedElsewhere(row)) {
        await waitForClaim(db, row, opts.onWait);
        continue;
      }
      if (!claim(db, row)) continue;
      try {
        const done = await computeSummary(db, toPending(row));
        if (done) {
          recorded++;
          opts.onDone?.(done);
        }
      } catch (e) {
        failed.add(row.message_id);
        release(db, row.message_id);
        opts.onWarning?.(`the summary of turn ${row.message_id} (session ${row.session_id}) is still pending: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      }
    }
  }
}

/** A live process (this host: its pid exists; another host: a recent claim) works on the row. */
function claimedElsewhere(r: PendingRow): boolean {
  if (r.claim_pid === null || r.claim_host === null) return false;
  if (r.claim_host === hostname()) return r.claim_pid !== process.pid && processAlive(r.claim_pid, r.claim_host);
  return Number(r.claim_time ?? 0) > Date.now() - CLAIM_STALE_MS;
}

/** Takes the row for this process if its claim is still the one read (compare-and-set). */
function claim(db: Database, r: PendingRow): boolean {
  const same = db.dialect === 'sqlite' ? 'IS' : 'IS NOT DISTINCT FROM';
  return (
    db
      .prepare(`UPDATE summary_pending SET claim_pid = ?, claim_host = ?, claim_time = ? WHERE message_id = ? AND claim_pid ${same} ? AND claim_host ${same} ?`)
      .run(process.pid, hostname(), Date.now(), r.message_id, r.claim_pid, r.claim_host).changes === 1
  );
}

function release(db: Database, messageId: string): void {
  db.prepare('UPDATE summary_pending SET claim_pid = NULL, claim_host = NULL, claim_time = NULL WHERE message_id = ? AND claim_pid = ? AND claim_host = ?').run(messageId, process.pid, hostname());
}

async function waitForClaim(db: Database, r: PendingRow, onWait?: (message: string) => void): Promise<void> {
  onWait?.(`waiting for the summary of turn ${r.message_id}, computed by pid ${r.claim_pid}${r.claim_host === hostname() ? '' : ` on ${r.claim_host}`}`);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const now = pendingRows(db, r.session_id).find((x) => x.message_id === r.message_id);
    if (!now || !claimedElsewhere(now)) return;
  }
}

/**
 * Computes one pending turn exactly as closeTurn does — the summary from its first snapshot to
 * its end, the patch part, and the session totals unless a later turn has set them already —
 * and records it with the row's deletion in one transaction. Undefined when the row was gone by
 * then (another process recorded it, or the turn was deleted).
 */
export async function computeSummary(db: Database, p: PendingSummary): Promise<SettledSummary | undefined> {
  const session = getSession(db, p.sessionID);
  const { sessionSnapshots } = await import('./workspace.js');
  const { ctx } = await sessionSnapshots(session, [p.from, p.to, p.totalsFrom]);
  const { capPaths, summarize } = await import('./summary.js');
  const { netTotals } = await import('./record.js');
  const paths: string[] = [];
  const summary = await summarize(ctx, p.from, p.to, (s) => paths.push(s.file));
  const latest = !laterTurnSummarized(db, session, p.messageID);
  const totals = latest ? await netTotals(ctx, p.totalsFrom, p.from, p.to, summary.total) : undefined;
  const written = db.transaction(() => {
    if (db.prepare('DELETE FROM summary_pending WHERE message_id = ? AND to_tree = ?').run(p.messageID, p.to).changes !== 1) return false;
    const user = getMessage(db, p.sessionID, p.messageID);
    if (user.data.role !== 'user') return false;
    // Sorts right after the turn's step-finish, as closeTurn's patch part does.
    if (paths.length) insertPart(db, p.assistantID, p.sessionID, { type: 'patch', hash: p.from, ...capPaths(paths) }, { ms: p.at, seq: 4095 });
    updateMessage(db, p.messageID, { ...user.data, summary });
    // Checked again inside the transaction: a later turn may have ended since.
    if (totals && !laterTurnSummarized(db, session, p.messageID)) {
      db.prepare('UPDATE session SET summary_additions = ?, summary_deletions = ?, summary_files = ? WHERE id = ?').run(totals.additions, totals.deletions, totals.files, p.sessionID);
    }
    return true;
  });
  return written ? { ...p, ...summary.total } : undefined;
}

/**
 * Whether a turn after `messageId` has its summary (recorded or pending): that turn's end set
 * the session totals (or will), so this one's must not overwrite them — as when turns end one
 * after another, the latest end's totals stand.
 */
function laterTurnSummarized(db: Database, s: SessionInfo, messageId: string): boolean {
  const row = db
    .prepare(
      `SELECT 1 AS x FROM message m WHERE m.session_id = ? AND m.id > ? AND ${jsonText(db, 'm.data', '$.role')} = 'user'
         AND (${jsonText(db, 'm.data', '$.summary')} IS NOT NULL OR EXISTS (SELECT 1 FROM summary_pending p WHERE p.message_id = m.id)) LIMIT 1`,
    )
    .get(s.id, messageId);
  return row !== undefined;
}

/**
 * Opens the session database for a reader with every pending summary completed first. A
 * read-only reader gets a writable connection for that, closed before it reads.
 */
export async function openSettledDatabase(location?: string, opts: OpenOptions & SettleOptions = {}): Promise<Database> {
  const { openDatabase } = await import('./db.js');
  const db = openDatabase(location, opts.readonly ? { readonly: true } : {});
  try {
    if (!hasPendingWork(db, opts.sessionId)) return db;
    if (!db.readonly) {
      await settleSummaries(db, opts);
      return db;
    }
    const writer = openDatabase(location);
    try {
      await settleSummaries(writer, opts);
    } finally {
      writer.close();
    }
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/** Whether ends of agent turns leave their summaries to a background process (SNAPLINE_DEFER_SUMMARY=0 turns it off). */
export function deferringSummaries(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.SNAPLINE_DEFER_SUMMARY !== '0';
}

/**
 * An agent's end starts its summarizer this many seconds later: what the agent does right after
 * its end hook (its exit, the session's end hook) comes first (docs/agents.md, "The standby").
 */
const SUMMARIZER_START_AFTER_S = 1;

/**
 * Starts the background process that computes a session's pending summaries (`snapline
 * summarize`), detached, SUMMARIZER_START_AFTER_S from now: the caller does not wait for it, and
 * it outlives the caller. Its output goes nowhere; it logs to hooks.log.
 */
export function startSummarizer(sessionId: string, dbLocation?: string): void {
  const env = { ...process.env };
  const args = ['summarize', '--session', sessionId];
  // A PostgreSQL URL goes by the environment (it may hold a password: not for `ps` to show).
  if (dbLocation && /^postgres(ql)?:\/\//.test(dbLocation)) env.SNAPLINE_DATABASE_URL = dbLocation;
  else if (dbLocation) args.push('--db', dbLocation);
  // Never fatal for the hook: the next reader completes the summary.
  startBackground(args, env, { afterSeconds: SUMMARIZER_START_AFTER_S });
}
