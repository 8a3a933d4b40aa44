/**
 * What a review client asks for: pages of messages, a turn's (or the session's) files with their
 * patches produced on demand — each cut at a size limit and continued page by page — never a
 * whole body or a whole large patch in memory.
 */
import { numstatStream } from '../diff/numstat.js';
import { parseCursor, PatchProducer } from '../diff/patch.js';
import { UsageError } from '../errors.js';
import type { GitContext } from '../git/run.js';
import { changedPaths } from '../git/tree-diff.js';
import type { Database } from './db.js';
import { parseMessageData, parsePartData, type BlobRef, type FileDiff } from './model.js';
import { producerSource, readPage, type PageSource, type PatchCache, type PatchPage } from './patch-cache.js';
import { patchProcess } from './patch-process.js';
import { openCodeMessage, openCodePart, type OpenCodeMessageWithParts, type OpenCodePart } from './opencode.js';
import { hasPendingWork, settleSummaries } from './pending.js';
import { diffRange, summaryOf } from './show.js';
import { getMessage, getSession, type MessageInfo, type PartInfo } from './store.js';
import { toFileDiff } from './summary.js';
import { sessionSnapshots } from './workspace.js';

/** A page of a session's messages, newest last, and the cursor for the older ones. */
export interface MessagePage {
  messages: OpenCodeMessageWithParts[];
  /** Pass as `before` to get the messages older than this page; absent on the first message. */
  next?: string;
}

/**
 * The `limit` most recent messages of a session older than message `before` (all when no
 * limit), oldest first, with their parts — OpenCode's paging of `GET /session/:id/message`.
 */
export function messagePage(db: Database, sessionId: string, opts: { limit?: number; before?: string } = {}): MessagePage {
  getSession(db, sessionId);
  if (opts.before !== undefined) getMessage(db, sessionId, opts.before);
  // Two queries for the whole page (messages, then their parts), not two per message.
  const rows = db
    .prepare(`SELECT id, session_id, time_created, time_updated, data FROM message WHERE session_id = @sid ${opts.before !== undefined ? 'AND id < @before' : ''} ORDER BY id DESC LIMIT @limit`)
    .all({ sid: sessionId, before: opts.before, limit: opts.limit === undefined ? Number.MAX_SAFE_INTEGER : opts.limit + 1 }) as unknown as MessageRow[];
  const more = opts.limit !== undefined && rows.length > opts.limit;
  const page = (more ? rows.slice(0, opts.limit) : rows).reverse();
  const out: MessagePage = { messages: [] };
  if (page.length === 0) return out;
  const parts = db
    // SQLite: the (message_id, id) index gives the page's parts in order, with no sort and no scan
    // of a long session's other parts (the session index would read them all, then sort).
    .prepare(`SELECT id, message_id, session_id, time_created, time_updated, data FROM part ${db.dialect === 'sqlite' ? 'INDEXED BY part_message_idx ' : ''}WHERE message_id >= ? AND message_id <= ? AND session_id = ? ORDER BY message_id, id`)
    .all(page[0]!.id, page[page.length - 1]!.id, sessionId) as unknown as PartRow[];
  const byMessage = new Map<string, OpenCodePart[]>();
  for (const p of parts) {
    const info: PartInfo = { id: p.id, messageID: p.message_id, sessionID: p.session_id, time: { created: p.time_created, updated: p.time_updated }, data: parsePartData(p.id, p.data) };
    const list = byMessage.get(p.message_id) ?? [];
    list.push(openCodePart(info));
    byMessage.set(p.message_id, list);
  }
  for (const m of page) {
    const info: MessageInfo = { id: m.id, sessionID: m.session_id, time: { created: m.time_created, updated: m.time_updated }, data: parseMessageData(m.id, m.data) };
    out.messages.push({ info: openCodeMessage(info), parts: byMessage.get(m.id) ?? [] });
  }
  if (more) out.next = page[0]!.id;
  return out;
}

interface MessageRow {
  id: string;
  session_id: string;
  time_created: number;
  time_updated: number;
  data: string;
}

interface PartRow extends MessageRow {
  message_id: string;
}

/** One file of a diff as OpenCode's clients read it, plus snapline's own fields. */
export interface ReviewFileDiff {
  file: string;
  status: FileDiff['status'];
  additions: number;
  deletions: number;
  /** The unified diff of this file (its first `patchBytes` when `truncated`). */
  patch: string;
  /** The patch is longer than the limit: `next` continues it through the paged patch route. */
  truncated?: true;
  next?: string;
  binary?: true;
  approximate?: true;
  blobs?: { before?: BlobRef; after?: BlobRef };
}

export interface DiffOptions {
  /** A turn (its user message, or an assistant message of it); the whole session when absent. */
  messageID?: string;
  /** Patch bytes returned inline per file (default 64 KiB); longer ones are `truncated`. */
  patchBytes?: number;
  /** Produce no patches at all (statistics only). */
  noPatch?: boolean;
}

export const INLINE_PATCH_BYTES = 64 * 1024;

/**
 * Pairs larger than this (both sides together) are compared in a patch process of their own
 * when a cache keeps their pages (the server): their comparison's memory goes back to the
 * system when the process exits. Smaller ones cost little and are produced here, with no
 * process to start before their first page.
 */
export const IN_PROCESS_PAIR_BYTES = 1 << 20;

/**
 * One page of one file's patch, from a source kept in `cache` at that cursor (no comparison
 * again) or a new one; without a cache, a producer here for this page alone. `context` finds
 * the snapshot store (git runs to check it): asked only when a source is opened, so a page
 * that goes on from a kept one starts no process.
 */
async function filePage(range: { directory: string; from: string; to: string }, context: () => Promise<GitContext>, file: string, cursor: string | undefined, maxBytes: number, cache?: PatchCache): Promise<PatchPage> {
  const producer = (ctx: GitContext) => new PatchProducer(ctx, range.from, range.to, { paths: [file], cursor: cursor === undefined ? undefined : parseCursor(cursor) });
  if (!cache) {
    const p = producer(await context());
    return readPage(p, maxBytes).finally(() => p.close());
  }
  const open = async (): Promise<PageSource> => {
    const ctx = await context();
    const pair = await changedPaths(ctx, range.from, range.to, [file]);
    const bytes = pair.reduce((n, c) => n + (c.before?.size ?? 0) + (c.after?.size ?? 0), 0);
    return bytes > IN_PROCESS_PAIR_BYTES ? patchProcess({ ctx, from: range.from, to: range.to, file, cursor }) : producerSource(producer(ctx));
  };
  // The trees are content ids: with the workspace, they name the patch.
  const key = [range.directory, range.from, range.to, file].join('\0');
  return cache.page(key, cursor, open, maxBytes);
}

/**
 * The files a turn (or the whole session) changed, with their counts — from the stored summary
 * when it lists every file, else from the snapshots — and each file's patch up to `patchBytes`.
 */
export async function reviewDiff(db: Database, sessionId: string, opts: DiffOptions = {}, cache?: PatchCache): Promise<ReviewFileDiff[]> {
  if (hasPendingWork(db, sessionId)) await settleSummaries(db, { sessionId });
  const range = diffRange(db, sessionId, opts.messageID);
  const { ctx } = await sessionSnapshots(getSession(db, sessionId), [range.from, range.to]);
  let files: FileDiff[] | undefined;
  if (range.turns.length === 1) {
    const stored = summaryOf(getMessage(db, sessionId, range.turns[0]!.id));
    if (stored && !stored.truncated) files = stored.diffs;
  }
  if (!files) {
    files = [];
    for await (const s of numstatStream(ctx, range.from, range.to)) files.push(toFileDiff(s));
  }
  const limit = opts.patchBytes ?? INLINE_PATCH_BYTES;
  const out: ReviewFileDiff[] = [];
  for (const f of files) {
    const d: ReviewFileDiff = { file: f.file, status: f.status, additions: f.additions, deletions: f.deletions, patch: '' };
    if (f.binary) d.binary = true;
    if (f.approximate) d.approximate = true;
    if (f.blobs) d.blobs = f.blobs;
    if (!opts.noPatch) {
      const page = await filePage(range, () => Promise.resolve(ctx), f.file, undefined, limit, cache);
      d.patch = page.bytes.toString('utf8');
      if (page.next !== undefined) {
        d.truncated = true;
        d.next = page.next;
      }
    }
    out.push(d);
  }
  return out;
}

/**
 * One page of one file's patch (of a turn, or of the session), starting at `cursor`, and the
 * cursor of the next page. With a cache, a page goes on from where the producer of the last
 * one stopped.
 */
export async function patchPage(db: Database, sessionId: string, opts: { messageID?: string; file: string; cursor?: string; maxBytes: number }, cache?: PatchCache): Promise<PatchPage> {
  if (!(opts.maxBytes >= 1)) throw new UsageError('maxBytes must be at least 1');
  const range = diffRange(db, sessionId, opts.messageID);
  // A malformed cursor is refused here, before any process starts.
  if (opts.cursor !== undefined) parseCursor(opts.cursor);
  const context = async () => (await sessionSnapshots(getSession(db, sessionId), [range.from, range.to])).ctx;
  return await filePage(range, context, opts.file, opts.cursor, opts.maxBytes, cache);
}
