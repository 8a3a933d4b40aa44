/** Recording one turn: user message, snapshot, the work, snapshot, summary — all in the database. */
import { isAbsolute } from 'node:path';
import { SnaplineError, UsageError } from '../errors.js';
import { numstatStream } from '../diff/numstat.js';
import type { GitContext } from '../git/run.js';
import { projectId, resolveWorkspace, retain, storeContext, track, type SkippedFile } from '../snapshot/index.js';
import { openDatabase, type Database } from './db.js';
import { CorruptRow, UnknownSession } from './errors.js';
import { PREVIEW_BYTES, resolveAgent, runCommand, type CommandResult } from './exec.js';
import { newId } from './id.js';
import { withTurnLock } from './lock.js';
import { agentModel, NO_TOKENS, type AssistantMessageData, type PartData, type SkippedEntry, type ToolState, type TurnSummary, type UserMessageData } from './model.js';
import {
  clearBusy,
  createSession,
  deleteMessagesFrom,
  ensureProject,
  getSession,
  insertMessage,
  insertPart,
  latestSession,
  listTurns,
  markBusy,
  setRevert,
  updateMessage,
  updateSessionSummary,
  type PartInfo,
  type SessionInfo,
} from './store.js';
import { capPaths, summarize } from './summary.js';

/** Events of a turn, shaped like OpenCode's `run --format json` lines. */
export interface TurnEvent {
  type: 'step_start' | 'tool_use' | 'text' | 'step_finish' | 'error';
  timestamp: number;
  sessionID: string;
  /** The part, flattened like OpenCode's: {id, sessionID, messageID, type, …data}. */
  part?: { id: string; sessionID: string; messageID: string; type: string; [key: string]: unknown };
  error?: { name: string; data: { message: string } };
}

export interface TurnOptions {
  /** The user's message for this turn. */
  message: string;
  /** Workspace (default: the session's directory, else the current directory). */
  directory?: string;
  /** Continue this session. */
  sessionId?: string;
  /** Continue the most recently updated session of the directory. */
  continue?: boolean;
  /** Title of a new session. */
  title?: string;
  /** Shell command run with bash in the workspace (recorded as a `tool` part). */
  exec?: string;
  /** Agent command line; the message is appended as its last argument (output recorded as `text`). */
  agent?: string;
  /** Database to use (default: openDatabase()). */
  db?: Database;
  /** Every chunk of the command's output, as it arrives. */
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  onEvent?: (event: TurnEvent) => void;
  /** Warnings for the user (files a snapshot left out). */
  onWarning?: (message: string) => void;
  onProgress?: (message: string) => void;
  /** Told once when another turn holds the workspace and this one waits for it. */
  onWait?: (message: string) => void;
}

export interface TurnResult {
  sessionID: string;
  /** The user message of the turn. */
  messageID: string;
  assistantID: string;
  /** Exit code of the command (snapline run exits with it). */
  exit: number;
  summary: TurnSummary;
  /** Files the snapshots could not include. */
  skipped: SkippedFile[];
  /** Turns discarded because the session had been reverted. */
  discarded: number;
}

/**
 * Records one turn of a session: the user message, then an assistant message with
 * `step-start {snapshot}`, the command's `tool` (or agent `text`) part, `step-finish {snapshot,
 * skipped?}` and `patch {hash, files}`, and finally the turn's summary (on the user message) and
 * the session totals. The workspace's turn lock is held throughout and the session is marked busy.
 * Bad input fails before anything is written; a failing command is recorded like any other.
 */
export async function runTurn(opts: TurnOptions): Promise<TurnResult> {
  if (opts.sessionId !== undefined && opts.continue) throw new UsageError('use either --session or --continue, not both');
  if ((opts.exec === undefined) === (opts.agent === undefined)) throw new UsageError('give exactly one of --exec CMD or --agent CMD');
  const db = opts.db ?? openDatabase();
  try {
    let session: SessionInfo | undefined;
    let worktree: string;
    if (opts.sessionId !== undefined) {
      session = getSession(db, opts.sessionId);
      worktree = await sessionWorkspace(session);
      if (opts.directory !== undefined && (await resolveWorkspace(opts.directory, true)) !== worktree) {
        throw new UsageError(`session ${session.id} belongs to ${session.directory}, not ${opts.directory}`);
      }
    } else {
      worktree = await resolveWorkspace(opts.directory ?? process.cwd());
      if (opts.continue) {
        session = latestSession(db, worktree);
        if (!session) throw new UnknownSession(`(latest in ${worktree})`);
      }
    }
    const argv = opts.agent !== undefined ? [...resolveAgent(opts.agent, worktree), opts.message] : ['bash', '-c', opts.exec!];
    return await withTurnLock(worktree, () => recordTurn(db, worktree, session, argv, opts), { onWait: opts.onWait ?? opts.onProgress });
  } finally {
    if (!opts.db) db.close();
  }
}

/**
 * The workspace a session belongs to. The row is checked like any external input: a directory
 * that is not absolute is a damaged row, and `/` or the home directory (which `run` never
 * records) is refused rather than snapshotted or restored.
 */
export async function sessionWorkspace(s: SessionInfo): Promise<string> {
  if (!isAbsolute(s.directory)) throw new CorruptRow('session', s.id, `directory '${s.directory}' is not an absolute path`);
  return resolveWorkspace(s.directory, false);
}

async function recordTurn(db: Database, worktree: string, existing: SessionInfo | undefined, argv: string[], opts: TurnOptions): Promise<TurnResult> {
  let session = existing;
  if (!session) {
    const project = await projectId(worktree);
    session = db.transaction(() => {
      ensureProject(db, project, project === 'global' ? '/' : worktree, project === 'global' ? null : 'git');
      return createSession(db, { projectID: project, directory: worktree, title: opts.title });
    })();
  }
  const sid = session.id;
  markBusy(db, sid);
  const emit = (type: TurnEvent['type'], part?: PartInfo, error?: TurnEvent['error']) => {
    const e: TurnEvent = { type, timestamp: Date.now(), sessionID: sid };
    if (part) e.part = { id: part.id, sessionID: part.sessionID, messageID: part.messageID, ...part.data };
    if (error) e.error = error;
    opts.onEvent?.(e);
  };
  try {
    const kind = opts.agent !== undefined ? 'agent' : 'exec';
    const revert = getSession(db, sid).revert;
    // Like OpenCode: a new prompt after a revert drops the reverted turns for good.
    const { user, assistant, discarded } = db.transaction(() => {
      let discarded = 0;
      if (revert) {
        discarded = deleteMessagesFrom(db, sid, revert.messageID);
        setRevert(db, sid, undefined);
      }
      const now = Date.now();
      const user = insertMessage<UserMessageData>(db, sid, { role: 'user', time: { created: now }, agent: kind, model: agentModel(kind) });
      insertPart(db, user.id, sid, textPart(opts.message));
      const assistant = insertMessage<AssistantMessageData>(db, sid, {
        role: 'assistant',
        parentID: user.id,
        time: { created: now },
        agent: kind,
        mode: kind,
        ...agentModel(kind),
        cost: 0,
        tokens: NO_TOKENS,
        path: { cwd: worktree, root: worktree },
      });
      return { user, assistant, discarded };
    })();
    const data = assistant.data;
    try {
      const skipped: SkippedFile[] = [];
      const snap = async (label: string) => {
        opts.onProgress?.(`snapshot (${label})…`);
        const r = await track(worktree, { onProgress: opts.onProgress });
        await retain(worktree, sid, [r.tree]);
        for (const s of r.skipped) {
          skipped.push(s);
          opts.onWarning?.(`not snapshotted (${label}): ${s.path} — ${describeSkip(s)}`);
        }
        return r;
      };
      const before = await snap('before');
      emit('step_start', insertPart(db, assistant.id, sid, withSkipped({ type: 'step-start', snapshot: before.tree }, before.skipped)));

      const result = await runCommand(argv, worktree, opts.onOutput ?? (() => undefined));
      if (opts.agent !== undefined) {
        if (result.spawnError) throw new SnaplineError('agent-failed', `agent could not start: ${result.spawnError}`);
        emit('text', insertPart(db, assistant.id, sid, { ...textPart(result.preview, result), time: { start: result.start, end: result.end } }));
      } else {
        emit('tool_use', insertPart(db, assistant.id, sid, toolPart(opts.exec!, result)));
      }

      const after = await snap('after');
      emit(
        'step_finish',
        insertPart(db, assistant.id, sid, withSkipped({ type: 'step-finish', reason: 'stop', snapshot: after.tree, cost: 0, tokens: NO_TOKENS }, after.skipped)),
      );

      opts.onProgress?.('summarising…');
      const ctx = await storeContext(worktree);
      const paths: string[] = [];
      const summary = await summarize(ctx, before.tree, after.tree, (s) => paths.push(s.file));
      const totals = await sessionTotals(db, ctx, sid, before.tree, after.tree, summary);
      db.transaction(() => {
        if (paths.length) insertPart(db, assistant.id, sid, { type: 'patch', hash: before.tree, ...capPaths(paths) });
        updateMessage(db, user.id, { ...user.data, summary });
        updateMessage(db, assistant.id, { ...data, time: { ...data.time, completed: Date.now() }, finish: 'stop', exit: result.exit });
        updateSessionSummary(db, sid, totals);
      })();
      return { sessionID: sid, messageID: user.id, assistantID: assistant.id, exit: result.exit, summary, skipped, discarded };
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const name = e instanceof SnaplineError ? e.code : 'UnknownError';
      updateMessage(db, assistant.id, { ...data, time: { ...data.time, completed: Date.now() }, finish: 'error', error: { name, message } });
      emit('error', undefined, { name, data: { message } });
      throw e;
    }
  } finally {
    clearBusy(db, sid);
  }
}

/**
 * Session totals: the net change from the session's first snapshot to its latest, like
 * OpenCode's session summary (a single turn reuses its own summary).
 */
async function sessionTotals(db: Database, ctx: GitContext, sid: string, before: string, after: string, turn: TurnSummary): Promise<{ additions: number; deletions: number; files: number }> {
  const first = listTurns(db, sid).find((t) => t.start !== undefined)?.start ?? before;
  if (first === before) return turn.total;
  const totals = { additions: 0, deletions: 0, files: 0 };
  for await (const s of numstatStream(ctx, first, after)) {
    totals.files++;
    totals.additions += s.additions;
    totals.deletions += s.deletions;
  }
  return totals;
}

/** A text part holding at most PREVIEW_BYTES of `text`. */
function textPart(text: string, result?: CommandResult): PartData {
  const bytes = result?.outputBytes ?? Buffer.byteLength(text);
  const kept = Buffer.from(text).subarray(0, PREVIEW_BYTES).toString('utf8');
  const part: PartData = { type: 'text', text: kept };
  if (bytes > Buffer.byteLength(kept) || result?.truncated) {
    part.truncated = true;
    part.bytes = bytes;
  }
  return part;
}

function toolPart(command: string, r: CommandResult): PartData {
  const metadata: ToolState['metadata'] = { exit: r.spawnError ? null : r.exit, outputBytes: r.outputBytes };
  if (r.truncated) metadata.truncated = true;
  if (r.signal) metadata.signal = r.signal;
  return {
    type: 'tool',
    callID: newId('part').replace(/^prt_/, 'call_'),
    tool: 'bash',
    state: {
      status: r.spawnError ? 'error' : 'completed',
      input: { command },
      output: r.spawnError ? `could not start bash: ${r.spawnError}` : r.preview,
      // OpenCode requires `error` on a tool part whose status is error.
      ...(r.spawnError ? { error: `could not start bash: ${r.spawnError}` } : {}),
      title: command.length > 80 ? command.slice(0, 77) + '...' : command,
      metadata,
      time: { start: r.start, end: r.end },
    },
  };
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
