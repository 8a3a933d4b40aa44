/** Undo: revert a session to before a turn, unrevert, delete — touching only what the session changed. */
import { UsageError } from '../errors.js';
import { runGit, type GitContext } from '../git/run.js';
import { changedPaths } from '../git/tree-diff.js';
import { release, restore, retain, storeContext, track, StoreMissing } from '../snapshot/index.js';
import { openDatabase, type Database } from './db.js';
import { NotReverted, SnapshotsMissing } from './errors.js';
import { withTurnLock } from './lock.js';
import { sessionWorkspace } from './turn.js';
import type { RevertState } from './model.js';
import { assertNotBusy, deleteSessionRows, getMessage, getSession, listTurns, setRevert, type Turn } from './store.js';

export interface RevertResult {
  sessionID: string;
  /** First reverted turn (user message id). */
  messageID: string;
  /** Paths the revert covers (changed by the reverted turns). */
  paths: number;
  written: string[];
  deleted: string[];
  /** Snapshot of the workspace taken before reverting (unrevert restores from it). */
  snapshot: string;
  /** Set when nothing was written: `written` and `deleted` are what a real run does. */
  dryRun?: true;
}

export interface UndoOptions {
  db?: Database;
  onProgress?: (message: string) => void;
  /** Called as files are restored: how many so far, of how many. */
  onFiles?: (done: number, total: number) => void;
  /** Told once when another turn holds the workspace and this waits for it. */
  onWait?: (message: string) => void;
  /** Compute and return what would be written and deleted; write nothing (revert only, here). */
  dryRun?: boolean;
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

/** Every path changed by turns[from…]: tree diffs of their snapshots only (no blob is read). */
async function pathsChangedFrom(ctx: GitContext, turns: Turn[], from: number): Promise<Set<string>> {
  const paths = new Set<string>();
  for (const t of turns.slice(from)) {
    if (!t.start || !t.end || t.start === t.end) continue;
    for (const c of await changedPaths(ctx, t.start, t.end)) paths.add(c.path);
  }
  return paths;
}

/**
 * Refuses (before anything is snapshotted or written) when a tree the session names is not in
 * the workspace's store: the row was edited, or points at another directory's store.
 */
async function requireTrees(ctx: GitContext, sessionId: string, worktree: string, trees: (string | undefined)[]): Promise<void> {
  const ids = [...new Set(trees.filter((t): t is string => typeof t === 'string'))];
  if (ids.length === 0) return;
  const bad = ids.find((t) => !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(t));
  if (bad !== undefined) throw new SnapshotsMissing(sessionId, bad, worktree);
  const r = await runGit(ctx, ['cat-file', '--batch-check=%(objecttype)'], { input: ids.join('\n') + '\n', okStatus: [0, 128] });
  const types = r.stdout.toString('utf8').split('\n');
  ids.forEach((t, i) => {
    if (r.status !== 0 || types[i] !== 'tree') throw new SnapshotsMissing(sessionId, t, worktree);
  });
}

/** The paths of `wanted` that differ between two trees (restore needs no others). */
async function differing(ctx: GitContext, a: string, b: string, wanted: Set<string>): Promise<string[]> {
  if (a === b || wanted.size === 0) return [];
  return (await changedPaths(ctx, a, b)).map((c) => c.path).filter((p) => wanted.has(p));
}

/**
 * Reverts the session to its state before the turn of `messageId`: per path, every file changed
 * by that turn or a later one is put back as it was when that turn started (files that did not
 * exist then are deleted). The workspace is snapshotted first and the snapshot kept, so
 * unrevert can put those paths back. Other files are never written. Refused while a turn of the
 * session runs. Reverting a reverted session first undoes the earlier revert.
 */
export async function revertSession(sessionId: string, messageId: string, opts: UndoOptions = {}): Promise<RevertResult> {
  return withDb(opts, async (db) => {
    const s = getSession(db, sessionId);
    assertNotBusy(s);
    getMessage(db, sessionId, messageId);
    const worktree = await sessionWorkspace(s);
    return withTurnLock(worktree, async () => {
      assertNotBusy(getSession(db, sessionId));
      const turns = listTurns(db, sessionId);
      const at = turnIndex(turns, sessionId, messageId);
      const target = turns[at]!.start;
      if (!target) throw new UsageError(`turn ${turns[at]!.id} has no snapshot to revert to (it never started)`);
      const ctx = await storeContext(worktree);
      await requireTrees(ctx, sessionId, worktree, [...turns.flatMap((t) => [t.start, t.end]), s.revert?.snapshot]);
      if (opts.dryRun && s.revert) throw new UsageError(`session ${sessionId} is reverted: unrevert it before previewing another revert`);
      if (s.revert) await undoRevert(ctx, worktree, turns, s.revert, opts);
      opts.onProgress?.('snapshot of the current state…');
      const { tree: current } = await track(worktree);
      if (opts.dryRun) {
        // The plan: every path restore would touch, split by whether the target has it.
        const paths = await pathsChangedFrom(ctx, turns, at);
        const plan = current === target ? [] : (await changedPaths(ctx, current, target)).filter((c) => paths.has(c.path));
        const written = plan.filter((c) => c.after).map((c) => c.path);
        const deleted = plan.filter((c) => !c.after).map((c) => c.path);
        return { sessionID: sessionId, messageID: turns[at]!.id, paths: paths.size, written, deleted, snapshot: current, dryRun: true as const };
      }
      await retain(worktree, sessionId, [current]);
      const paths = await pathsChangedFrom(ctx, turns, at);
      const todo = await differing(ctx, current, target, paths);
      opts.onProgress?.(`restoring ${todo.length} path${todo.length === 1 ? '' : 's'}…`);
      const r = todo.length ? await restore(worktree, target, todo, { onProgress: opts.onFiles }) : { written: [], deleted: [] };
      const state: RevertState = { messageID: turns[at]!.id, snapshot: current, paths: paths.size, time: Date.now() };
      setRevert(db, sessionId, state);
      return { sessionID: sessionId, messageID: state.messageID, paths: paths.size, written: r.written, deleted: r.deleted, snapshot: current };
    }, { onWait: opts.onWait });
  });
}

async function undoRevert(ctx: GitContext, worktree: string, turns: Turn[], revert: RevertState, opts: UndoOptions): Promise<{ written: string[]; deleted: string[] }> {
  const at = turns.findIndex((t) => t.id === revert.messageID);
  const paths = await pathsChangedFrom(ctx, turns, at < 0 ? turns.length : at);
  opts.onProgress?.('snapshot of the current state…');
  const { tree: current } = await track(worktree);
  const todo = await differing(ctx, current, revert.snapshot, paths);
  opts.onProgress?.(`restoring ${todo.length} path${todo.length === 1 ? '' : 's'}…`);
  return todo.length ? restore(worktree, revert.snapshot, todo, { onProgress: opts.onFiles }) : { written: [], deleted: [] };
}

/** Puts back exactly the paths the last revert covered, as they were just before it. */
export async function unrevertSession(sessionId: string, opts: UndoOptions = {}): Promise<{ sessionID: string; written: string[]; deleted: string[] }> {
  return withDb(opts, async (db) => {
    const s = getSession(db, sessionId);
    assertNotBusy(s);
    if (!s.revert) throw new NotReverted(sessionId);
    const worktree = await sessionWorkspace(s);
    return withTurnLock(worktree, async () => {
      const fresh = getSession(db, sessionId);
      assertNotBusy(fresh);
      if (!fresh.revert) throw new NotReverted(sessionId);
      const ctx = await storeContext(worktree);
      const turns = listTurns(db, sessionId);
      await requireTrees(ctx, sessionId, worktree, [...turns.flatMap((t) => [t.start, t.end]), fresh.revert.snapshot]);
      const r = await undoRevert(ctx, worktree, turns, fresh.revert, opts);
      setRevert(db, sessionId, undefined);
      return { sessionID: sessionId, ...r };
    }, { onWait: opts.onWait });
  });
}

/** Deletes a session's rows (one transaction) and releases its snapshots for gc. */
export async function deleteSession(sessionId: string, opts: UndoOptions = {}): Promise<{ sessionID: string; released: boolean }> {
  return withDb(opts, async (db) => {
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
      if (!worktree) return false;
      try {
        return await release(worktree, sessionId);
      } catch (e) {
        if (e instanceof StoreMissing) return false;
        throw e;
      }
    };
    const released = worktree ? await withTurnLock(worktree, drop, { onWait: opts.onWait }) : await drop();
    return { sessionID: sessionId, released };
  });
}
