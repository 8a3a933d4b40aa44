/** The embedded backend: the session interface over a better-sqlite3 handle. */
import Sqlite from 'better-sqlite3';
import type { Database, Params, RawResult, Row, Statement } from './sql.js';
import { QueryFailed, WriteRefused } from './errors.js';

/**
 * Opens an SQLite file with snapline's pragmas (WAL, busy timeout, foreign keys, and
 * `synchronous = NORMAL`: a commit is not fsynced, the WAL is at checkpoints). A killed process
 * loses nothing it committed; a power cut or OS crash can lose the last commits, never the
 * file — as the snapshot store's git objects, which git does not fsync either. With the
 * default (FULL) every commit of a hook synced the disk, and right after an agent wrote 224 MiB
 * a sync waited up to 0.1 s for those files' pages (ext4's journal commit).
 */
export function openSqlite(path: string, readonly: boolean): Database {
  const h = new Sqlite(path, { readonly });
  try {
    h.pragma('busy_timeout = 10000');
    if (!readonly) {
      h.pragma('journal_mode = WAL');
      h.pragma('synchronous = NORMAL');
    }
    h.pragma('foreign_keys = ON');
  } catch (e) {
    h.close();
    throw e;
  }
  return wrap(h, path, readonly);
}

/** Handles whose closing is left to the process's exit (see leaveOpenUntilExit). */
let leftOpen: Sqlite.Database[] | undefined;

/**
 * For a short-lived process on an agent's path (a hook): from now on closing a writable
 * connection keeps it open, and the caller ends the process with `process.exit`, which does not
 * run better-sqlite3's cleanup either. The last connection to close checkpoints the WAL into the
 * database file and deletes it, and the next writer starts a new WAL: each syncs the disk, and
 * right after an agent wrote its files each sync waited 0.1 s and more for their pages. Left
 * open, the WAL stays as a killed process leaves it (every commit in it), the next process
 * reads it, and the next one that closes normally — the background summarizer after an end,
 * any other command — checkpoints it. SQLite checkpoints on its own whenever the WAL reaches
 * 1000 pages.
 */
export function leaveOpenUntilExit(): void {
  leftOpen ??= [];
}

/**
 * For a process that records event after event (the agents' standby, src/agents/standby.ts):
 * closes the connections left open but the newest `keep`, which keep the WAL as a hook's process
 * leaves it.
 */
export function releaseLeftOpen(keep: number): void {
  if (!leftOpen) return;
  for (const h of leftOpen.splice(0, Math.max(0, leftOpen.length - keep))) h.close();
}

function wrap(h: Sqlite.Database, path: string, readonly: boolean): Database {
  const prepare = (sql: string): Statement => {
    const s = h.prepare(sql);
    const args = (p: Params) => p as unknown[];
    return {
      get: (...p) => s.get(...args(p)) as Row | undefined,
      all: (...p) => s.all(...args(p)) as Row[],
      run: (...p) => ({ changes: s.run(...args(p)).changes }),
      iterate: (...p) => s.iterate(...args(p)) as IterableIterator<Row>,
      pluck: () => {
        const q = h.prepare(sql).pluck();
        return { get: (...p) => q.get(...args(p)), all: (...p) => q.all(...args(p)) };
      },
      raw: () => {
        const q = h.prepare(sql).raw();
        return { all: (...p) => q.all(...args(p)) as unknown[][] };
      },
    };
  };
  return {
    dialect: 'sqlite',
    location: path,
    readonly,
    prepare,
    exec: (sql) => void h.exec(sql),
    transaction: <T>(fn: () => T): T => {
      const tx = h.transaction(fn);
      // IMMEDIATE: take the write lock at BEGIN, so two writers never deadlock on an upgrade.
      return readonly || h.inTransaction ? tx() : tx.immediate();
    },
    changeCounter: () => h.pragma('data_version', { simple: true }) as number,
    query: (sql, write) => runSqlite(h, sql, write),
    close: () => {
      if (leftOpen && !readonly) leftOpen.push(h);
      else h.close();
    },
  };
}

function runSqlite(h: Sqlite.Database, sql: string, write: boolean): RawResult {
  let stmt;
  try {
    stmt = h.prepare(sql);
  } catch (e) {
    throw new QueryFailed((e as Error).message);
  }
  // Refused before it runs; the handle is also read-only unless --write.
  if (!stmt.readonly && !write) throw new WriteRefused();
  try {
    if (!stmt.reader) return { columns: [], rows: [], changes: stmt.run().changes };
    return { columns: stmt.columns().map((c) => c.name), rows: guard(stmt.iterate() as IterableIterator<Row>) };
  } catch (e) {
    throw translate(e);
  }
}

function* guard(it: IterableIterator<Row>): Generator<Row> {
  try {
    yield* it;
  } catch (e) {
    throw translate(e);
  }
}

function translate(e: unknown): unknown {
  const code = (e as { code?: string }).code;
  if (code === 'SQLITE_READONLY') return new WriteRefused();
  if (typeof code === 'string' && code.startsWith('SQLITE_')) return new QueryFailed((e as Error).message);
  return e;
}
