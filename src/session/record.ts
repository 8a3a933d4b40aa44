/**
 * The steps every recorded turn is made of, shared by `run` (one process holds the turn from
 * start to end) and `turn begin/step/end` (an agent's hooks open, step and close it from
 * separate processes): open the turn's messages, snapshot, close it with its summary.
 * Callers hold the workspace's turn lock around each of these.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.js';
import type { GitContext } from '../git/run.js';
import { retain } from '../snapshot/retention.js';
import { projectId, readIfExists, storeContext } from '../snapshot/store.js';
import { track, type SkippedFile, type TrackResult } from '../snapshot/track.js';
import type { Database } from './db.js';
import { PREVIEW_BYTES } from './exec.js';
import { idTime } from './id.js';
import { deferSummary } from './pending.js';
import { agentModel, NO_TOKENS, type AssistantMessageData, type PartData, type SkippedEntry, type TurnSummary, type UserMessageData } from './model.js';
import {
  createSession,
  deleteMessagesFrom,
  ensureProject,
  getSession,
  insertMessage,
  insertPart,
  listTurns,
  setRevert,
  updateMessage,
  updateSessionSummary,
  type MessageInfo,
  type PartInfo,
  type SessionInfo,
} from './store.js';

/** What the steps of a turn report to their caller. */
export interface RecordHooks {
  /** Told once per file a snapshot left out. */
  onWarning?: (message: string) => void;
  onProgress?: (message: string) => void;
  /** Every part as it is stored (run --format json prints them as events). */
  onPart?: (part: PartInfo) => void;
  /** Configuration for the store (the hook's bounded lock wait); loaded per workspace if absent. */
  config?: Config;
  /** Whether a snapshot whose git was killed (by the user's signal) is to be taken again. */
  retrySnapshot?: () => boolean;
}

/** A turn being recorded: its two messages and the snapshot its first step started from. */
export interface OpenTurn {
  sessionID: string;
  user: MessageInfo<UserMessageData>;
  assistant: MessageInfo<AssistantMessageData>;
}

/** Creates a session for a workspace (and its project row). */
export async function newSession(db: Database, worktree: string, opts: { title?: string; agent?: string; agentSession?: string }): Promise<SessionInfo> {
  const project = await projectId(worktree);
  return db.transaction(() => {
    ensureProject(db, project, project === 'global' ? '/' : worktree, project === 'global' ? null : 'git');
    return createSession(db, { projectID: project, directory: worktree, ...opts });
  });
}

/**
 * Stores a turn's user message (with its text) and the assistant message that will hold its
 * steps. Like OpenCode, a new prompt after a revert drops the reverted turns for good; returns
 * how many messages that discarded.
 */
export function openTurnMessages(db: Database, worktree: string, sid: string, message: string, agent: string, cwd = worktree): OpenTurn & { discarded: number } {
  const revert = getSession(db, sid).revert;
  return db.transaction(() => {
    let discarded = 0;
    if (revert) {
      discarded = deleteMessagesFrom(db, sid, revert.messageID);
      setRevert(db, sid, undefined);
    }
    const now = Date.now();
    const user = insertMessage<UserMessageData>(db, sid, { role: 'user', time: { created: now }, agent, model: agentModel(agent) });
    insertPart(db, user.id, sid, textPart(message));
    const assistant = insertMessage<AssistantMessageData>(db, sid, { role: 'assistant', parentID: user.id, time: { created: now }, agent, mode: agent, ...agentModel(agent), cost: 0, tokens: NO_TOKENS, path: { cwd, root: worktree } });
    return { sessionID: sid, user, assistant, discarded };
  });
}

/**
 * Snapshots the workspace for a session: track, then retain the tree for the session (skipped
 * when it is `known`, a tree the session already keeps). Files left out are warned about once.
 */
export async function snapshotFor(worktree: string, sid: string, label: string, hooks: RecordHooks, known?: string): Promise<TrackResult> {
  hooks.onProgress?.(`snapshot (${label})…`);
  const take = () => track(worktree, { onProgress: hooks.onProgress, config: hooks.config });
  const r = await take().catch((e: unknown) => {
    if (!hooks.retrySnapshot?.()) throw e;
    return take();
  });
  if (r.tree !== known) await retain(worktree, sid, [r.tree], { config: hooks.config });
  for (const s of r.skipped) hooks.onWarning?.(`not snapshotted (${label}): ${s.path} — ${describeSkip(s)}`);
  return r;
}

/** Stores a part (made now, or `at` that time) and tells the caller. */
export function addPart(db: Database, turn: OpenTurn, data: PartData, hooks: RecordHooks, at?: { ms: number; seq: number }): PartInfo {
  const part = insertPart(db, turn.assistant.id, turn.sessionID, data, at);
  hooks.onPart?.(part);
  return part;
}

export function stepStart(snap: TrackResult): PartData {
  return withSkipped({ type: 'step-start', snapshot: snap.tree }, snap.skipped);
}

export function stepFinish(snap: TrackResult, reason: string): PartData {
  return withSkipped({ type: 'step-finish', reason, snapshot: snap.tree, cost: 0, tokens: NO_TOKENS }, snap.skipped);
}

/** How a turn ended, for its assistant message. */
export interface TurnEnding {
  finish: 'stop' | 'error' | 'interrupted';
  exit?: number;
  /** The signal that stopped the turn (run's handleSignals). */
  interrupted?: NodeJS.Signals;
  error?: { name: string; message: string };
  /** When the turn ended (ms), if not now: an end the step hook script answered, recorded later. */
  at?: number;
}

/**
 * Closes a turn with its final snapshot: the step-finish part, the summary from the turn's
 * first snapshot (`start`) to `end` (exact numstat, on the user message), the patch part, the
 * assistant message's completion and the session totals. With `defer` (an agent's hook: the
 * agent waits for it) only the step-finish and the completion are written now, with the rest
 * recorded as pending work (src/session/pending.ts) in the same transaction; returns undefined then.
 */
export async function closeTurn(db: Database, worktree: string, turn: OpenTurn, start: string, end: TrackResult, ending: TurnEnding, hooks: RecordHooks, defer?: false): Promise<TurnSummary>;
export async function closeTurn(db: Database, worktree: string, turn: OpenTurn, start: string, end: TrackResult, ending: TurnEnding, hooks: RecordHooks, defer?: boolean): Promise<TurnSummary | undefined>;
export async function closeTurn(db: Database, worktree: string, turn: OpenTurn, start: string, end: TrackResult, ending: TurnEnding, hooks: RecordHooks, defer = false): Promise<TurnSummary | undefined> {
  const sid = turn.sessionID;
  // An end recorded later sorts after the steps recorded at their own times (their seq counts from 0).
  const finish = addPart(db, turn, stepFinish(end, ending.finish === 'error' ? 'error' : 'stop'), hooks, ending.at === undefined ? undefined : { ms: Math.floor(ending.at), seq: 2048 });
  if (defer) {
    const totalsFrom = firstSnapshot(db, sid, start);
    db.transaction(() => {
      completeAssistant(db, turn, ending);
      deferSummary(db, { messageID: turn.user.id, sessionID: sid, assistantID: turn.assistant.id, from: start, to: end.tree, totalsFrom, at: idTime(finish.id) });
    });
    return undefined;
  }
  hooks.onProgress?.('summarising…');
  const ctx = await storeContext(worktree);
  const paths: string[] = [];
  // The diff engine is loaded only by the calls that close a turn (an agent's steps never do).
  const { capPaths, summarize } = await import('./summary.js');
  const summary = await summarize(ctx, start, end.tree, (s) => paths.push(s.file));
  const totals = await sessionTotals(db, ctx, sid, start, end.tree, summary);
  db.transaction(() => {
    if (paths.length) insertPart(db, turn.assistant.id, sid, { type: 'patch', hash: start, ...capPaths(paths) });
    updateMessage(db, turn.user.id, { ...turn.user.data, summary });
    completeAssistant(db, turn, ending);
    updateSessionSummary(db, sid, totals);
  });
  return summary;
}

/** The assistant message's completion time and how the turn ended. */
function completeAssistant(db: Database, turn: OpenTurn, ending: TurnEnding): void {
  const data = turn.assistant.data;
  const done: AssistantMessageData = { ...data, time: { ...data.time, completed: ending.at === undefined ? Date.now() : Math.floor(ending.at) }, finish: ending.finish };
  if (ending.exit !== undefined) done.exit = ending.exit;
  if (ending.error) done.error = ending.error;
  if (ending.interrupted) done.interrupted = ending.interrupted;
  updateMessage(db, turn.assistant.id, done);
}

/** Marks a turn that could not be recorded to its end as failed (its parts stay). */
export function failTurn(db: Database, turn: OpenTurn, error: { name: string; message: string }): void {
  const data = turn.assistant.data;
  updateMessage(db, turn.assistant.id, { ...data, time: { ...data.time, completed: Date.now() }, finish: 'error', error });
}

/**
 * Session totals: the net change from the session's first snapshot to its latest, like
 * OpenCode's session summary (a single turn reuses its own summary). Totals once computed for a
 * pair of trees are remembered in the store (trees never change), so a turn that changes
 * nothing after one that added thousands of files does not diff those files again.
 */
export async function sessionTotals(db: Database, ctx: GitContext, sid: string, before: string, after: string, turn: TurnSummary): Promise<Totals> {
  return netTotals(ctx, firstSnapshot(db, sid, before), before, after, turn.total);
}

/** The session's first snapshot (the start of its first turn that has one), else `before`. */
export function firstSnapshot(db: Database, sid: string, before: string): string {
  return listTurns(db, sid).find((t) => t.start !== undefined)?.start ?? before;
}

/** The totals from `first` to `after`, where the turn `before` → `after` has `turn` as its totals. */
export async function netTotals(ctx: GitContext, first: string, before: string, after: string, turn: Totals): Promise<Totals> {
  if (first === before) {
    // Remembered for the turns after it: a no-op turn's session totals are this pair's.
    await rememberTotals(ctx, first, after, turn);
    return turn;
  }
  const known = await rememberedTotals(ctx, first, after);
  if (known) return known;
  const totals = { additions: 0, deletions: 0, files: 0 };
  const { numstatStream } = await import('../diff/numstat.js');
  for await (const s of numstatStream(ctx, first, after)) {
    totals.files++;
    totals.additions += s.additions;
    totals.deletions += s.deletions;
  }
  await rememberTotals(ctx, first, after, totals);
  return totals;
}

export type Totals = { additions: number; deletions: number; files: number };

/** Totals by tree pair, newest last: `<from> <to> <additions> <deletions> <files>` lines (v1: this diff engine's numbers). */
const TOTALS_FILE = 'snapline-totals-v1';
const TOTALS_KEPT = 64;

async function rememberedTotals(ctx: GitContext, from: string, to: string): Promise<Totals | undefined> {
  if (!ctx.gitDir) return undefined;
  for (const line of (await readIfExists(join(ctx.gitDir, TOTALS_FILE))).split('\n')) {
    const [a, b, ...n] = line.split(' ');
    const [additions, deletions, files] = n.map(Number);
    if (a === from && b === to && n.length === 3 && [additions, deletions, files].every((x) => Number.isSafeInteger(x) && x! >= 0)) return { additions: additions!, deletions: deletions!, files: files! };
  }
  return undefined;
}

async function rememberTotals(ctx: GitContext, from: string, to: string, t: Totals): Promise<void> {
  if (!ctx.gitDir) return;
  const file = join(ctx.gitDir, TOTALS_FILE);
  const lines = (await readIfExists(file)).split('\n').filter(Boolean);
  lines.push(`${from} ${to} ${t.additions} ${t.deletions} ${t.files}`);
  // Written aside and renamed: a reader sees the old list or the new one, never half a line.
  const tmp = `${file}.${process.pid}`;
  await writeFile(tmp, lines.slice(-TOTALS_KEPT).join('\n') + '\n')
    .then(() => rename(tmp, file))
    .catch(() => rm(tmp, { force: true })); // a cache: failing to write it costs only time
}

/** A text part holding at most PREVIEW_BYTES of `text` (`bytes`: the full length when it was longer). */
export function textPart(text: string, bytes = Buffer.byteLength(text), truncated = false): Extract<PartData, { type: 'text' }> {
  const kept = Buffer.from(text).subarray(0, PREVIEW_BYTES).toString('utf8');
  const part: Extract<PartData, { type: 'text' }> = { type: 'text', text: kept };
  if (bytes > Buffer.byteLength(kept) || truncated) {
    part.truncated = true;
    part.bytes = bytes;
  }
  return part;
}

function withSkipped<P extends PartData & { type: 'step-start' | 'step-finish' }>(part: P, skipped: SkippedFile[]): P {
  if (skipped.length) part.skipped = skipped.map((s): SkippedEntry => (s.size === undefined ? { path: s.path, reason: s.reason } : { path: s.path, reason: s.reason, size: s.size }));
  return part;
}

/** Why a file is missing from a snapshot, for the user. */
export function describeSkip(s: SkippedEntry): string {
  if (s.reason === 'too-large') return `larger than snapshot.maxFileSize${s.size !== undefined ? ` (${s.size} bytes)` : ''}`;
  if (s.reason === 'unreadable') return 'cannot be read (permissions)';
  if (s.reason === 'vanished') return 'deleted while being snapshotted';
  return s.reason;
}
