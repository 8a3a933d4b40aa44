/** Recording one turn: user message, snapshot, the work, snapshot, summary — all in the database. */
import { isAbsolute } from 'node:path';
import { SnaplineError, UsageError } from '../errors.js';
import { resolveWorkspace, type SkippedFile } from '../snapshot/index.js';
import { openDatabase, type Database } from './db.js';
import { CorruptRow, UnknownSession } from './errors.js';
import { resolveAgent, runCommand, type CommandResult } from './exec.js';
import { newId } from './id.js';
import { withTurnLock } from './lock.js';
import type { PartData, ToolState, TurnSummary } from './model.js';
import { addPart, closeTurn, failTurn, newSession, openTurnMessages, snapshotFor, stepStart, textPart, type RecordHooks } from './record.js';
import { clearBusy, getSession, latestSession, markBusy, type SessionInfo } from './store.js';

export { describeSkip } from './record.js';

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
  agentCommand?: string;
  /** @deprecated the old name of `agentCommand` (`agent` names an agent program in the turn API). */
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
  const agentCommand = opts.agentCommand ?? opts.agent;
  if (opts.agentCommand !== undefined && opts.agent !== undefined) throw new UsageError('give the agent command once (--agent-cmd; --agent is its old name)');
  if ((opts.exec === undefined) === (agentCommand === undefined)) throw new UsageError('give exactly one of --exec CMD or --agent-cmd CMD');
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
    const argv = agentCommand !== undefined ? [...resolveAgent(agentCommand, worktree), opts.message] : ['bash', '-c', opts.exec!];
    return await withTurnLock(worktree, () => recordTurn(db, worktree, session, argv, { ...opts, agentCommand }), { onWait: opts.onWait ?? opts.onProgress });
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
  const session = existing ?? (await newSession(db, worktree, { title: opts.title }));
  const sid = session.id;
  markBusy(db, sid);
  const hooks: RecordHooks = {
    onWarning: opts.onWarning,
    onProgress: opts.onProgress,
    onPart: (part) => {
      const type = EVENT_OF[part.data.type];
      if (type) opts.onEvent?.({ type, timestamp: Date.now(), sessionID: sid, part: { id: part.id, sessionID: part.sessionID, messageID: part.messageID, ...part.data } });
    },
  };
  try {
    const kind = opts.agentCommand !== undefined ? 'agent' : 'exec';
    const turn = openTurnMessages(db, worktree, sid, opts.message, kind);
    try {
      const before = await snapshotFor(worktree, sid, 'before', hooks);
      addPart(db, turn, stepStart(before), hooks);

      const result = await runCommand(argv, worktree, opts.onOutput ?? (() => undefined));
      if (opts.agentCommand !== undefined) {
        if (result.spawnError) throw new SnaplineError('agent-failed', `agent could not start: ${result.spawnError}`);
        addPart(db, turn, { ...textPart(result.preview, result.outputBytes, result.truncated), time: { start: result.start, end: result.end } }, hooks);
      } else {
        addPart(db, turn, toolPart(opts.exec!, result), hooks);
      }

      const after = await snapshotFor(worktree, sid, 'after', hooks);
      const summary = await closeTurn(db, worktree, turn, before.tree, after, { finish: 'stop', exit: result.exit }, hooks);
      const skipped = [...before.skipped, ...after.skipped];
      return { sessionID: sid, messageID: turn.user.id, assistantID: turn.assistant.id, exit: result.exit, summary, skipped, discarded: turn.discarded };
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const name = e instanceof SnaplineError ? e.code : 'UnknownError';
      failTurn(db, turn, { name, message });
      opts.onEvent?.({ type: 'error', timestamp: Date.now(), sessionID: sid, error: { name, data: { message } } });
      throw e;
    }
  } finally {
    clearBusy(db, sid);
  }
}

/** The `run --format json` event a stored part is reported as. */
const EVENT_OF: Partial<Record<PartData['type'], TurnEvent['type']>> = { 'step-start': 'step_start', 'step-finish': 'step_finish', tool: 'tool_use', text: 'text' };

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
      title: command.length > 80 ? command.slice(0, 77) + '...' : command,
      metadata,
      time: { start: r.start, end: r.end },
    },
  };
}
