/** Recording one turn: user message, snapshot, the work, snapshot, summary — all in the database. */
import { realpath } from 'node:fs/promises';
import { sep } from 'node:path';
import { SnaplineError, UsageError } from '../errors.js';
import { resolveWorkspace } from '../snapshot/store.js';
import type { SkippedFile } from '../snapshot/track.js';
import { openDatabase, type Database } from './db.js';
import { TurnInterrupted, UnknownSession } from './errors.js';
import { catchSignals, KILL_WINDOW_MS, resolveAgent, runCommand, type CommandResult, type SignalCatcher } from './exec.js';
import { newId } from './id.js';
import { withTurnLock } from './lock.js';
import type { PartData, ToolState, TurnSummary } from './model.js';
import { recoverLocked } from './recover.js';
import { addPart, closeTurn, failTurn, newSession, openTurnMessages, snapshotFor, stepStart, textPart, type RecordHooks } from './record.js';
import { clearBusy, getSession, latestSession, markBusy, type SessionInfo } from './store.js';
import { publish, sessionWorkspace } from './workspace.js';

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
  /**
   * Where the command runs (default: the current directory, or the session's workspace when the
   * current directory is outside it). The workspace recorded is the git top level around it
   * (else the directory itself): see resolveWorkspace.
   */
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
  /** What the turn is doing now; '' when there is nothing to show (the agent has the terminal). */
  onProgress?: (message: string) => void;
  /** Told when another turn holds the workspace and this one waits for it (at once, then every 10 s). */
  onWait?: (message: string) => void;
  /** Wait at most this long for a busy workspace (default: session.waitSeconds, 600). */
  waitSeconds?: number;
  /**
   * Catch SIGINT/SIGTERM/SIGHUP of this process while the turn runs (for a CLI, not a server):
   * they go to the command's process group, a second within 3 s kills it, and the turn is still
   * recorded (TurnResult.interrupted); one before the command starts stops the turn there.
   */
  handleSignals?: boolean;
  /** What happened to a caught signal, for the user. */
  onInterrupt?: (message: string) => void;
  /**
   * With `agentCommand`: give the agent this terminal (stdio inherited, in the terminal's foreground
   * process group), for interactive agents. Its output is not captured: the text part says so.
   */
  terminal?: boolean;
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
  /** The stop signal snapline got during the turn (handleSignals): the CLI exits 128 + its number. */
  interrupted?: NodeJS.Signals;
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
    // The command runs where the user is (`echo >> ../index.js` from lib/ means what it says);
    // the snapshots cover the whole workspace around it.
    let workDir: string;
    if (opts.sessionId !== undefined) {
      session = getSession(db, opts.sessionId);
      worktree = await sessionWorkspace(session);
      if (opts.directory !== undefined && (await resolveWorkspace(opts.directory, true)) !== worktree) {
        throw new UsageError(`session ${session.id} belongs to ${session.directory}, not ${opts.directory}`);
      }
      const here = await realpath(opts.directory ?? process.cwd()).catch(() => worktree);
      workDir = here === worktree || here.startsWith(worktree + sep) ? here : worktree;
    } else {
      worktree = await resolveWorkspace(opts.directory ?? process.cwd());
      workDir = await realpath(opts.directory ?? process.cwd());
      if (opts.continue) {
        session = latestSession(db, worktree);
        if (!session) throw new UnknownSession(`(latest in ${worktree})`);
      }
    }
    const argv = agentCommand !== undefined ? [...resolveAgent(agentCommand, workDir), opts.message] : ['bash', '-c', opts.exec!];
    // A turn interrupted before its end snapshot gets it first, before this turn changes anything.
    const turn = () => recoverLocked(db, worktree).then(() => recordTurnCatchingSignals(db, worktree, workDir, session, argv, { ...opts, agentCommand }));
    const result = await withTurnLock(worktree, turn, {
      onWait: opts.onWait ?? opts.onProgress,
      waitSeconds: opts.waitSeconds,
      what: `run ${JSON.stringify(opts.message.length > 40 ? opts.message.slice(0, 39) + '…' : opts.message)}${session ? ` in ${session.id}` : ''}`,
    });
    await publish(worktree, opts.onWarning);
    return result;
  } finally {
    if (!opts.db) db.close();
  }
}

/**
 * recordTurn with, when asked (`handleSignals`), SIGINT/SIGTERM/SIGHUP caught from the moment
 * the workspace is ours: they go to the command, and the turn is recorded whatever happens.
 * (While waiting for the workspace they still end the process: nothing is written yet.)
 */
async function recordTurnCatchingSignals(db: Database, worktree: string, workDir: string, existing: SessionInfo | undefined, argv: string[], opts: TurnOptions): Promise<TurnResult> {
  if (!opts.handleSignals) return recordTurn(db, worktree, workDir, existing, argv, opts);
  const terminal = opts.terminal ?? false;
  const signals = catchSignals((signal, again, running) => {
    if (!running) opts.onInterrupt?.(`${signal}: the turn is recorded first, then snapline stops`);
    else if (again) opts.onInterrupt?.(`${signal} again: killing the command`);
    else opts.onInterrupt?.(`${signal} passed to the ${terminal ? 'agent' : 'command'}; it is recorded when it ends (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again within ${KILL_WINDOW_MS / 1000} s kills it)`);
  });
  try {
    return await recordTurn(db, worktree, workDir, existing, argv, opts, signals);
  } finally {
    signals.release();
  }
}

async function recordTurn(db: Database, worktree: string, workDir: string, existing: SessionInfo | undefined, argv: string[], opts: TurnOptions, signals?: SignalCatcher): Promise<TurnResult> {
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
    // A terminal's Ctrl-C also reaches our git children: the snapshot is still owed, take it again.
    retrySnapshot: () => signals?.received() !== undefined,
  };
  try {
    const agent = opts.agentCommand !== undefined;
    const turn = openTurnMessages(db, worktree, sid, opts.message, agent ? 'agent' : 'exec', workDir);
    try {
      const before = await snapshotFor(worktree, sid, 'before', hooks);
      addPart(db, turn, stepStart(before), hooks);

      const early = signals?.received();
      if (early) throw new TurnInterrupted(early);
      const terminal = agent && (opts.terminal ?? false);
      opts.onProgress?.(terminal ? '' : `running the ${agent ? 'agent' : 'command'}…`);
      const result = await runCommand(argv, workDir, opts.onOutput ?? (() => undefined), { terminal, signals });
      if (agent) {
        if (result.spawnError) throw new SnaplineError('agent-failed', `agent could not start: ${result.spawnError}`);
        const part: PartData = result.captured === false ? { type: 'text', text: NOT_CAPTURED, captured: false } : textPart(result.preview, result.outputBytes, result.truncated);
        if (result.interrupted && part.type === 'text') part.interrupted = result.interrupted;
        addPart(db, turn, { ...part, time: { start: result.start, end: result.end } }, hooks);
      } else {
        addPart(db, turn, toolPart(opts.exec!, result), hooks);
      }

      // The session already keeps `before`: an unchanged workspace needs no new retain.
      const after = await snapshotFor(worktree, sid, 'after', hooks, before.tree);
      const interrupted = signals?.received();
      const summary = await closeTurn(db, worktree, turn, before.tree, after, { finish: interrupted ? 'interrupted' : 'stop', exit: result.exit, interrupted }, hooks);
      const skipped = [...before.skipped, ...after.skipped];
      const done: TurnResult = { sessionID: sid, messageID: turn.user.id, assistantID: turn.assistant.id, exit: result.exit, summary, skipped, discarded: turn.discarded };
      if (interrupted) done.interrupted = interrupted;
      return done;
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

/** The text part of an agent that had the terminal. */
export const NOT_CAPTURED = '(output went to the terminal; not captured)';

function toolPart(command: string, r: CommandResult): PartData {
  const metadata: ToolState['metadata'] = { exit: r.spawnError ? null : r.exit, outputBytes: r.outputBytes };
  if (r.truncated) metadata.truncated = true;
  if (r.signal) metadata.signal = r.signal;
  if (r.interrupted) metadata.interrupted = r.interrupted;
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
      // OpenCode requires `error` on a tool part whose status is error.
      ...(r.spawnError ? { error: `could not start bash: ${r.spawnError}` } : {}),
    },
  };
}
