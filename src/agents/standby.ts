/**
 * The **standby**: a Node process, one per agent session, that has loaded snapline and waits for
 * the agent's events, so the step hook script (src/agents/step-hook.sh) can hand it an event
 * instead of starting Node — Node's start and snapline's modules cost ~0.2 s of every hook here,
 * before any work. The script starts it at the agent's session start (`snapline hook AGENT
 * --standby SESSION`), and a deferred begin's recorder becomes it once the begin is recorded.
 * It records each event exactly as `snapline hook AGENT` would, one at a time, and exits when the
 * agent session ends, after STANDBY_IDLE_MS without an event, or when its files are gone.
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
 *                  until the step is recorded (every other event of the session waits for that
 *                  mark; its problems go to hooks.log only)
 * A claim without an event is the script's deferred begin (`../begin.<pid>`, recorded as
 * `--begin-from` would, nobody waiting for an answer) or, with neither, a request to exit (the
 * agent session ended).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { dataDir } from '../config.js';
import { fastStepDir } from '../session/fast-steps.js';
import { releaseLeftOpen } from '../session/sqlite.js';
import { pidRunning } from '../snapshot/lock.js';
import { sealersNow } from '../snapshot/pending.js';
import type { AgentAdapter } from './adapter.js';
import { log, recordDeferredBegin, runHookText } from './hook.js';

/** A standby that has had nothing to do this long exits (the next event of its session starts Node, or a new standby). */
const STANDBY_IDLE_MS = 5 * 60_000;
/** How often a waiting standby looks at its files when no change notice comes (and checks its idle time). */
const POLL_MS = 250;

/** The longest a standby waits idle: SNAPLINE_STANDBY_IDLE_MS when set (tests), else STANDBY_IDLE_MS. */
function idleMs(env: NodeJS.ProcessEnv): number {
  const v = Number(env.SNAPLINE_STANDBY_IDLE_MS);
  return Number.isFinite(v) && v > 0 ? v : STANDBY_IDLE_MS;
}

/**
 * Runs as the standby of `agentSession` until it exits (see above); returns at once when another
 * process already is. Never rejects.
 */
export async function standBy(agent: AgentAdapter, agentSession: string): Promise<void> {
  const dir = fastStepDir(agent.name, agentSession);
  if (!dir) return;
  const sb = join(dir, 'standby');
  const pidFile = join(sb, 'pid');
  const me = String(process.pid);
  const say = (what: string) => log(`${agent.name} standby ${agentSession}: pid ${me} ${what}`);
  try {
    mkdirSync(sb, { recursive: true });
    // One standby per agent session: the pid file is created exclusively; one whose process is
    // gone is taken over. (The script that started this process may have written it already.)
    for (let attempt = 0; ; attempt++) {
      try {
        writeFileSync(pidFile, me + '\n', { flag: 'wx' });
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) return;
        const other = readFileSync(pidFile, 'utf8').trim();
        if (other === me) break;
        if (/^\d+$/.test(other) && pidRunning(Number(other))) return;
        rmSync(pidFile, { force: true });
      }
    }
  } catch {
    return;
  }
  const started = performance.now();
  // A claim on the offer of a standby before this one, whose claimant found it gone: not ours to serve.
  for (const n of readdirSync(sb)) if (/^(claimed\.\d+|ready)$/.test(n)) rmSync(join(sb, n), { force: true });
  await warm();
  say(`ready (loaded in ${Math.round(performance.now() - started)} ms)`);
  let reason = 'exits';
  try {
    reason = await serve(agent, dir, sb, me, idleMs(process.env));
  } catch (e) {
    reason = `exits: ${(e as Error).message.split('\n')[0]}`;
  } finally {
    // Only the pid file this process wrote.
    try {
      if (readFileSync(pidFile, 'utf8').trim() === me) unlinkSync(pidFile);
    } catch {
      /* gone already */
    }
  }
  // (Not into a data directory that was removed: logging would make it again.)
  if (existsSync(dataDir())) say(`${reason}; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(1)} MiB`);
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

/** Serves claims until it is time to exit; returns why. */
async function serve(agent: AgentAdapter, dir: string, sb: string, me: string, idle: number): Promise<string> {
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
    for (;;) {
      clearLeftovers(sb);
      // Offer: written aside and renamed, so a claimant reads the whole pid.
      writeFileSync(join(sb, `ready.${me}`), me + '\n');
      renameSync(join(sb, `ready.${me}`), ready);
      const deadline = Date.now() + idle;
      let claim: string | undefined;
      while (!(claim = claimed(sb))) {
        if (!existsSync(dir)) return 'exits (its files were removed)';
        if (Date.now() > deadline) {
          // Retire by the same rename a claimant uses: if that fails, a claim came first and is served.
          try {
            renameSync(ready, join(sb, `retired.${me}`));
            rmSync(join(sb, `retired.${me}`), { force: true });
            return `exits (idle for ${Math.round(idle / 1000)} s)`;
          } catch {
            continue;
          }
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
      const pid = claim.slice('claimed.'.length);
      rmSync(join(sb, claim), { force: true });
      const working = join(sb, `working.${pid}`);
      const taken = take(dir, sb, pid, me);
      if (taken) {
        const outcome = await runHookText(agent, { text: readFileSync(working, 'utf8'), complete: true }, process.env, process.cwd(), `standby pid ${me}`);
        rmSync(working, { force: true });
        if (taken === 'deferred') rmSync(join(dir, `stepping.${pid}`), { force: true });
        else {
          const answer = outcome.problem ? `snapline hook ${agent.name}: ${outcome.problem}\n` : '';
          writeFileSync(join(sb, `done.${pid}.tmp`), answer);
          renameSync(join(sb, `done.${pid}.tmp`), join(sb, `done.${pid}`));
        }
        afterEvent();
        if (outcome.action === 'close') return 'exits (the agent session ended)';
        continue;
      }
      const begin = join(dir, `begin.${pid}`);
      if (!existsSync(begin)) return 'exits (the agent session ended)';
      await recordDeferredBegin(agent, begin);
      afterEvent();
    }
  } finally {
    watcher?.close();
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
    if (!/^(done|event|deferred)\.\d+$/.test(n)) continue;
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
