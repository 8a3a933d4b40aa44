/**
 * Turns opened and closed by someone else: an agent's hooks (or any program) call `beginTurn`
 * when the user sends a message, `stepTurn` after each tool that may change files, and
 * `endTurn` when the agent is done — each from its own process. Everything between the calls
 * lives in the database: the open turn is the session's assistant message without a completion
 * time, its steps' snapshots are its step-start parts. Each call holds the workspace's turn
 * lock only while it runs, waiting at most `waitMs` for it.
 */
import { loadConfig, type Config } from '../config.js';
import { UsageError } from '../errors.js';
import { resolveWorkspace } from '../snapshot/store.js';
import type { SkippedFile, TrackResult } from '../snapshot/track.js';
import { openDatabase, type Database } from './db.js';
import { NoOpenTurn, UnknownSession } from './errors.js';
import { clearAgentSessionIdle, dropStepTicket, markAgentSessionIdle, pendingEnds, pendingSteps, waitForEndsBehind, writeStepTicket } from './fast-steps.js';
import { newId } from './id.js';
import { needsSummarizer, startSummarizer } from './pending.js';
import { withTurnLock, type TurnLockOptions } from './lock.js';
import type { AgentToolState, AssistantMessageData, PartData, SkippedEntry, TurnSummary, UserMessageData } from './model.js';
import { addPart, closeTurn, failTurn, newSession, openTurnMessages, snapshotFor, stepFinish, stepStart, type OpenTurn, type RecordHooks } from './record.js';
import { clearTurnMark, findAgentSession, getMessage, getSession, insertPart, latestSession, markTurn, openAssistantMessages, setBusyTurn, stepSnapshots, touchSession, type SessionInfo } from './store.js';
import { jsonText } from './sql.js';
import { publish, sessionWorkspace } from './workspace.js';

/** Which session a call is about. At most one of sessionId, continue and agentSession. */
export interface TurnTarget {
  /** The workspace (default: the session's directory, else the current directory). */
  directory?: string;
  /** This snapline session. */
  sessionId?: string;
  /** The most recently used session of the directory (begin); step and end use it by default. */
  continue?: boolean;
  /** The agent program (`claude`, `codex`, `gemini`, `opencode`, …): stored on new sessions. */
  agent?: string;
  /** The agent's own session id: one snapline session per (agent, agentSession). */
  agentSession?: string;
}

export interface TurnCallOptions extends TurnTarget {
  db?: Database;
  /** Longest wait for a busy workspace (turn lock and snapshot store lock), in ms. Default: snapshot.lockTimeoutMs. */
  waitMs?: number;
  onWarning?: (message: string) => void;
  onWait?: (message: string) => void;
  onProgress?: (message: string) => void;
  /**
   * Leave the summaries of the turns this call ends (end; begin: turns left open) to a
   * background process (src/session/pending.ts): an agent's hook, which the agent waits for.
   * Default false: the summary is computed before the call returns.
   */
  deferSummary?: boolean;
}

export interface BeginOptions extends TurnCallOptions {
  /** The user's message. */
  message: string;
  /** Title of a new session (default: the message's first line). */
  title?: string;
}

export interface BeginResult {
  sessionID: string;
  /** The turn's user message. */
  messageID: string;
  assistantID: string;
  /** The snapshot the turn's first step starts from. */
  snapshot: string;
  /** True when this call created the session. */
  created: boolean;
  /** Turns left open (their agent stopped without ending them) that this call closed as interrupted. */
  interrupted: string[];
  /** Messages dropped because the session had been reverted. */
  discarded: number;
  skipped: SkippedFile[];
}

export interface StepOptions extends TurnCallOptions {
  /** The tool the agent ran in this step (stored as a tool part). */
  tool?: string;
  /** The tool's input; a bounded preview is stored. */
  input?: unknown;
}

export interface StepResult {
  sessionID: string;
  messageID: string;
  assistantID: string;
  snapshot: string;
  /** False when the workspace was as the open step found it (no new step is recorded then). */
  changed: boolean;
  skipped: SkippedFile[];
}

export interface EndOptions extends TurnCallOptions {
  /** The agent's exit status, if it has one. */
  exit?: number;
}

export interface EndResult {
  sessionID: string;
  messageID: string;
  assistantID: string;
  snapshot: string;
  /** The turn's summary; absent when it was deferred (`deferSummary`): a background process records it. */
  summary?: TurnSummary;
  skipped: SkippedFile[];
}

/** What an interrupted turn's assistant message says. */
export const LEFT_OPEN = 'interrupted';

/**
 * Opens a turn: finds or creates the session (by id, `continue`, or the agent's session id),
 * closes a turn of it left open as interrupted (with an end snapshot), stores the user message
 * and takes the snapshot the turn starts from.
 */
export async function beginTurn(opts: BeginOptions): Promise<BeginResult> {
  return withDb(opts, async (db) => {
    const { worktree, session } = await beginTarget(db, opts);
    const hooks = recordHooks(opts, worktree);
    let sid: string | undefined;
    return withTurnLock(worktree, async () => {
      // The agent's session-end event may no longer be answered without Node: a turn opens.
      if (opts.agentSession !== undefined) await clearAgentSessionIdle(agentName(opts), opts.agentSession);
      // Looked up again under the lock: a concurrent begin for the same agent session may have created it.
      const known = session ?? (opts.agentSession !== undefined ? findAgentSession(db, agentName(opts), opts.agentSession) : undefined);
      const s = known ?? (await newSession(db, worktree, { title: opts.title ?? titleOf(opts.message), agent: opts.agent ?? (opts.agentSession !== undefined ? agentName(opts) : undefined), agentSession: opts.agentSession }));
      sid = s.id;
      // Refused while another machine runs a turn of the session; the mark then stays with this turn until its end.
      markTurn(db, s.id);
      try {
        if (known?.agent?.session !== undefined) {
          // The open turn (if any) ends here: the script stops answering for it, its answers are recorded.
          await dropStepTicket(known.agent.name, known.agent.session);
          // Also when the begin named the session by id, not by the agent's session.
          await clearAgentSessionIdle(known.agent.name, known.agent.session);
          await recordPendingSteps(db, known, hooks);
          // An end the script answered closes its turn as that end would have, before anything left open is closed as interrupted.
          await recordPendingEnds(db, known, worktree, hooks, { defer: opts.deferSummary, idle: false });
        }
        const interrupted = await closeLeftOpenTurns(db, worktree, s.id, hooks, opts.deferSummary);
        const turn = openTurnMessages(db, worktree, s.id, opts.message, opts.agent ?? s.agent?.name ?? 'external');
        setBusyTurn(db, s.id, turn.assistant.id);
        touchSession(db, s.id);
        let snap: TrackResult;
        try {
          snap = await snapshotFor(worktree, s.id, 'turn start', hooks);
        } catch (e) {
          failTurn(db, turn, errorOf(e));
          throw e;
        }
        addPart(db, turn, stepStart(snap), hooks);
        await ticketFor(s, turn, worktree, snap, hooks);
        return { sessionID: s.id, messageID: turn.user.id, assistantID: turn.assistant.id, snapshot: snap.tree, created: !known, interrupted, discarded: turn.discarded, skipped: snap.skipped };
      } catch (e) {
        clearTurnMark(db, s.id);
        throw e;
      }
    }, lockOptions(opts)).finally(() => {
      // Started once the turn lock is released: the summarizer never holds it.
      if (opts.deferSummary && sid !== undefined) summarizeLater(db, sid);
    });
  });
}

/**
 * A step boundary in the open turn: snapshots the workspace and, when it changed since the open
 * step started, closes that step (step-finish) and opens the next (step-start) on the new
 * snapshot. The tool that ran, if named, is stored as a tool part with a bounded input preview.
 */
export async function stepTurn(opts: StepOptions): Promise<StepResult> {
  return withDb(opts, async (db) => {
    const { worktree, session } = await openTarget(db, opts);
    const hooks = recordHooks(opts, worktree);
    return withTurnLock(worktree, async () => {
      // A step after an end the script answered finds no open turn, as after a Node end.
      await recordPendingEnds(db, session, worktree, hooks, { defer: opts.deferSummary, idle: true });
      const { turn, first, last } = holdOpenTurn(db, session);
      await recordPendingSteps(db, session, hooks);
      const snap = await snapshotFor(worktree, session.id, 'step', hooks, last);
      if (opts.tool !== undefined) addPart(db, turn, agentToolPart(opts.tool, opts.input), hooks);
      const changed = snap.tree !== (last ?? first);
      if (changed) {
        addPart(db, turn, stepFinish(snap, 'tool-calls'), hooks);
        addPart(db, turn, stepStart(snap), hooks);
      }
      await ticketFor(session, turn, worktree, snap, hooks);
      return { sessionID: session.id, messageID: turn.user.id, assistantID: turn.assistant.id, snapshot: snap.tree, changed, skipped: snap.skipped };
    }, lockOptions(opts));
  });
}

/**
 * Closes the open turn: final snapshot, step-finish, the turn's summary from its first snapshot
 * to this one (exact numstat), patch part and session totals.
 */
export async function endTurn(opts: EndOptions): Promise<EndResult> {
  return withDb(opts, async (db) => {
    const { worktree, session } = await openTarget(db, opts);
    const hooks = recordHooks(opts, worktree);
    const ended = await withTurnLock(worktree, async () => {
      await recordPendingEnds(db, session, worktree, hooks, { defer: opts.deferSummary, idle: true });
      const { turn, first, last } = holdOpenTurn(db, session);
      if (session.agent?.session !== undefined) await dropStepTicket(session.agent.name, session.agent.session);
      await recordPendingSteps(db, session, hooks);
      if (first === undefined) {
        failTurn(db, turn, { name: LEFT_OPEN, message: 'the turn has no start snapshot (its begin failed)' });
        clearTurnMark(db, session.id);
        throw new NoOpenTurn(`session ${session.id}`);
      }
      const snap = await snapshotFor(worktree, session.id, 'turn end', hooks, last);
      const summary = await closeTurn(db, worktree, turn, first, snap, { finish: 'stop', ...(opts.exit !== undefined ? { exit: opts.exit } : {}) }, hooks, opts.deferSummary);
      clearTurnMark(db, session.id);
      touchSession(db, session.id);
      if (session.agent?.session !== undefined && openAssistantMessages(db, session.id).length === 0) await markAgentSessionIdle(session.agent.name, session.agent.session);
      return { sessionID: session.id, messageID: turn.user.id, assistantID: turn.assistant.id, snapshot: snap.tree, ...(summary ? { summary } : {}), skipped: snap.skipped };
    }, lockOptions(opts));
    // Started once the turn lock is released: the summarizer never holds it.
    if (opts.deferSummary) summarizeLater(db, session.id);
    // The turn is recorded: its snapshots go to the remote (bounded wait, never a failure).
    await publish(worktree, opts.onWarning);
    return ended;
  });
}

/**
 * Closes every turn of the session left open (its agent crashed or was stopped before ending
 * it) as interrupted: one end snapshot of the workspace as it is now, then each turn's summary
 * from its own start (left to a background process with `defer`). A turn that never got its
 * start snapshot is only marked. Returns the user message ids of the closed turns. The caller
 * holds the turn lock.
 */
export async function closeLeftOpenTurns(db: Database, worktree: string, sid: string, hooks: RecordHooks, defer = false): Promise<string[]> {
  const open = openAssistantMessages(db, sid);
  if (open.length === 0) return [];
  const closed: string[] = [];
  let end: TrackResult | undefined;
  for (const id of open) {
    const turn = turnOf(db, sid, id);
    const { first, last } = stepSnapshots(db, id);
    const error = { name: LEFT_OPEN, message: 'the turn was left open (its agent stopped before ending it); closed by the next turn with an end snapshot' };
    if (first === undefined) failTurn(db, turn, error);
    else {
      end ??= await snapshotFor(worktree, sid, 'end of an interrupted turn', hooks, last);
      await closeTurn(db, worktree, turn, first, end, { finish: 'error', error }, hooks, defer);
    }
    closed.push(turn.user.id);
  }
  return closed;
}

/**
 * Starts the background summarizer when the session has summaries pending that no live process
 * is computing (src/session/pending.ts): the end's own, or one a killed summarizer left.
 */
export function summarizeLater(db: Database, sid: string): void {
  if (needsSummarizer(db, sid)) startSummarizer(sid, db.location);
}

/** A bounded preview of a tool's input: string values cut at 200 characters, 1 KiB in all; the tool ran at `now`. */
export function agentToolPart(tool: string, input: unknown, now = Date.now()): PartData {
  const fields: Record<string, string> = {};
  let truncated = false;
  let bytes = 0;
  const entries = typeof input === 'object' && input !== null && !Array.isArray(input) ? Object.entries(input) : input === undefined ? [] : [['input', input] as const];
  for (const [key, value] of entries) {
    const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
    const kept = text.length > 200 ? text.slice(0, 200) : text;
    if (kept !== text) truncated = true;
    bytes += key.length + Buffer.byteLength(kept);
    if (bytes > 1024) {
      truncated = true;
      break;
    }
    fields[key] = kept;
  }
  const subject = fields.command ?? fields.file_path ?? fields.filePath ?? fields.path ?? fields.notebook_path ?? '';
  const title = subject.length > 80 ? subject.slice(0, 77) + '...' : subject;
  const state: AgentToolState = { status: 'completed', input: fields, output: '', title: title || tool, metadata: truncated ? { agent: true, truncated: true } : { agent: true }, time: { start: now, end: now } };
  return { type: 'tool', callID: newId('part').replace(/^prt_/, 'call_'), tool: tool.slice(0, 100), state };
}

/**
 * Records the steps the step hook script answered without Node (src/session/fast-steps.ts):
 * each as the tool part a Node step that found no change stores, made at the time of the
 * script's check, in the turn it was checked for (even one closed since). The caller holds
 * the turn lock.
 */
export async function recordPendingSteps(db: Database, session: SessionInfo, hooks: RecordHooks): Promise<number> {
  if (session.agent?.session === undefined) return 0;
  const steps = await pendingSteps(session.agent.name, session.agent.session);
  let recorded = 0;
  let lastMs = -1;
  let seq = 0;
  for (const step of steps) {
    const event = step.event;
    const turn = event && event.session_id === session.agent.session ? pendingTurn(db, session.id, step.assistantID) : undefined;
    if (turn) {
      const ms = Math.floor(step.time);
      seq = ms === lastMs ? seq + 1 : 0;
      lastMs = ms;
      const tool = typeof event!.tool_name === 'string' ? event!.tool_name : 'tool';
      const part = insertPart(db, turn.assistant.id, session.id, agentToolPart(tool, event!.tool_input, ms), { ms, seq });
      hooks.onPart?.(part);
      recorded++;
    }
    // A step of a turn deleted since (session revert, delete) goes with its turn.
    await step.done();
  }
  return recorded;
}

/**
 * Records the ends the step hook script answered for the session (src/session/fast-steps.ts,
 * pendingEnds): its pending steps first, then each end's turn closed as endTurn closes it —
 * finish `stop`, at the time of the script's check — with the open step's last snapshot as the
 * end snapshot (the script found the workspace equal to it; a snapshot taken now could hold
 * what the user did after the end). A turn no longer open (recorded already, reverted, deleted)
 * only loses the file. With `idle` (no turn opens in this call) the session's busy mark is
 * cleared and the idle mark left when no turn of it is open any more. The caller holds the
 * turn lock. Returns how many turns it closed.
 */
export async function recordPendingEnds(db: Database, session: SessionInfo, worktree: string, hooks: RecordHooks, opts: { defer?: boolean; idle: boolean }): Promise<number> {
  const agent = session.agent;
  if (agent?.session === undefined) return 0;
  const ends = await pendingEnds(agent.name, agent.session);
  if (ends.length === 0) return 0;
  await recordPendingSteps(db, session, hooks);
  let closed = 0;
  for (const end of ends) {
    const turn = pendingTurn(db, session.id, end.assistantID);
    if (turn && turn.assistant.data.time.completed === undefined) {
      const { first, last } = stepSnapshots(db, turn.assistant.id);
      if (first !== undefined) {
        const tree = last ?? first;
        await closeTurn(db, worktree, turn, first, { tree, skipped: lastSkipped(db, turn.assistant.id) }, { finish: 'stop', at: end.time }, hooks, opts.defer);
        closed++;
      }
    }
    // Removed after the turn is recorded (and the idle mark left): a recorder killed before
    // leaves it for the next one, and the script's session-end check finds one or the other.
    if (opts.idle && closed && openAssistantMessages(db, session.id).length === 0) {
      clearTurnMark(db, session.id);
      touchSession(db, session.id);
      await markAgentSessionIdle(agent.name, agent.session);
    }
    await end.done();
  }
  return closed;
}

/** How long settlePendingEnds waits, by default, for the ends behind steps its standbys record. */
const ENDS_BEHIND_WAIT_MS = 60_000;

/**
 * Records the ends the step hook script answered (of one session, one agent session, or all),
 * each under its workspace's turn lock, then publishes those workspaces' snapshots as endTurn
 * does; first it waits (up to `waitMs`) for the ends behind steps that standbys record. For
 * every reader, before it reads (src/session/pending.ts), and the detached recorder the script
 * starts. An end whose session is not in this database is left alone; one whose
 * workspace stays busy is left for the next reader (onWarning says so). Returns the sessions
 * that had an end recorded.
 */
export async function settlePendingEnds(db: Database, opts: { sessionId?: string; agent?: string; agentSession?: string; waitMs?: number; defer?: boolean; onWarning?: (message: string) => void; onWait?: (message: string) => void } = {}): Promise<string[]> {
  let agent = opts.agent;
  let agentSession = opts.agentSession;
  if (opts.sessionId !== undefined) {
    const s = getSession(db, opts.sessionId).agent;
    if (s?.session === undefined) return [];
    agent = s.name;
    agentSession = s.session;
  }
  // An end behind a step (fast-steps.ts, endsBehind) is recorded by the session's standby.
  await waitForEndsBehind(agent, agentSession, opts.waitMs ?? ENDS_BEHIND_WAIT_MS);
  const ends = await pendingEnds(agent, agentSession);
  const keys = [...new Set(ends.map((e) => `${e.agent}+${e.agentSession}`))];
  const recorded: string[] = [];
  for (const key of keys) {
    const [name, id] = key.split('+') as [string, string];
    const session = findAgentSession(db, name, id);
    if (!session) continue;
    try {
      const worktree = await sessionWorkspace(session);
      const hooks = recordHooks({ waitMs: opts.waitMs }, worktree);
      const closed = await withTurnLock(worktree, () => recordPendingEnds(db, session, worktree, hooks, { defer: opts.defer, idle: true }), lockOptions({ waitMs: opts.waitMs, onWait: opts.onWait }));
      if (closed) {
        recorded.push(session.id);
        await publish(worktree, opts.onWarning);
      }
    } catch (e) {
      opts.onWarning?.(`the end of a turn of session ${session.id} is still to be recorded: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
  }
  return recorded;
}

/** What the last step-start of a turn says its snapshot left out (the end snapshot, being that one, says the same). */
function lastSkipped(db: Database, assistantId: string): SkippedFile[] {
  const row = db.prepare(`SELECT ${jsonText(db, 'data', '$.skipped')} AS k FROM part WHERE message_id = ? AND ${jsonText(db, 'data', '$.type')} = 'step-start' ORDER BY id DESC LIMIT 1`).get(assistantId) as { k: unknown } | undefined;
  if (typeof row?.k !== 'string') return [];
  try {
    const list = JSON.parse(row.k) as SkippedEntry[];
    return Array.isArray(list) ? list.map((k) => ({ path: k.path, reason: k.reason, ...(k.size !== undefined ? { size: k.size } : {}) }) as SkippedFile) : [];
  } catch {
    return [];
  }
}

/** The turn a pending step belongs to, if its messages are still there. */
function pendingTurn(db: Database, sid: string, assistantId: string): OpenTurn | undefined {
  try {
    return turnOf(db, sid, assistantId);
  } catch {
    return undefined;
  }
}

/** After a begin or step of an agent session: the ticket that lets the step hook script answer the next no-change step. */
async function ticketFor(session: SessionInfo, turn: OpenTurn, worktree: string, snap: TrackResult, hooks: RecordHooks): Promise<void> {
  const agent = session.agent;
  if (agent?.session === undefined) return;
  await writeStepTicket({ agent: agent.name, agentSession: agent.session, assistantID: turn.assistant.id, worktree, snap, config: hooks.config ?? loadConfig(worktree) });
}

async function withDb<T>(opts: { db?: Database }, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = opts.db ?? openDatabase();
  try {
    return await fn(db);
  } finally {
    if (!opts.db) db.close();
  }
}

function agentName(t: TurnTarget): string {
  return t.agent ?? 'agent';
}

function selectors(t: TurnTarget): void {
  const given = [t.sessionId !== undefined && '--session', t.continue && '--continue', t.agentSession !== undefined && '--agent-session'].filter(Boolean);
  if (given.length > 1) throw new UsageError(`use only one of ${given.join(', ')}`);
}

/** The workspace and (unless a new one is to be made) the session a begin adds its turn to. */
async function beginTarget(db: Database, t: TurnTarget): Promise<{ worktree: string; session?: SessionInfo }> {
  selectors(t);
  if (t.sessionId !== undefined) return sessionTarget(getSession(db, t.sessionId), t.directory);
  if (t.agentSession !== undefined) {
    const s = findAgentSession(db, agentName(t), t.agentSession);
    // The agent's session keeps its workspace even when a hook runs from a subdirectory.
    if (s) return { worktree: await sessionWorkspace(s), session: s };
    return { worktree: await resolveWorkspace(t.directory ?? process.cwd()) };
  }
  const worktree = await resolveWorkspace(t.directory ?? process.cwd());
  if (!t.continue) return { worktree };
  const session = latestSession(db, worktree);
  if (!session) throw new UnknownSession(`(latest in ${worktree})`);
  return { worktree, session };
}

/** The session a step or end is about: by id, by the agent's session id, else the directory's latest. */
async function openTarget(db: Database, t: TurnTarget): Promise<{ worktree: string; session: SessionInfo }> {
  selectors(t);
  if (t.sessionId !== undefined) return sessionTarget(getSession(db, t.sessionId), t.directory);
  if (t.agentSession !== undefined) {
    const s = findAgentSession(db, agentName(t), t.agentSession);
    if (!s) throw new NoOpenTurn(`${agentName(t)} session ${t.agentSession}`);
    return { worktree: await sessionWorkspace(s), session: s };
  }
  const worktree = await resolveWorkspace(t.directory ?? process.cwd());
  const session = latestSession(db, worktree);
  if (!session) throw new NoOpenTurn(worktree);
  return { worktree, session };
}

async function sessionTarget(s: SessionInfo, directory: string | undefined): Promise<{ worktree: string; session: SessionInfo }> {
  const worktree = await sessionWorkspace(s);
  if (directory !== undefined && (await resolveWorkspace(directory, true)) !== worktree) throw new UsageError(`session ${s.id} belongs to ${s.directory}, not ${directory}`);
  return { worktree, session: s };
}

/**
 * The open turn a step or end continues, with the session's mark taken for it: SessionBusy while
 * another machine runs a turn of the session (markTurn).
 */
function holdOpenTurn(db: Database, s: SessionInfo): { turn: OpenTurn; first?: string; last?: string } {
  markTurn(db, s.id);
  let open;
  try {
    open = openTurn(db, s);
  } catch (e) {
    clearTurnMark(db, s.id);
    throw e;
  }
  setBusyTurn(db, s.id, open.turn.assistant.id);
  return open;
}

/** The session's open turn (its newest assistant message without a completion time) and its step snapshots. */
function openTurn(db: Database, s: SessionInfo): { turn: OpenTurn; first?: string; last?: string } {
  const open = openAssistantMessages(db, s.id);
  const id = open[open.length - 1];
  if (id === undefined) throw new NoOpenTurn(`session ${s.id}`);
  return { turn: turnOf(db, s.id, id), ...stepSnapshots(db, id) };
}

function turnOf(db: Database, sid: string, assistantId: string): OpenTurn {
  const assistant = getMessage(db, sid, assistantId) as OpenTurn['assistant'] & { data: AssistantMessageData };
  const user = getMessage(db, sid, assistant.data.parentID) as OpenTurn['user'] & { data: UserMessageData };
  return { sessionID: sid, user, assistant };
}

function recordHooks(opts: TurnCallOptions, worktree: string): RecordHooks {
  const hooks: RecordHooks = { onWarning: opts.onWarning, onProgress: opts.onProgress };
  if (opts.waitMs !== undefined) {
    const config: Config = loadConfig(worktree);
    config.snapshot.lockTimeoutMs = Math.min(config.snapshot.lockTimeoutMs, opts.waitMs);
    hooks.config = config;
  }
  return hooks;
}

function lockOptions(opts: TurnCallOptions): TurnLockOptions {
  const o: TurnLockOptions = {};
  if (opts.waitMs !== undefined) o.waitSeconds = opts.waitMs / 1000;
  if (opts.onWait) o.onWait = opts.onWait;
  return o;
}

function titleOf(message: string): string | undefined {
  const line = message.split('\n').find((l) => l.trim() !== '')?.trim();
  if (!line) return undefined;
  return line.length > 60 ? line.slice(0, 57) + '...' : line;
}

function errorOf(e: unknown): { name: string; message: string } {
  return { name: (e as { code?: string }).code ?? 'UnknownError', message: e instanceof Error ? e.message : String(e) };
}
