/** Running a user's SQL against the session database (`snapline db`). */
import type { Database } from './db.js';
import type { RawResult } from './sql.js';

export type QueryResult = RawResult;

/**
 * Runs one SQL statement as written, in the backend's own dialect. Unless `write` is set, a
 * statement that would change the database is refused (WriteRefused): SQLite checks it before
 * it runs, PostgreSQL runs it in a READ ONLY transaction; the CLI also opens the database
 * read-only. Rows are streamed.
 */
export function runQuery(db: Database, sql: string, opts: { write?: boolean } = {}): QueryResult {
  return db.query(sql, opts.write ?? false);
}

/** A value as JSON can hold it: BLOBs become hex strings, bigints numbers or strings. */
export function jsonValue(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  return v;
}
