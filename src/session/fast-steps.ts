/**
 * The no-change step without Node. An agent's step hook runs `src/agents/step-hook.sh` (POSIX
 * sh), which answers a step that changed nothing by itself: it needs to know, without SQLite
 * or the configuration, what the open step's snapshot was read from. That is the **ticket**
 * this module writes after each begin and step of an agent session (under the turn lock) and
 * withdraws when the turn ends. The script leaves each step it answered as a **pending** file
 * (the agent's event as it came, its mtime the time of the check), which the next turn API
 * call of the session records — as the tool part a Node step would have stored, at that time.
 *
 * Layout, under `<dataDir>/fast-steps/`:
 *   `tmp/`                           the script's copies of an event while it checks (removed by it, or here after 10 minutes)
 *   `<agent>/<agent session>/ticket`  see writeStepTicket
 *   `<agent>/<agent session>/pending/<assistant message id>.<pid>`  one answered step each
 *   `<agent>/<agent session>/idle`    no turn of the agent session is open (see markAgentSessionIdle)
 *   `<agent>/<agent session>/begin.<pid>`, `beginning`  a begin being recorded in the background (see waitForDeferred)
 *   `<agent>/<agent session>/stepping.<pid>`  a step the session's standby records after the script returned (waitForDeferred)
 *   `ends/<agent>+<agent session>+<assistant message id>`  an end the script answered (see pendingEnds)
 *   `ends/<agent>+<agent session>+behind.<pid>`, `+ending.<pid>`  an end behind a deferred step (see endsBehind)
 *
 * The **pending end**: the agent's end event (Stop, AfterAgent) right after a step, with the
 * workspace still the open step's snapshot, is answered by the script too. It withdraws the
 * ticket, leaves an empty file in `ends/` (its mtime the time of the check) and starts a detached
 * `snapline hook AGENT --pending-end SESSION` that records it; every turn call of the session
 * and every reader records it first too (src/session/turn-api.ts, settlePendingEnds). One flat
 * directory, so a reader of all sessions finds out with one readdir that there is nothing to do.
 */
import { readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { dataDir, fastStepsTmp, type Config } from '../config.js';
import { LOCK_NAME } from '../snapshot/lock.js';
import { conditions, replaceFile, sameRules, storeExclude } from '../snapshot/ticket.js';
import type { TrackResult } from '../snapshot/track.js';
import { turnLockDir } from './lock.js';
import { processAlive } from './store.js';

/** First line of a ticket; the script refuses any other. */
const TICKET_VERSION = 'snapline-step-ticket 1';
/** The script keeps events up to this size (larger ones go to Node). */
export const MAX_PENDING_BYTES = 64 * 1024;
/** An entry that does not parse yet may be one the script is writing this long after its mtime. */
const WRITING_MS = 10_000;
/** A copy of an event the script left behind (killed mid-check) is removed after this long. */
const STALE_TMP_MS = 10 * 60 * 1000;
/** The deferred begin's mark and a deferred step's (waitForDeferred), and the longest wait for them. */
const BEGINNING = 'beginning';
const STEPPING = /^stepping\.\d+$/;
const DEFERRED_WAIT_MAX_MS = 10 * 60_000;
/** Agent session ids the script accepts (it must not build a path from anything else). */
const SAFE_KEY = /^[A-Za-z0-9._-]{1,128}$/;

/** The directory of an agent session's ticket and pending steps, or undefined for an id the script would not accept. */
export function fastStepDir(agent: string, agentSession: string): string | undefined {
  if (!SAFE_KEY.test(agent) || !SAFE_KEY.test(agentSession) || agentSession === '.' || agentSession === '..') return undefined;
  return join(dataDir(), 'fast-steps', agent, agentSession);
}

export interface TicketInput {
  agent: string;
  agentSession: string;
  /** The open turn's assistant message. */
  assistantID: string;
  worktree: string;
  /** The snapshot the open step starts from, as track returned it. */
  snap: TrackResult;
  /** The configuration the snapshot was taken under. */
  config: Config;
}

/**
 * Writes the ticket for the open step of an agent session. Lines: the format, the assistant
 * message, the workspace, the store, the workspace's turn lock file, the size of the store's
 * index the snapshot was read from; then the conditions of src/snapshot/ticket.ts, their copies
 * beside it. `index-tail` holds the last 32 bytes of that index (git's checksum of the rest).
 * Where the script could not check something exactly, no ticket is written and every step goes
 * to Node. Never throws: without a ticket, steps go to Node.
 */
export async function writeStepTicket(t: TicketInput): Promise<void> {
  const dir = fastStepDir(t.agent, t.agentSession);
  if (!dir) return;
  try {
    const basis = t.snap.basis;
    const index = basis && /^(\d+):([0-9a-f]{64})$/.exec(basis.index);
    if (!basis || !index) return await dropStepTicket(t.agent, t.agentSession);
    const found = await conditions(t.worktree, basis.excludeFrom);
    // The configuration read now must give the rules the snapshot was taken under.
    if (!found || !sameRules(found.config, t.config)) return await dropStepTicket(t.agent, t.agentSession);
    const own = storeExclude(basis);
    const lines = [TICKET_VERSION, t.assistantID, t.worktree, basis.store, join(turnLockDir(t.worktree), LOCK_NAME), index[1]!, ...found.lines, own.line];
    if (lines.some((l) => /[\r\n]/.test(l) || l !== l.trim())) return await dropStepTicket(t.agent, t.agentSession);
    const copies = [...found.copies, own.copy, ['index-tail', Buffer.from(index[2]!, 'hex')] as [string, Buffer]];
    await mkdir(join(dir, 'pending'), { recursive: true });
    await mkdir(fastStepsTmp(), { recursive: true });
    await mkdir(endsDir(), { recursive: true });
    // Each file written aside and renamed: the script reads whole files, old or new.
    for (const [name, content] of copies) await replaceFile(join(dir, name), content);
    await replaceFile(join(dir, 'ticket'), lines.join('\n') + '\n');
    await cleanStaleTmp();
  } catch {
    await dropStepTicket(t.agent, t.agentSession);
  }
}

/**
 * The **idle mark** (`<agent>/<agent session>/idle`): no turn of the agent session is open. An
 * end writes it once its turn is recorded; a begin removes it before it opens a turn (a begin
 * is the only way an agent session's turn opens). While it is there, the script answers the
 * agent's session-end event (which would close an open turn) without Node. Never throws.
 */
export async function markAgentSessionIdle(agent: string, agentSession: string): Promise<void> {
  const dir = fastStepDir(agent, agentSession);
  if (!dir) return;
  try {
    await mkdir(dir, { recursive: true });
    await mkdir(fastStepsTmp(), { recursive: true });
    await writeFile(join(dir, 'idle'), '');
  } catch {
    /* without the mark the session-end event goes to Node */
  }
}

/** Removes the idle mark (a turn is about to open); throws if it stays, so no turn opens under it. */
export async function clearAgentSessionIdle(agent: string, agentSession: string): Promise<void> {
  const dir = fastStepDir(agent, agentSession);
  if (dir) await rm(join(dir, 'idle'), { force: true });
}

/**
 * The **deferred begin**: the script answers the agent's prompt event (Claude Code's
 * UserPromptSubmit) at once, leaving the event as `begin.<its pid>` and starting a detached
 * `snapline hook AGENT --begin-from FILE` that records the begin (snapshot included); the
 * detached process's pid is in `beginning` until it is done. The **deferred step**: the script
 * hands a step (PostToolUse) to the session's standby and returns once the standby has taken it;
 * the standby's pid is in `stepping.<script pid>` until the step is recorded (src/agents/standby.ts).
 * Every other event of the agent session — above all the agent's barrier before each tool
 * (PreToolUse), so no tool runs before the snapshot — first waits here (or in the script) for
 * those marks. A pid that is gone ends the wait for its mark (the process died: whatever it
 * recorded stands), as does a mark still empty after a second (its writer was killed).
 */
export async function waitForDeferred(agent: string, agentSession: string): Promise<void> {
  const dir = fastStepDir(agent, agentSession);
  if (!dir) return;
  const names = await readdir(dir).catch(() => [] as string[]);
  const marks = names.filter((n) => n === BEGINNING || STEPPING.test(n)).map((n) => join(dir, n));
  await waitForMarks([...marks, ...endsBehind(agent, agentSession, true)], Date.now() + DEFERRED_WAIT_MAX_MS);
}

/**
 * Waits, until `deadline`, for each mark to go: a file whose first line is the pid of the
 * process that removes it once done. A pid that is gone ends the wait for its mark (removed), as
 * does a mark still empty after a second; this process's own marks are not waited for. An end
 * behind a step that was taken is waited for under its new name.
 */
async function waitForMarks(marks: string[], deadline: number): Promise<void> {
  for (let mark of marks) {
    let empty = 0;
    for (;;) {
      const text = await readFile(mark, 'utf8').catch(() => undefined);
      if (text === undefined && /\+behind\.\d+$/.test(mark)) {
        mark = mark.replace(/\+behind\.(\d+)$/, '+ending.$1');
        continue;
      }
      if (text === undefined || Date.now() > deadline) break;
      const first = /^(\d+)(\n|$)/.exec(text);
      const pid = first ? Number(first[1]) : undefined;
      // The standby's own mark, of the step (or the end) it is recording now.
      if (pid === process.pid) break;
      if (pid === undefined ? ++empty > 50 : !processAlive(pid, hostname())) {
        await rm(mark, { force: true });
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * The **end behind a step** (the agents with a barrier: Claude Code, Codex CLI, Gemini CLI): the
 * agent's end (Stop, AfterAgent) while the session's standby still records a deferred step. No tool of the agent has run since that step's snapshot began
 * (each waits for the step's mark), so the turn ends with that snapshot: the script leaves the
 * event as `ends/<agent>+<session>+behind.<script pid>` — first line the standby's pid, then the
 * event; its mtime the end's time — and returns without waiting. The standby takes it once the
 * step is recorded (takeEndBehind) and records the end (src/agents/standby.ts). Until then both
 * names are marks: the session's next events wait for them (waitForDeferred), and so does every
 * reader (settlePendingEnds), so the turn is never read as open after its end.
 * Returns the paths of the agent session's (of all, without one; oldest first); with `ending`,
 * those being recorded too.
 */
export function endsBehind(agent: string | undefined, agentSession: string | undefined, ending = false): string[] {
  const dir = endsDir();
  const found: { file: string; time: number }[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  for (const name of names) {
    const m = BEHIND.exec(name);
    if (!m || (agent !== undefined && m[1] !== agent) || (agentSession !== undefined && m[2] !== agentSession) || (m[3] === 'ending' && !ending)) continue;
    try {
      found.push({ file: join(dir, name), time: statSync(join(dir, name)).mtimeMs });
    } catch {
      /* taken meanwhile */
    }
  }
  return found.sort((a, b) => a.time - b.time).map((f) => f.file);
}

/** An end behind a step, taken by its recorder: the file (now `+ending.<pid>`, removed once recorded), the event, the end's time. */
export interface EndBehind {
  file: string;
  event: string;
  time: Date;
}

/**
 * Takes the end behind a step left in `file` (renamed `+ending.<pid>`, still a mark); undefined
 * when the script took it back first (the step was recorded before its end came: it goes on as
 * any end).
 */
export function takeEndBehind(file: string): EndBehind | undefined {
  const ending = file.replace(/\+behind\.(\d+)$/, '+ending.$1');
  try {
    renameSync(file, ending);
  } catch {
    return undefined;
  }
  try {
    const text = readFileSync(ending, 'utf8');
    return { file: ending, event: text.slice(text.indexOf('\n') + 1), time: statSync(ending).mtime };
  } catch {
    return { file: ending, event: '', time: new Date() };
  }
}

/**
 * Leaves the pending end of the turn whose assistant message is `assistantID`, at `time`, as the
 * script leaves one it answered (pendingEnds): the end behind a step, recorded with that step's
 * snapshot. One already there stays.
 */
export async function leavePendingEnd(agent: string, agentSession: string, assistantID: string, time: Date): Promise<void> {
  const file = join(endsDir(), `${agent}+${agentSession}+${assistantID}`);
  await writeFile(file, '', { flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  await utimes(file, time, time);
}

/** Waits (until `ms` from now) for the ends behind steps of the agent session (or of all sessions) to be recorded. */
export async function waitForEndsBehind(agent: string | undefined, agentSession: string | undefined, ms: number): Promise<void> {
  await waitForMarks(endsBehind(agent, agentSession, true), Date.now() + ms);
}

/** The begin left by the script is recorded (or failed): its event file and mark go. */
export async function finishDeferredBegin(eventFile: string): Promise<void> {
  await rm(eventFile, { force: true }).catch(() => undefined);
  await rm(join(dirname(eventFile), BEGINNING), { force: true }).catch(() => undefined);
}

/** Withdraws the ticket (the turn ends): from now on the script sends every step to Node. */
export async function dropStepTicket(agent: string, agentSession: string): Promise<void> {
  const dir = fastStepDir(agent, agentSession);
  if (dir) await rm(join(dir, 'ticket'), { force: true }).catch(() => undefined);
}

/** A step the script answered: the agent's event, when it was checked, and the turn it belongs to. */
export interface PendingStep {
  assistantID: string;
  /** When the script found the workspace unchanged (ms since the epoch). */
  time: number;
  /** The agent's event (undefined when the file does not hold a JSON object). */
  event?: Record<string, unknown>;
  /** Removes the file once the step is recorded. */
  done(): Promise<void>;
}

/** The pending steps of an agent session, oldest first. */
export async function pendingSteps(agent: string, agentSession: string): Promise<PendingStep[]> {
  const dir = fastStepDir(agent, agentSession);
  if (!dir) return [];
  const pending = join(dir, 'pending');
  const names = await readdir(pending).catch(() => [] as string[]);
  const steps: (PendingStep & { name: string })[] = [];
  for (const name of names) {
    const m = /^(msg_[A-Za-z0-9_]+)\.[0-9]+$/.exec(name);
    if (!m) continue;
    const file = join(pending, name);
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) continue;
    let event: Record<string, unknown> | undefined;
    if (st.size <= MAX_PENDING_BYTES + 1) {
      try {
        const v: unknown = JSON.parse(await readFile(file, 'utf8'));
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) event = v as Record<string, unknown>;
      } catch {
        // The script writes an entry in place: one being written right now is left for the next reader.
        if (Date.now() - st.mtimeMs < WRITING_MS) continue;
      }
    }
    steps.push({ name, assistantID: m[1]!, time: st.mtimeMs, event, done: () => unlink(file).catch(() => undefined) });
  }
  return steps.sort((a, b) => a.time - b.time || (a.name < b.name ? -1 : 1));
}

/** The directory of the ends the script answered. */
function endsDir(): string {
  return join(dataDir(), 'fast-steps', 'ends');
}

/** An end the script answered: the agent session, the turn (its assistant message) and when it was checked. */
export interface PendingEnd {
  agent: string;
  agentSession: string;
  assistantID: string;
  /** When the script found the workspace unchanged since the open step's snapshot (ms since the epoch). */
  time: number;
  /** Removes the file once the end is recorded (or its turn is gone). */
  done(): Promise<void>;
}

const END_NAME = /^([A-Za-z0-9._-]{1,128})\+([A-Za-z0-9._-]{1,128})\+(msg_[A-Za-z0-9_]+)$/;
/** An end behind a step (endsBehind): left by the script, then taken by the standby. */
const BEHIND = /^([A-Za-z0-9._-]{1,128})\+([A-Za-z0-9._-]{1,128})\+(behind|ending)\.\d+$/;

/** Whether the script left any end to record, or behind a step (one readdir: what every reader pays when there is none). */
export function anyPendingEnd(): boolean {
  try {
    return readdirSync(endsDir()).some((n) => END_NAME.test(n) || BEHIND.test(n));
  } catch {
    return false;
  }
}

/** The ends the script answered (of one agent session, if given), oldest first. */
export async function pendingEnds(agent?: string, agentSession?: string): Promise<PendingEnd[]> {
  const dir = endsDir();
  const ends: PendingEnd[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = END_NAME.exec(name);
    if (!m || (agent !== undefined && m[1] !== agent) || (agentSession !== undefined && m[2] !== agentSession)) continue;
    const file = join(dir, name);
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) continue;
    ends.push({ agent: m[1]!, agentSession: m[2]!, assistantID: m[3]!, time: st.mtimeMs, done: () => unlink(file).catch(() => undefined) });
  }
  return ends.sort((a, b) => a.time - b.time);
}

/** Removes copies of events the script left behind when it was killed mid-check. */
async function cleanStaleTmp(): Promise<void> {
  const tmp = fastStepsTmp();
  const now = Date.now();
  for (const name of await readdir(tmp).catch(() => [] as string[])) {
    const file = join(tmp, name);
    const st = await stat(file).catch(() => undefined);
    if (st && now - st.mtimeMs > STALE_TMP_MS) await rm(file, { force: true });
  }
}
