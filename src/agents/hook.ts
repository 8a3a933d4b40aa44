/**
 * `snapline hook AGENT`: one hook event from the agent (JSON on stdin) turned into a turn API
 * call. A hook must never break its agent: every outcome is reported, not thrown; problems are
 * one line for stderr and a line in `<dataDir>/hooks.log`; a busy workspace is waited for at
 * most `hooks.waitMs`; nothing is ever written to stdout (agents read it as instructions).
 */
import { appendFileSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { dataDir, fastStepsTmp, loadConfig } from '../config.js';
import type { AgentAdapter, HookAction, HookEvent } from './adapter.js';

/** An event larger than this is read only this far (a Write tool's input carries the whole file). */
export const MAX_EVENT_BYTES = 1024 * 1024;
/** hooks.log is moved to hooks.log.1 when it grows past this. */
const MAX_LOG_BYTES = 1024 * 1024;
/** Longest wait for the agent to finish writing the event. */
const STDIN_TIMEOUT_MS = 10_000;

export interface HookOutcome {
  action: HookAction['kind'];
  /** What was recorded, for the log (`begin ses_… msg_…`). */
  detail?: string;
  /** A problem for the user: one line. */
  problem?: string;
  /** A step recorded: the open turn's assistant message. */
  turn?: string;
}

/** Reads the event from `input`, maps it and calls the turn API. Never rejects. */
export async function runHook(agent: AgentAdapter, input: NodeJS.ReadableStream & { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<HookOutcome> {
  let read: { text: string; complete: boolean };
  try {
    if (input.isTTY) throw new Error(`'snapline hook ${agent.name}' reads ${agent.title}'s hook event (JSON) on stdin; ${agent.title} runs it — see 'snapline hooks install ${agent.name}'`);
    read = await readBounded(input);
  } catch (e) {
    const outcome: HookOutcome = { action: 'ignore', problem: oneLine(e) };
    log(`${agent.name} ?: ${outcome.problem}`);
    return outcome;
  }
  const outcome = await runHookText(agent, read, env, cwd);
  // The step hook script's own directory, for hooks installed before `hooks install` made it
  // (an event that reached Node this way; a standby's events come through the script).
  try {
    mkdirSync(fastStepsTmp(env), { recursive: true });
  } catch {
    /* the script keeps handing events to Node */
  }
  return outcome;
}

/**
 * Whether the agent session's fast-step directory holds the mark of a deferred begin or step
 * (src/session/fast-steps.ts, waitForDeferred), read here so an event without one does not load
 * that module.
 */
function deferredMarks(agent: string, agentSession: string): boolean {
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(agentSession) || agentSession === '.' || agentSession === '..') return false;
  try {
    return readdirSync(join(dataDir(), 'fast-steps', agent, agentSession)).some((n) => n === 'beginning' || /^stepping\.\d+$/.test(n));
  } catch {
    return false;
  }
}

/** runHook for an event already read (the standby's: `via` names it in the log). Never rejects. */
export async function runHookText(agent: AgentAdapter, read: { text: string; complete: boolean }, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd(), via?: string): Promise<HookOutcome> {
  let outcome: HookOutcome;
  let eventName = '?';
  try {
    const event = parseEvent(read);
    eventName = typeof event.hook_event_name === 'string' ? event.hook_event_name : '?';
    // A begin or a step the step hook script deferred comes first: nothing of its session, and no
    // tool (the barrier event maps to 'ignore'), goes ahead of its snapshot.
    if (typeof event.session_id === 'string' && deferredMarks(agent.name, event.session_id)) {
      const { waitForDeferred } = await import('../session/fast-steps.js');
      await waitForDeferred(agent.name, event.session_id);
    }
    outcome = await perform(agent, agent.map(event, env, cwd));
  } catch (e) {
    outcome = { action: 'ignore', problem: oneLine(e) };
  }
  const line = outcome.problem ?? outcome.detail;
  if (line) log(`${agent.name} ${eventName}${via ? ` (${via})` : ''}: ${line}`);
  return outcome;
}

async function perform(agent: AgentAdapter, action: HookAction): Promise<HookOutcome> {
  if (action.kind === 'ignore') return { action: 'ignore', detail: `ignored (${action.reason})` };
  // Loaded only now: an ignored event costs no SQLite.
  const api = await import('../session/turn-api.js');
  const { NoOpenTurn } = await import('../session/errors.js');
  const { deferringSummaries } = await import('../session/pending.js');
  const warnings: string[] = [];
  const common = {
    directory: action.directory,
    agent: agent.name,
    agentSession: action.agentSession,
    waitMs: loadConfig(action.directory).hooks.waitMs,
    onWarning: (m: string) => warnings.push(m),
    // The agent waits for its hook: a turn's summary is computed by a background process.
    deferSummary: deferringSummaries(),
  };
  const withWarnings = (o: HookOutcome): HookOutcome => {
    for (const w of warnings) log(`${agent.name}: warning: ${w}`);
    if (warnings.length && !o.problem) o.problem = `${warnings.length} file${warnings.length === 1 ? '' : 's'} not snapshotted (${warnings[0]}${warnings.length > 1 ? ', …' : ''}); see ${logPath()}`;
    return o;
  };
  try {
    switch (action.kind) {
      case 'begin': {
        const r = await api.beginTurn({ ...common, message: action.message });
        return withWarnings({ action: 'begin', detail: `begin ${r.sessionID} ${r.messageID}${r.interrupted.length ? ` (closed ${r.interrupted.length} interrupted)` : ''}` });
      }
      case 'step': {
        const r = await api.stepTurn({ ...common, tool: action.tool, input: action.input });
        return withWarnings({ action: 'step', turn: r.assistantID, ...(r.changed ? { detail: `step ${r.sessionID} ${r.snapshot}` } : {}) });
      }
      case 'end':
      case 'close': {
        const r = await api.endTurn(common);
        const stat = r.summary ? `${r.summary.total.files} files, +${r.summary.total.additions} -${r.summary.total.deletions}` : 'summary pending';
        return withWarnings({ action: action.kind, detail: `end ${r.sessionID} ${r.messageID}: ${stat}` });
      }
    }
  } catch (e) {
    // No open turn: hooks installed in the middle of a turn, or an end after a close. Not a problem.
    if (e instanceof NoOpenTurn) return { action: action.kind, detail: action.kind === 'close' ? undefined : `nothing to record: ${e.message}` };
    throw e;
  }
}

/**
 * The recorder of an end the step hook script answered: the detached `snapline hook AGENT
 * --pending-end SESSION` it starts, or the session's standby it hands the end to. Records that
 * end (src/session/turn-api.ts, settlePendingEnds), then the turn's summary: in this process
 * (the detached recorder), or, with `summaryElsewhere` (the standby, which the session's next
 * events may want), by the background summarizer a hook's end starts. Nobody waits for it.
 * `how` says in the log how the end came (an end behind a step, left by the standby itself).
 * Never rejects: whatever it leaves, the next turn call or reader records.
 */
export async function recordPendingEnd(agent: AgentAdapter, agentSession: string, summaryElsewhere = false, how = 'answered by the step hook script'): Promise<void> {
  const warn = (m: string) => log(`${agent.name}: warning: ${m}`);
  try {
    const { openDatabase } = await import('../session/db.js');
    const { settlePendingEnds, summarizeLater } = await import('../session/turn-api.js');
    const { settleSummaries } = await import('../session/pending.js');
    const db = openDatabase();
    try {
      const sessions = await settlePendingEnds(db, { agent: agent.name, agentSession, defer: true, onWarning: warn });
      for (const sid of sessions) {
        log(`${agent.name} end ${sid}: ${how}, recorded by ${summaryElsewhere ? 'the standby, ' : ''}pid ${process.pid}`);
        if (!summaryElsewhere) await settleSummaries(db, { sessionId: sid, onWarning: warn, onDone: logSummary });
        else summarizeLater(db, sid);
      }
    } finally {
      db.close();
    }
  } catch (e) {
    log(`${agent.name} end (${how}): ${oneLine(e)}`);
  }
}

/**
 * The begin the step hook script deferred (`snapline hook AGENT --begin-from FILE`, detached):
 * records the prompt event it left in FILE as a Node hook would have, while the agent goes on —
 * its tools wait for this (waitForDeferred). Never rejects.
 */
export async function recordDeferredBegin(agent: AgentAdapter, file: string): Promise<void> {
  let eventName = '?';
  let line: string | undefined;
  try {
    const event = parseEvent({ text: readFileSync(file, 'utf8'), complete: true });
    eventName = typeof event.hook_event_name === 'string' ? event.hook_event_name : '?';
    const outcome = await perform(agent, agent.map(event, process.env, process.cwd()));
    line = outcome.problem ?? outcome.detail;
  } catch (e) {
    line = oneLine(e);
  } finally {
    const { finishDeferredBegin } = await import('../session/fast-steps.js');
    await finishDeferredBegin(file);
  }
  if (line) log(`${agent.name} ${eventName} (deferred by the step hook script, pid ${process.pid}): ${line}`);
}

/** The hooks.log line of a summary computed in the background. */
export function logSummary(d: { sessionID: string; messageID: string; files: number; additions: number; deletions: number; at: number }): void {
  const peak = process.resourceUsage().maxRSS / 1024;
  log(`summary ${d.sessionID} ${d.messageID}: ${d.files} files, +${d.additions} -${d.deletions} (${Date.now() - d.at} ms after the end, peak RSS ${peak.toFixed(1)} MiB)`);
}

/** The event text: at most MAX_EVENT_BYTES kept, the rest read and dropped (the agent must not see EPIPE). */
function readBounded(input: NodeJS.ReadableStream): Promise<{ text: string; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let complete = true;
    const timer = setTimeout(() => {
      input.removeAllListeners('data');
      reject(new Error(`no complete event on stdin after ${STDIN_TIMEOUT_MS / 1000} s`));
    }, STDIN_TIMEOUT_MS);
    input.on('data', (b: Buffer) => {
      if (kept >= MAX_EVENT_BYTES) {
        complete = false;
        return;
      }
      const part = b.subarray(0, MAX_EVENT_BYTES - kept);
      if (part.length < b.length) complete = false;
      chunks.push(Buffer.from(part));
      kept += part.length;
    });
    input.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    input.on('end', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('utf8'), complete });
    });
  });
}

/** Fields read from an event too large to keep whole: its top-level strings and flags, found in the kept prefix. */
const PREFIX_FIELDS = ['hook_event_name', 'session_id', 'cwd', 'prompt', 'tool_name', 'turn_id'];

export function parseEvent({ text, complete }: { text: string; complete: boolean }): HookEvent {
  if (complete) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new Error(`the event on stdin is not JSON (${(e as Error).message})`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('the event on stdin is not a JSON object');
    return v as HookEvent;
  }
  const event: HookEvent = {};
  for (const key of PREFIX_FIELDS) {
    const m = new RegExp(`"${key}"\\s*:\\s*("(?:[^"\\\\]|\\\\.)*")`).exec(text);
    if (m) event[key] = JSON.parse(m[1]!) as string;
  }
  if (/"stop_hook_active"\s*:\s*true/.test(text)) event.stop_hook_active = true;
  return event;
}

function logPath(): string {
  return join(dataDir(), 'hooks.log');
}

/** Appends a line to hooks.log (never throws: a hook with a read-only data dir still exits 0). */
export function log(line: string): void {
  try {
    const file = logPath();
    mkdirSync(dataDir(), { recursive: true });
    const size = statSync(file, { throwIfNoEntry: false })?.size ?? 0;
    if (size > MAX_LOG_BYTES) renameSync(file, file + '.1');
    appendFileSync(file, `${new Date().toISOString()} ${line.replace(/\n/g, ' ')}\n`);
  } catch {
    /* nowhere left to report it */
  }
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}
