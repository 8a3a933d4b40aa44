/** Running a user's SQL against the session database (`snapline db`). */
import type { Database } from './db.js';
import { QueryFailed, WriteRefused } from './errors.js';

export interface QueryResult {
  /** Column names (empty for statements that return no rows). */
  columns: string[];
  /** Rows, read one at a time from SQLite. */
  rows: Iterable<Record<string, unknown>>;
  /** Rows changed, for a write statement. */
  changes?: number;
}

/**
 * Prepares one SQL statement and runs it. Unless `write` is set, a statement that would change
 * the database is refused (WriteRefused) before it runs; the CLI also opens the file read-only.
 */
export function runQuery(db: Database, sql: string, opts: { write?: boolean } = {}): QueryResult {
  let stmt;
  try {
    stmt = db.prepare(sql);
  } catch (e) {
    throw new QueryFailed((e as Error).message);
  }
  if (!stmt.readonly && !opts.write) throw new WriteRefused();
  try {
    if (!stmt.reader) return { columns: [], rows: [], changes: stmt.run().changes };
    const columns = stmt.columns().map((c) => c.name);
    const it = stmt.iterate() as IterableIterator<Record<string, unknown>>;
    return { columns, rows: guard(it) };
  } catch (e) {
    throw translateQueryError(e);
  }
}

function* guard(it: IterableIterator<Record<string, unknown>>): Generator<Record<string, unknown>> {
  try {
    yield* it;
  } catch (e) {
    throw translateQueryError(e);
  }
}

function translateQueryError(e: unknown): unknown {
  const code = (e as { code?: string }).code;
  if (code === 'SQLITE_READONLY') return new WriteRefused();
  if (typeof code === 'string' && code.startsWith('SQLITE_')) return new QueryFailed((e as Error).message);
  return e;
}

/** A value as JSON can hold it: BLOBs become hex strings, bigints numbers or strings. */
export function jsonValue(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  return v;
}
