/**
 * The **standby**: a Node process, one per agent session, that has loaded snapline and waits for
 * the agent's events, so the step hook script (src/agents/step-hook.sh) can hand it an event
 * instead of starting Node — Node's start and snapline's modules cost ~0.2 s of every hook here,
 * before any work. The script starts it at the agent's session start (`snapline hook AGENT
 * --standby SESSION`), and a deferred begin's recorder becomes it once the begin is recorded.
 * It records each event exactly as `snapline hook AGENT` would, one at a time. When the agent
 * session ends it waits as the spare, the standby of the agent's next session (spare, below); it
 * exits after STANDBY_IDLE_MS without an event or a session, or when its files are gone.
 *
 * Files, under the agent session's fast-step directory (src/session/fast-steps.ts), in `standby/`:
 *   `pid`          the standby's pid (created exclusively: one standby per agent session)
 *   `ready`        there while it waits for an event; holds its pid. A script **claims** it by
 *                  renaming it to `claimed.<script pid>` (rename is atomic: one claimant wins;
 *                  the standby retires the same way, so it never leaves with a claim unserved)
 *   `event.<pid>`  the event a claimant hands over, written before its claim; the standby takes
 *                  it by renaming it to `working.<pid>` (a claimant that finds its event still
 *                  there after the standby died gives it to Node instead)
 *   `done.<pid>`   the answer: empty, or the problem line the script prints on stderr
 *   `deferred.<pid>` a step handed over without waiting for its answer: the claimant returns
 *                  once the standby has taken it, and the standby's pid is in `../stepping.<pid>`
 *                  until the step is recorded and the standby offers itself again (every other
 *                  event of the session waits for that mark; its problems go to hooks.log only)
 *   `end.<pid>`    (empty) the claimant answered the turn's end itself and leaves its recording
 *                  to the standby, as to the detached `--pending-end` recorder (nobody waits)
 *   `close`        the agent session ended while the standby was busy (no offer to claim): it
 *                  exits once it is done
 * And, in the data directory's `fast-steps/ends/`, the agent's end that came while a deferred
 * step was being recorded (`<agent>+<session>+behind.<pid>`: src/session/fast-steps.ts,
 * endsBehind): recorded right after that step, before anything else, with the step's snapshot.
 * A claim with none of these is the script's deferred begin (`../begin.<pid>`, recorded as
 * `--begin-from` would, nobody waiting for an answer) or, with no begin either, a request to exit
 * (the agent session ended).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { startBackground } from '../background.js';
import { dataDir } from '../config.js';
import { dropStepTicket, endsBehind, fastStepDir, leavePendingEnd, takeEndBehind } from '../session/fast-steps.js';
import { releaseLeftOpen } from '../session/sqlite.js';
import { pidRunning } from '../snapshot/lock.js';
import { sealersNow } from '../snapshot/pending.js';
import type { AgentAdapter } from './adapter.js';
import { log, recordDeferredBegin, recordPendingEnd, runHookText } from './hook.js';

/** A standby that has had nothing to do this long exits (the next event of its session starts Node, or a new standby). */
const STANDBY_IDLE_MS = 5 * 60_000;
/** How often a waiting standby looks at its files when no change notice comes (and checks its idle time). */
const POLL_MS = 250;

/**
 * The longest a standby waits idle: SNAPLINE_STANDBY_IDLE_MS when set (tests), else the agent's
 * own bound (one that never says its session ended: its standbys cannot become the spare, and
 * would pile up one per session), else STANDBY_IDLE_MS.
 */
function idleMs(env: NodeJS.ProcessEnv, agent: AgentAdapter): number {
  const v = Number(env.SNAPLINE_STANDBY_IDLE_MS);
  return Number.isFinite(v) && v > 0 ? v : (agent.standbyIdleMs ?? STANDBY_IDLE_MS);
}

/**
 * Runs as the standby of `agentSession` until it exits (see above), then, when that session
 * ended, as the spare of the agent's next session; returns at once when another process already
 * is the session's standby. Never rejects.
 */
export async function standBy(agent: AgentAdapter, agentSession: string): Promise<void> {
  let session: string | undefined = agentSession;
  for (let first = true; session !== undefined; first = false) {
    const ended = await standFor(agent, session, first);
    session = ended ? await spare(agent) : undefined;
  }
}

/** The standby of one agent session (loaded first, when `first`); true when it ended because the agent session did. */
async function standFor(agent: AgentAdapter, agentSession: string, first: boolean): Promise<boolean> {
  const dir = fastStepDir(agent.name, agentSession);
  if (!dir) return false;
  const sb = join(dir, 'standby');
  const pidFile = join(sb, 'pid');
  const me = String(process.pid);
  const say = (what: string) => log(`${agent.name} standby ${agentSession}: pid ${me} ${what}`);
  try {
    mkdirSync(sb, { recursive: true });
    // One standby per agent session. (The script that started this process, or a spare that
    // took the session, wrote the pid file already.)
    if (!holdPidFile(pidFile, me)) return false;
  } catch {
    return false;
  }
  const started = performance.now();
  // A claim on the offer of a standby before this one, whose claimant found it gone, and the end
  // of the session it served: not ours.
  for (const n of readdirSync(sb)) if (/^(claimed\.\d+|ready|close)$/.test(n)) rmSync(join(sb, n), { force: true });
  if (first) {
    await warm();
    say(`ready (loaded in ${Math.round(performance.now() - started)} ms)`);
  } else say('ready (the spare took this session)');
  let reason = 'exits';
  let ended = false;
  try {
    ({ reason, ended } = await serve(agent, agentSession, dir, sb, me, idleMs(process.env, agent)));
  } catch (e) {
    reason = `exits: ${(e as Error).message.split('\n')[0]}`;
  } finally {
    releasePidFile(pidFile, me);
    // The session end's mark, once seen.
    if (ended) rmSync(join(sb, 'close'), { force: true });
  }
  // (Not into a data directory that was removed: logging would make it again.)
  if (existsSync(dataDir())) say(`${ended ? 'is done (the agent session ended)' : reason}; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MiB`);
  return ended;
}

/**
 * Writes this process's pid to `pidFile`, created exclusively (one process holds it); one whose
 * process is gone is taken over. False when a live process holds it.
 */
function holdPidFile(pidFile: string, me: string): boolean {
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(pidFile, me + '\n', { flag: 'wx' });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) return false;
      const other = readFileSync(pidFile, 'utf8').trim();
      if (other === me) return true;
      if (/^\d+$/.test(other) && pidRunning(Number(other))) return false;
      rmSync(pidFile, { force: true });
    }
  }
}

/** Removes `pidFile` if it still holds this process's pid. */
function releasePidFile(pidFile: string, me: string): void {
  try {
    if (readFileSync(pidFile, 'utf8').trim() === me) unlinkSync(pidFile);
  } catch {
    /* gone already */
  }
}

/** Loads what recording an event needs (what `perform` imports when it runs), and the native SQLite module. */
async function warm(): Promise<void> {
  await Promise.all([
    import('../session/turn-api.js'),
    import('../session/errors.js'),
    import('../session/pending.js'),
    import('../session/db.js'),
    import('../snapshot/ticket.js'),
    import('../git/index-stat.js'),
  ]);
}

/**
 * Offers `<sb>/ready` (then runs `offered`) and waits for a claim on it: returns the claim's file
 * name, 'gone' when `alive` says its files are gone, 'ended' when `ended` says to stop, 'idle'
 * after `idle` ms. It stops waiting by the same rename a claimant uses: if that fails, a claim
 * came first and is returned.
 */
async function offer(sb: string, me: string, idle: number, alive: () => boolean, ended: () => boolean, offered?: () => void): Promise<string> {
  const ready = join(sb, 'ready');
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(sb, () => wake?.());
    watcher.on('error', () => undefined);
  } catch {
    /* polled instead */
  }
  try {
    // Written aside and renamed, so a claimant reads the whole pid.
    writeFileSync(join(sb, `ready.${me}`), me + '\n');
    renameSync(join(sb, `ready.${me}`), ready);
    offered?.();
    const deadline = Date.now() + idle;
    for (;;) {
      const claim = claimed(sb);
      if (claim) return claim;
      if (!alive()) return 'gone';
      const why = ended() ? 'ended' : Date.now() > deadline ? 'idle' : undefined;
      if (why) {
        try {
          renameSync(ready, join(sb, `retired.${me}`));
          rmSync(join(sb, `retired.${me}`), { force: true });
        } catch {
          // Claimed meanwhile (or the offer removed by someone else: then nobody claimed it).
          return claimed(sb) ?? why;
        }
        return why;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLL_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    watcher?.close();
  }
}

/** Serves claims until it is time to exit; returns why, and whether because the agent session ended. */
async function serve(agent: AgentAdapter, agentSession: string, dir: string, sb: string, me: string, idle: number): Promise<{ reason: string; ended: boolean }> {
  const close = join(sb, 'close');
  const ended = { reason: 'exits (the agent session ended)', ended: true };
  // The mark of the deferred step last recorded: removed once the standby offers itself again,
  // so the session's next event, which waits for it, finds the standby ready.
  let stepped: string | undefined;
  const unmark = () => {
    if (stepped) rmSync(stepped, { force: true });
  };
  // The turn of the deferred step just recorded (none if it failed, or once anything else came).
  let steppedTurn: string | undefined;
  // The agent's end that came while that step was recorded, first of all.
  const endsFirst = async () => {
    for (const file of endsBehind(agent.name, agentSession)) {
      await recordEndBehind(agent, agentSession, file, steppedTurn, me);
      steppedTurn = undefined;
      afterEvent();
    }
  };
  for (;;) {
    clearLeftovers(sb);
    await endsFirst();
    if (existsSync(close)) {
      unmark();
      return ended;
    }
    // (An end left behind the step after the check above, while the step's mark was still
    // there, is found once the mark is removed, at the offer: then the offer is withdrawn.)
    const claim = await offer(sb, me, idle, () => existsSync(dir), () => existsSync(close) || endsBehind(agent.name, agentSession).length > 0, unmark);
    stepped = undefined;
    if (claim === 'gone') return { reason: 'exits (its files were removed)', ended: false };
    if (claim === 'ended') continue;
    if (claim === 'idle') return { reason: `exits (idle for ${Math.round(idle / 1000)} s)`, ended: false };
    await endsFirst();
    steppedTurn = undefined;
    const pid = claim.slice('claimed.'.length);
    rmSync(join(sb, claim), { force: true });
    const working = join(sb, `working.${pid}`);
    const taken = take(dir, sb, pid, me);
    if (taken) {
      const outcome = await runHookText(agent, { text: readFileSync(working, 'utf8'), complete: true }, process.env, process.cwd(), `standby pid ${me}`);
      rmSync(working, { force: true });
      if (taken === 'deferred') {
        stepped = join(dir, `stepping.${pid}`);
        steppedTurn = outcome.turn;
      } else {
        const answer = outcome.problem ? `snapline hook ${agent.name}: ${outcome.problem}\n` : '';
        writeFileSync(join(sb, `done.${pid}.tmp`), answer);
        renameSync(join(sb, `done.${pid}.tmp`), join(sb, `done.${pid}`));
      }
      afterEvent();
      if (outcome.action === 'close') {
        unmark();
        return ended;
      }
      continue;
    }
    const end = join(sb, `end.${pid}`);
    if (existsSync(end)) {
      rmSync(end, { force: true });
      await recordPendingEnd(agent, agentSession, true);
      afterEvent();
      continue;
    }
    const begin = join(dir, `begin.${pid}`);
    if (!existsSync(begin)) return ended;
    await recordDeferredBegin(agent, begin);
    afterEvent();
  }
}

/**
 * Records the agent's end left behind a deferred step (src/session/fast-steps.ts, endsBehind),
 * once that step is recorded. With the step's turn (the step was recorded) the turn ends with
 * the step's snapshot at the end's time, as an end the script answered does: the ticket goes, a
 * pending end is left and recorded (the summary by the background summarizer). Without it (the
 * step failed) the event is recorded as `snapline hook` records an end, snapshot included. The
 * end is a mark until then. Never rejects.
 */
async function recordEndBehind(agent: AgentAdapter, agentSession: string, file: string, turn: string | undefined, me: string): Promise<void> {
  const end = takeEndBehind(file);
  // Taken back by the script (the step was recorded before it looked), or not ours to take.
  if (!end) return rmSync(file, { force: true });
  try {
    if (turn) {
      await dropStepTicket(agent.name, agentSession);
      await leavePendingEnd(agent.name, agentSession, turn, end.time);
      await recordPendingEnd(agent, agentSession, true, 'came behind the step (its snapshot is the end\'s)');
    } else await runHookText(agent, { text: end.event, complete: true }, process.env, process.cwd(), `standby pid ${me}, behind the step`);
  } catch (e) {
    log(`${agent.name} end behind the step: ${(e as Error).message.split('\n')[0]}`);
  } finally {
    rmSync(end.file, { force: true });
  }
}

/**
 * Environment variables Node reads only as it starts (or whose change a running process would
 * not follow): a spare whose own differ from a new session's does not take it.
 */
const AT_START = /^(NODE_|UV_|GLIBC_TUNABLES$|MALLOC_|LD_)/;

/**
 * The **spare**: a standby whose agent session ended waits, loaded, for the agent's next session
 * in this data directory (`<data>/fast-steps/spare/<agent>/`, one spare per agent: its `pid`
 * file is created exclusively). The step hook script, at a session's start, puts that session's
 * id, directory and environment beside the spare's offer (`adopt.<pid>`: NUL-separated, the
 * environment as `env -0` prints it), claims the offer and returns. The spare takes the session
 * (adopt) and is its standby from then on; one that cannot take it starts the session's standby
 * instead, as the script would have. (One that dies first leaves the session without a standby
 * until its prompt, whose recorder stays on as one.) It exits after the standby's idle time
 * without a session, or when its files are gone. Returns the session taken, or undefined.
 */
async function spare(agent: AgentAdapter): Promise<string | undefined> {
  if (process.env.SNAPLINE_STANDBY === '0') return undefined;
  const me = String(process.pid);
  const sp = join(dataDir(), 'fast-steps', 'spare', agent.name);
  const pidFile = join(sp, 'pid');
  try {
    mkdirSync(sp, { recursive: true });
    if (!holdPidFile(pidFile, me)) return undefined;
  } catch {
    return undefined;
  }
  const say = (what: string) => log(`${agent.name} spare standby: pid ${me} ${what}`);
  say('waits for the next session');
  let reason = 'exits';
  try {
    for (const n of readdirSync(sp)) if (/^(claimed\.\d+|ready)$/.test(n)) rmSync(join(sp, n), { force: true });
    for (;;) {
      clearLeftovers(sp);
      const idle = idleMs(process.env, agent);
      const claim = await offer(sp, me, idle, () => existsSync(sp), () => false);
      if (claim === 'gone' || claim === 'idle' || claim === 'ended') {
        reason = claim === 'gone' ? 'exits (its files were removed)' : `exits (idle for ${Math.round(idle / 1000)} s)`;
        return undefined;
      }
      const pid = claim.slice('claimed.'.length);
      rmSync(join(sp, claim), { force: true });
      const file = join(sp, `adopt.${pid}`);
      const adoption = adopt(agent, file, me);
      rmSync(file, { force: true });
      if (adoption.taken) {
        reason = `took session ${adoption.session}`;
        return adoption.session;
      }
      say(`did not take session ${adoption.session || '?'}: ${adoption.why}`);
      if (adoption.start) startStandby(agent, adoption.session, adoption.start.env, adoption.start.cwd);
    }
  } catch (e) {
    reason = `exits: ${(e as Error).message.split('\n')[0]}`;
    return undefined;
  } finally {
    releasePidFile(pidFile, me);
    if (existsSync(dataDir())) say(reason);
  }
}

type Adoption = { taken: true; session: string } | { taken: false; session: string; why: string; start?: { env: NodeJS.ProcessEnv; cwd?: string } };

/**
 * Takes the session a script handed to the spare in `file` (its id, directory and environment),
 * making that environment and directory this process's own and holding the session's standby
 * pid file. Not taken: an id the script would not accept, or a session with a live standby
 * (nothing to start); an environment whose start-only variables differ from this process's or
 * that names another data directory, or a directory gone (the session's standby is to be
 * started as the script would have).
 */
function adopt(agent: AgentAdapter, file: string, me: string): Adoption {
  let fields: string[];
  try {
    fields = readFileSync(file, 'utf8').split('\0');
  } catch {
    return { taken: false, session: '', why: 'nothing handed over' };
  }
  const [session = '', cwd = '', ...vars] = fields;
  const dir = fastStepDir(agent.name, session);
  if (!dir) return { taken: false, session, why: 'no session id' };
  const env: NodeJS.ProcessEnv = {};
  for (const v of vars) {
    const at = v.indexOf('=');
    if (at > 0) env[v.slice(0, at)] = v.slice(at + 1);
  }
  const start = { env, cwd: cwd || undefined };
  const names = new Set([...Object.keys(env), ...Object.keys(process.env)].filter((k) => AT_START.test(k)));
  for (const k of names) if (env[k] !== process.env[k]) return { taken: false, session, why: `${k} differs`, start };
  if (dataDir(env) !== dataDir()) return { taken: false, session, why: 'another data directory', start };
  const sessionPid = join(dir, 'standby', 'pid');
  try {
    mkdirSync(join(dir, 'standby'), { recursive: true });
    if (!holdPidFile(sessionPid, me)) return { taken: false, session, why: 'the session has a standby' };
  } catch (e) {
    return { taken: false, session, why: (e as Error).message.split('\n')[0]!, start };
  }
  try {
    process.chdir(cwd);
  } catch {
    releasePidFile(sessionPid, me);
    return { taken: false, session, why: 'its directory is gone', start: { env } };
  }
  for (const k of Object.keys(process.env)) if (!(k in env)) delete process.env[k];
  Object.assign(process.env, env);
  return { taken: true, session };
}

/** Starts the standby of `session` as the step hook script does at the session's start, with its pid in the session's pid file. */
function startStandby(agent: AgentAdapter, session: string, env: NodeJS.ProcessEnv, cwd?: string): void {
  const sb = join(dataDir(env), 'fast-steps', agent.name, session, 'standby');
  const pid = startBackground(['hook', agent.name, '--standby', session], env, { cwd });
  if (pid === undefined) return;
  try {
    mkdirSync(sb, { recursive: true });
    writeFileSync(join(sb, `pid.${process.pid}`), `${pid}\n`);
    renameSync(join(sb, `pid.${process.pid}`), join(sb, 'pid'));
  } catch {
    /* it writes its own */
  }
}

/**
 * Takes the event claimant `pid` handed over, as `working.<pid>`: `event.<pid>` (the claimant
 * waits for the answer) or `deferred.<pid>` (a step: the claimant returns once it is taken, and
 * the mark `stepping.<pid>` — written first, holding this process's pid — makes the session's
 * other events wait until it is recorded; src/session/fast-steps.ts, waitForDeferred). Undefined:
 * no event (a deferred begin, or a dismissal).
 */
function take(dir: string, sb: string, pid: string, me: string): 'answer' | 'deferred' | undefined {
  const working = join(sb, `working.${pid}`);
  try {
    renameSync(join(sb, `event.${pid}`), working);
    return 'answer';
  } catch {
    /* not an event waiting for its answer */
  }
  const deferred = join(sb, `deferred.${pid}`);
  if (!existsSync(deferred)) return undefined;
  const mark = join(dir, `stepping.${pid}`);
  try {
    writeFileSync(mark, me + '\n');
    renameSync(deferred, working);
    return 'deferred';
  } catch {
    rmSync(mark, { force: true });
    return undefined;
  }
}

/** After an event is answered: the SQLite connections it opened are closed but one (the WAL stays, as a hook's process leaves it), and its big files' sealer is started (a second later). */
function afterEvent(): void {
  releaseLeftOpen(1);
  sealersNow();
}

/** How long an answer or an unclaimed event stays before the standby removes it: a claimant reads its answer at once. */
const LEFTOVER_MS = 60_000;

/** Answers nobody read and events nobody claimed: their script was killed (the agent interrupted its hook). */
function clearLeftovers(sb: string): void {
  const now = Date.now();
  for (const n of readdirSync(sb)) {
    if (!/^(done|event|deferred|end|adopt)\.\d+$/.test(n)) continue;
    const file = join(sb, n);
    try {
      if (now - statSync(file).mtimeMs > LEFTOVER_MS) rmSync(file, { force: true });
    } catch {
      /* gone meanwhile */
    }
  }
}

/** The claim on this standby's offer, if a script made one. */
function claimed(sb: string): string | undefined {
  try {
    return readdirSync(sb).find((n) => /^claimed\.\d+$/.test(n));
  } catch {
    return undefined;
  }
}
