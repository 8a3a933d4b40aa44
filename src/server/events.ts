/**
 * Events for `GET /event`: turns recorded by any process reach the database, so a second
 * connection watches it — `PRAGMA data_version` (free) says when another writer committed, and
 * only then are the rows updated since the last look read, a bounded batch at a time.
 */
import { openDatabase, openCodeMessage, openCodePart, openCodeSession, getSession, parseMessageData, parsePartData, type Database } from '../session/index.js';

export interface ServerEvent {
  type: string;
  properties: Record<string, unknown>;
}

type Listener = (e: ServerEvent) => void;

/** Rows read per table per look; the rest come at the next look. */
const BATCH = 200;

export interface EventBus {
  subscribe(fn: Listener): () => void;
  publish(e: ServerEvent): void;
  close(): void;
}

export function eventBus(dbPath: string | undefined, intervalMs = 500): EventBus {
  const listeners = new Set<Listener>();
  let watcher: { db: Database; timer: NodeJS.Timeout } | undefined;
  const publish = (e: ServerEvent) => {
    for (const l of listeners) l(e);
  };
  const start = () => {
    const db = openDatabase(dbPath, { readonly: true });
    let version = db.changeCounter();
    let since = Date.now();
    const seen = new Map<string, number>();
    const look = () => {
      const v = db.changeCounter();
      if (v === version) return;
      version = v;
      let newest = since;
      const fresh = (key: string, t: number) => {
        newest = Math.max(newest, t);
        if (seen.get(key) === t) return false;
        seen.set(key, t);
        return true;
      };
      let full = false;
      const rows = (table: string) => {
        const r = db.prepare(`SELECT * FROM ${table} WHERE time_updated >= ? ORDER BY time_updated, id LIMIT ${BATCH}`).all(since) as Record<string, unknown>[];
        if (r.length === BATCH) full = true;
        return r;
      };
      for (const r of rows('session')) {
        if (!fresh(`s:${r.id}`, r.time_updated as number)) continue;
        try {
          publish({ type: 'session.updated', properties: { sessionID: r.id, info: openCodeSession(getSession(db, r.id as string)) } });
        } catch {
          // Deleted meanwhile.
        }
      }
      for (const r of rows('message')) {
        if (!fresh(`m:${r.id}`, r.time_updated as number)) continue;
        const data = parseMessageData(r.id as string, r.data);
        publish({ type: 'message.updated', properties: { sessionID: r.session_id, info: openCodeMessage({ id: r.id as string, sessionID: r.session_id as string, time: { created: r.time_created as number, updated: r.time_updated as number }, data }) } });
      }
      for (const r of rows('part')) {
        if (!fresh(`p:${r.id}`, r.time_updated as number)) continue;
        const data = parsePartData(r.id as string, r.data);
        const part = openCodePart({ id: r.id as string, messageID: r.message_id as string, sessionID: r.session_id as string, time: { created: r.time_created as number, updated: r.time_updated as number }, data });
        publish({ type: 'message.part.updated', properties: { sessionID: r.session_id, part, time: r.time_updated } });
      }
      // Rows updated in the same millisecond as the newest seen may still be committing: look
      // at that millisecond again next time (the `seen` map skips what was already sent).
      since = newest;
      for (const [k, t] of seen) if (t < since) seen.delete(k);
      if (full) version = -1; // a full batch: look again at the next tick
    };
    const timer = setInterval(() => {
      try {
        look();
      } catch (e) {
        publish({ type: 'server.error', properties: { message: (e as Error).message } });
      }
    }, intervalMs);
    timer.unref();
    watcher = { db, timer };
  };
  return {
    subscribe(fn) {
      listeners.add(fn);
      if (!watcher) start();
      return () => {
        listeners.delete(fn);
        if (listeners.size === 0 && watcher) {
          clearInterval(watcher.timer);
          watcher.db.close();
          watcher = undefined;
        }
      };
    },
    publish,
    close() {
      listeners.clear();
      if (watcher) {
        clearInterval(watcher.timer);
        watcher.db.close();
        watcher = undefined;
      }
    },
  };
}
