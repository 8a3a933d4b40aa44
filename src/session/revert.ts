/** Undo: revert a session to before a turn, unrevert, delete — touching only what the session changed. */
import { UsageError } from '../errors.js';
import { loadConfig } from '../config.js';
import type { GitContext } from '../git/run.js';
import { changedPaths, type TreeChange } from '../git/tree-diff.js';
import { deleteRemoteSession, release, restore, retain, track, StoreMissing, type RestoreResult } from '../snapshot/index.js';
import { openDatabase, type Database } from './db.js';
import { NotReverted, TurnChangesUnknown, WorkspaceEdited } from './errors.js';
import { anyPendingEnd, dropStepTicket } from './fast-steps.js';
import { withTurnLock } from './lock.js';
import { recoverLocked } from './recover.js';
import { publish, requireSnapshots, sessionWorkspace } from './workspace.js';
import type { RevertState } from './model.js';
import { assertNotBusy, deleteSessionRows, getMessage, getSession, listTurns, setRevert, type Turn } from './store.js';

/** What an undo wrote and deleted (or, with `dryRun`, would), and what it had to overwrite. */
export interface UndoResult {
  sessionID: string;
  /** Files written (with `dryRun`: that a real run writes), workspace-relative. */
  written: string[];
  /** Files deleted (with `dryRun`: that a real run deletes). */
  deleted: string[];
  /** Set when nothing was written: the lists say what a real run does. */
  dryRun?: true;
  /**
   * Paths among those changed outside the session since it last saw them. A real run without
   * `force` refuses when there are any, so outside a dry run this is non-empty only with force.
   */
  edited: string[];
  /** With `force`, when `edited` is not empty: the snapshot keeping their content, and how to get it back. */
  backup?: { snapshot: string; command: string };
}

export interface RevertResult extends UndoResult {
  /** First reverted turn (user message id). */
  messageID: string;
  /** Paths the revert covers (changed by the reverted turns). */
  paths: number;
  /** Snapshot of the workspace's pre-revert state (retained; unrevert restores from it). */
  snapshot: string;
  /** Set when nothing was written: `written` and `deleted` are what a real run does. */
  dryRun?: true;
}

export interface UndoOptions {
  db?: Database;
  onProgress?: (message: string) => void;
  /** Called as files are restored: how many so far, of how many. */
  onFiles?: (done: number, total: number) => void;
  /** Told when another turn holds the workspace and this waits for it (at once, then every 10 s). */
  onWait?: (message: string) => void;
  /** Overwrite files changed outside the session, after keeping them in a retained snapshot. */
  force?: boolean;
  /** Compute and return what would be written and deleted; write nothing. */
  dryRun?: boolean;
  /** Wait at most this long for a busy workspace (default: session.waitSeconds). */
  waitSeconds?: number;
  /** Told when the snapshot remote could not take the new snapshots (they stay pending). */
  onWarning?: (message: string) => void;
}

/**
 * An end the step hook script answered for the session is recorded first: until then its turn
 * looks open, and the session busy.
 */
async function recordAnsweredEnd(db: Database, sessionId: string, opts: UndoOptions): Promise<void> {
  if (!anyPendingEnd()) return;
  const { settlePendingEnds } = await import('./turn-api.js');
  await settlePendingEnds(db, { sessionId, ...(opts.onWait ? { onWait: opts.onWait } : {}), ...(opts.waitSeconds !== undefined ? { waitMs: opts.waitSeconds * 1000 } : {}) });
}

async function withDb<T>(opts: UndoOptions, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = opts.db ?? openDatabase();
  try {
    return await fn(db);
  } finally {
    if (!opts.db) db.close();
  }
}

/** The turn a message belongs to (a user message, or an assistant message answering one). */
function turnIndex(turns: Turn[], sessionId: string, messageId: string): number {
  const i = turns.findIndex((t) => t.id === messageId || t.assistants.includes(messageId));
  if (i < 0) throw new UsageError(`message ${messageId} of session ${sessionId} does not start or belong to a turn`);
  return i;
}

/**
 * Every path changed by turns[from…]: tree diffs of their snapshots only (no blob is read). A
 * turn that never took its start snapshot never ran its work. A turn with a start but no end
 * snapshot changed something unknown: `strict` refuses it (a revert cannot undo it); otherwise
 * it is left out, as the revert being undone left it out.
 */
async function pathsChangedFrom(ctx: GitContext, turns: Turn[], from: number, strict?: { sessionId: string; worktree: string }): Promise<Set<string>> {
  const paths = new Set<string>();
  for (const t of turns.slice(from)) {
    if (t.start && !t.end && strict) throw new TurnChangesUnknown(strict.sessionId, t.id, t.start, strict.worktree);
    if (!t.start || !t.end || t.start === t.end) continue;
    for (const c of await changedPaths(ctx, t.start, t.end)) paths.add(c.path);
  }
  return paths;
}

/** The changes from tree `a` to tree `b` at the paths of `wanted` (what restore(b, those) writes). */
async function changesAt(ctx: GitContext, a: string, b: string, wanted: ReadonlySet<string>): Promise<TreeChange[]> {
  if (a === b || wanted.size === 0) return [];
  return (await changedPaths(ctx, a, b)).filter((c) => wanted.has(c.path));
}

/** The paths of `wanted` that differ between two trees. */
async function differing(ctx: GitContext, a: string, b: string, wanted: readonly string[]): Promise<string[]> {
  return (await changesAt(ctx, a, b, new Set(wanted))).map((c) => c.path);
}

/**
 * What restoring `steps` in order does, path by path, the later step winning: written where the
 * source tree has the file, deleted where it has not (gitlinks are never written, as in restore).
 */
function plannedResult(...steps: TreeChange[][]): { written: string[]; deleted: string[] } {
  const last = new Map<string, TreeChange>();
  for (const step of steps) for (const c of step) last.set(c.path, c);
  const written: string[] = [];
  const deleted: string[] = [];
  for (const c of last.values()) {
    if (!c.after) deleted.push(c.path);
    else if (c.after.mode !== '160000') written.push(c.path);
  }
  return { written, deleted };
}

/** The same merge for what restore really did. */
function mergedResult(first: RestoreResult, second: RestoreResult): { written: string[]; deleted: string[] } {
  const later = new Set([...second.written, ...second.deleted]);
  return {
    written: [...first.written.filter((p) => !later.has(p)), ...second.written],
    deleted: [...first.deleted.filter((p) => !later.has(p)), ...second.deleted],
  };
}

const NOTHING: RestoreResult = { written: [], deleted: [] };

/** A word the shell passes through unchanged. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The command that puts `paths` back as they are in `tree`. */
function restoreCommand(tree: string, worktree: string, paths: readonly string[]): string {
  return `snapline snapshot restore ${tree} --dir ${shellWord(worktree)} -- ${paths.map(shellWord).join(' ')}`;
}

function unique(paths: string[]): string[] {
  return [...new Set(paths)].sort();
}

/** The latest end snapshot of the session's turns: its last view of the workspace. */
function latestEnd(turns: Turn[]): string | undefined {
  return [...turns].reverse().find((t) => t.end)?.end;
}

/**
 * Reverts the session to its state before the turn of `messageId`: per path, every file changed
 * by that turn or a later one is put back as it was when that turn started (files that did not
 * exist then are deleted). Other files are never written. The workspace is snapshotted first
 * and the snapshot kept, so unrevert can put those paths back.
 *
 * Before writing anything, every path it would write is compared with the session's last view
 * of it (the end snapshot of its latest turn; for paths an earlier revert covers, that revert's
 * result): a difference is an edit made outside the session, and the revert is refused
 * (WorkspaceEdited) unless `force` — then the snapshot taken first keeps the edits, and
 * `backup.command` brings them back. Refused while a turn of the session runs. Reverting a
 * reverted session first undoes the earlier revert (checked the same way, before any write).
 * The revert state is recorded before the files are written, so a revert killed midway is
 * finished or undone by the next revert or unrevert.
 */
export async function revertSession(sessionId: string, messageId: string, opts: UndoOptions = {}): Promise<RevertResult> {
  return withDb(opts, async (db) => {
    await recordAnsweredEnd(db, sessionId, opts);
    const s = getSession(db, sessionId);
    assertNotBusy(s);
    getMessage(db, sessionId, messageId);
    const worktree = await sessionWorkspace(s);
    const result = await withTurnLock(worktree, async () => {
      // The step hook script answers no step of a session being reverted until Node has looked again.
      if (s.agent?.session !== undefined) await dropStepTicket(s.agent.name, s.agent.session);
      const old = getSession(db, sessionId).revert;
      assertNotBusy(getSession(db, sessionId));
      // Refused before anything is snapshotted or written when a tree the session names is
      // missing (fetched first from the snapshot remote, if there is one).
      const ctx = await requireSnapshots(worktree, sessionId, [...listTurns(db, sessionId).flatMap((t) => [t.start, t.end]), old?.snapshot]);
      opts.onProgress?.('snapshot of the current state…');
      const now = await track(worktree);
      const current = now.tree;
      await recoverLocked(db, worktree, now);
      const turns = listTurns(db, sessionId);
      const at = turnIndex(turns, sessionId, messageId);
      const target = turns[at]!.start;
      if (!target) throw new UsageError(`turn ${turns[at]!.id} has no snapshot to revert to (it never started)`);
      const paths = await pathsChangedFrom(ctx, turns, at, { sessionId, worktree });

      // Step 1 (when reverted already): the earlier revert's paths back to their pre-revert state.
      let oldPaths = new Set<string>();
      let undo: TreeChange[] = [];
      const edited: string[] = [];
      if (old) {
        const oldAt = turns.findIndex((t) => t.id === old.messageID);
        oldPaths = await pathsChangedFrom(ctx, turns, oldAt < 0 ? turns.length : oldAt);
        undo = await changesAt(ctx, current, old.snapshot, oldPaths);
        const oldTarget = turns[oldAt]?.start;
        edited.push(...(oldTarget ? await differing(ctx, current, oldTarget, undo.map((c) => c.path)) : undo.map((c) => c.path)));
      }
      // Step 2: the covered paths to `target`. Those step 1 restores start from the pre-revert
      // snapshot; the others from the workspace, which must still be as the session last saw it.
      const redoKept = old ? await changesAt(ctx, old.snapshot, target, new Set([...paths].filter((p) => oldPaths.has(p)))) : [];
      const redoFresh = await changesAt(ctx, current, target, new Set([...paths].filter((p) => !oldPaths.has(p))));
      const lastSeen = latestEnd(turns);
      if (lastSeen && redoFresh.length) edited.push(...(await differing(ctx, current, lastSeen, redoFresh.map((c) => c.path))));
      const redo = [...redoKept, ...redoFresh];
      const outside = unique(edited);
      const result = { sessionID: sessionId, messageID: turns[at]!.id, paths: paths.size, edited: outside };

      if (opts.dryRun) return { ...result, ...plannedResult(undo, redo), dryRun: true as const, snapshot: current };
      if (outside.length && !opts.force) throw new WorkspaceEdited(sessionId, 'revert', outside);
      await retain(worktree, sessionId, [current]);
      const r1 = undo.length && old ? await restore(worktree, old.snapshot, undo.map((c) => c.path), { onProgress: opts.onFiles }) : NOTHING;
      let preRevert = current;
      if (old && undo.length) {
        opts.onProgress?.('snapshot of the pre-revert state…');
        preRevert = (await track(worktree)).tree;
        await retain(worktree, sessionId, [preRevert]);
      }
      const state: RevertState = { messageID: turns[at]!.id, snapshot: preRevert, paths: paths.size, time: Date.now() };
      setRevert(db, sessionId, state);
      opts.onProgress?.(`restoring ${redo.length} path${redo.length === 1 ? '' : 's'}…`);
      let r2: RestoreResult;
      try {
        r2 = redo.length ? await restore(worktree, target, redo.map((c) => c.path), { onProgress: opts.onFiles }) : NOTHING;
      } catch (e) {
        setRevert(db, sessionId, old);
        throw e;
      }
      const done: RevertResult = { ...result, ...mergedResult(r1, r2), snapshot: preRevert };
      if (outside.length) done.backup = { snapshot: current, command: restoreCommand(current, worktree, outside) };
      return done;
    }, { onWait: opts.onWait, waitSeconds: opts.waitSeconds, what: `revert of ${sessionId}` });
    // The snapshots the revert state names go to the remote, so other machines can unrevert.
    if (!result.dryRun) await publish(worktree, opts.onWarning);
    return result;
  });
}

/**
 * Puts back exactly the paths the last revert covered, as they were just before it. Every path
 * it would write must still be as the revert left it; one changed since (outside the session)
 * is refused like in revertSession, or with `force` kept in a retained snapshot first.
 */
export async function unrevertSession(sessionId: string, opts: UndoOptions = {}): Promise<UndoResult> {
  return withDb(opts, async (db) => {
    await recordAnsweredEnd(db, sessionId, opts);
    const s = getSession(db, sessionId);
    assertNotBusy(s);
    if (!s.revert) throw new NotReverted(sessionId);
    const worktree = await sessionWorkspace(s);
    const result = await withTurnLock(worktree, async () => {
      const fresh = getSession(db, sessionId);
      assertNotBusy(fresh);
      const old = fresh.revert;
      if (!old) throw new NotReverted(sessionId);
      const ctx = await requireSnapshots(worktree, sessionId, [...listTurns(db, sessionId).flatMap((t) => [t.start, t.end]), old.snapshot]);
      opts.onProgress?.('snapshot of the current state…');
      const now = await track(worktree);
      const current = now.tree;
      await recoverLocked(db, worktree, now);
      const turns = listTurns(db, sessionId);
      const oldAt = turns.findIndex((t) => t.id === old.messageID);
      const paths = await pathsChangedFrom(ctx, turns, oldAt < 0 ? turns.length : oldAt);
      const undo = await changesAt(ctx, current, old.snapshot, paths);
      // As the revert left them: the reverted turn's start state.
      const reverted = turns[oldAt]?.start;
      const outside = unique(reverted ? await differing(ctx, current, reverted, undo.map((c) => c.path)) : undo.map((c) => c.path));
      if (opts.dryRun) return { sessionID: sessionId, ...plannedResult(undo), dryRun: true as const, edited: outside };
      if (outside.length && !opts.force) throw new WorkspaceEdited(sessionId, 'unrevert', outside);
      if (outside.length) await retain(worktree, sessionId, [current]);
      opts.onProgress?.(`restoring ${undo.length} path${undo.length === 1 ? '' : 's'}…`);
      const r = undo.length ? await restore(worktree, old.snapshot, undo.map((c) => c.path), { onProgress: opts.onFiles }) : NOTHING;
      setRevert(db, sessionId, undefined);
      const done: UndoResult = { sessionID: sessionId, written: r.written, deleted: r.deleted, edited: outside };
      if (outside.length) done.backup = { snapshot: current, command: restoreCommand(current, worktree, outside) };
      return done;
    }, { onWait: opts.onWait, waitSeconds: opts.waitSeconds, what: `unrevert of ${sessionId}` });
    if (!result.dryRun && result.backup) await publish(worktree, opts.onWarning);
    return result;
  });
}

/** Deletes a session's rows (one transaction) and releases its snapshots for gc. */
export async function deleteSession(sessionId: string, opts: UndoOptions = {}): Promise<{ sessionID: string; released: boolean }> {
  return withDb(opts, async (db) => {
    await recordAnsweredEnd(db, sessionId, opts);
    const s = getSession(db, sessionId);
    assertNotBusy(s);
    let worktree: string | undefined;
    try {
      worktree = await sessionWorkspace(s);
    } catch {
      worktree = undefined; // the workspace is gone: its store can only be reached by gc
    }
    const drop = async () => {
      assertNotBusy(getSession(db, sessionId));
      deleteSessionRows(db, sessionId);
      if (s.agent?.session !== undefined) await dropStepTicket(s.agent.name, s.agent.session);
      if (!worktree) return false;
      try {
        return await release(worktree, sessionId);
      } catch (e) {
        if (e instanceof StoreMissing) return false;
        throw e;
      }
    };
    const released = worktree ? await withTurnLock(worktree, drop, { onWait: opts.onWait, waitSeconds: opts.waitSeconds, what: `delete of ${sessionId}` }) : await drop();
    // Its refs on the snapshot remote go too (or at the next sync when it cannot be reached).
    if (worktree) await publish(worktree, opts.onWarning);
    else await deleteRemoteRefs(sessionId, opts.onWarning);
    return { sessionID: sessionId, released };
  });
}

/**
 * A session deleted on a machine with no clone of its repository: its refs on the configured
 * snapshot remote (the user's config, or the current directory's snapline.json) are deleted
 * at once — there is no store here to keep the deletion pending; a failure is a warning.
 */
async function deleteRemoteRefs(sessionId: string, onWarning?: (message: string) => void): Promise<void> {
  let url: string | undefined;
  try {
    url = loadConfig(process.cwd()).snapshot.remote;
    if (url) await deleteRemoteSession(url, sessionId);
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    onWarning?.(`the session's snapshots on ${url ?? 'the snapshot remote'} were not deleted (${why}); delete its refs refs/snapline/${sessionId}/* there by hand`);
  }
}
