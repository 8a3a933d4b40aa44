/**
 * The team backend: the session interface over one PostgreSQL connection through libpq's
 * synchronous calls (the `libpq` package, node-postgres' binding of PostgreSQL's own client
 * library). Loaded only when a postgres:// URL is configured, so SQLite users never need it.
 */
import { createRequire } from 'node:module';
import { SnaplineError } from '../errors.js';
import { QueryFailed, WriteRefused } from './errors.js';
import { bindValues, numberPlaceholders, type Database, type Param, type Params, type RawResult, type Row, type Statement } from './sql.js';

/** The part of libpq's binding snapline uses. */
interface PQ {
  connectSync(conninfo: string): void;
  finish(): void;
  exec(text: string): void;
  execParams(text: string, params: (string | null)[]): void;
  resultStatus(): string;
  resultErrorMessage(): string;
  resultErrorFields(): { sqlState?: string; messagePrimary?: string; statementPosition?: string } | undefined;
  errorMessage(): string;
  ntuples(): number;
  nfields(): number;
  fname(i: number): string;
  ftype(i: number): number;
  getvalue(row: number, col: number): string;
  getisnull(row: number, col: number): boolean;
  cmdTuples(): string;
}

/** PostgreSQL support is not installed, or the server cannot be reached. */
export class PostgresUnavailable extends SnaplineError {
  constructor(location: string, detail: string) {
    super('postgres-unavailable', `cannot use the PostgreSQL session database ${location}: ${detail}`, 2);
  }
}

/** An error the PostgreSQL server reported for a statement; `code` is its SQLSTATE. */
export class PostgresError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'PostgresError';
  }
}

/** A URL with its password replaced by `***` (for messages and `db path`). */
export function redactUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@]*@/, '$1***@');
}

function loadLibpq(location: string): new () => PQ {
  try {
    return createRequire(import.meta.url)('libpq') as new () => PQ;
  } catch (e) {
    throw new PostgresUnavailable(location, `the optional package 'libpq' is not installed or not built (${(e as Error).message.split('\n')[0]}); install libpq-dev, then 'npm install libpq'`);
  }
}

/** Connects to the database at `url` (postgres://user:pass@host:port/db?host=/socket/dir). */
export function openPostgres(url: string, readonly: boolean): Database {
  const location = redactUrl(url);
  const Pq = loadLibpq(location);
  const pq = new Pq();
  try {
    pq.connectSync(url);
  } catch (e) {
    throw new PostgresUnavailable(location, (e as Error).message.trim());
  }
  const conn = new Connection(pq);
  conn.script("SET client_min_messages = warning; SET TIME ZONE 'UTC'");
  if (readonly) conn.script('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY');
  let depth = 0;
  const cache = new Map<string, { text: string; names: (string | undefined)[] }>();
  const compile = (sql: string) => {
    let c = cache.get(sql);
    if (!c) cache.set(sql, (c = numberPlaceholders(sql)));
    return c;
  };
  const prepare = (sql: string): Statement => {
    const { text, names } = compile(sql);
    const exec = (p: Params) => conn.run(text, bindValues(names, p));
    const first = (r: Row | undefined) => (r === undefined ? undefined : Object.values(r)[0]);
    return {
      get: (...p) => exec(p).rows[0],
      all: (...p) => exec(p).rows,
      run: (...p) => ({ changes: exec(p).changes }),
      iterate: (...p) => exec(p).rows[Symbol.iterator](),
      pluck: () => ({ get: (...p) => first(exec(p).rows[0]), all: (...p) => exec(p).rows.map(first) }),
      raw: () => ({ all: (...p) => conn.arrays(text, bindValues(names, p)) }),
    };
  };
  return {
    dialect: 'postgres',
    location,
    readonly,
    prepare,
    exec: (sql) => void conn.script(sql),
    transaction: <T>(fn: () => T): T => {
      const sp = `snapline_${depth}`;
      conn.run(depth === 0 ? 'BEGIN' : `SAVEPOINT ${sp}`);
      depth++;
      try {
        const v = fn();
        depth--;
        conn.run(depth === 0 ? 'COMMIT' : `RELEASE SAVEPOINT ${sp}`);
        return v;
      } catch (e) {
        depth--;
        conn.run(depth === 0 ? 'ROLLBACK' : `ROLLBACK TO SAVEPOINT ${sp}`);
        throw e;
      }
    },
    // The server's WAL position moves with every commit (of any database: at worst a needless look).
    changeCounter: () => String(conn.run('SELECT pg_current_wal_lsn()::text AS l').rows[0]!.l),
    query: (sql, write) => rawQuery(conn, sql, write),
    close: () => {
      pq.finish();
      keepUntilClosed(pq);
    },
  };
}

/**
 * libpq's binding closes its socket watcher asynchronously (libuv finishes the close on the next
 * loop turn) but lets the garbage collector free it at once: keep the object reachable until then.
 */
const closing = new Set<PQ>();
function keepUntilClosed(pq: PQ): void {
  closing.add(pq);
  setTimeout(() => closing.delete(pq), 100).unref();
}

/** Runs statements and reads their results into JS values. */
class Connection {
  constructor(readonly pq: PQ) {}

  /** One statement with parameters. */
  run(text: string, params: Param[] = []): { rows: Row[]; changes: number; columns: string[] } {
    this.pq.execParams(text, params.map(toText));
    return this.result(text);
  }

  /** One statement with parameters, its rows as arrays of values in column order. */
  arrays(text: string, params: Param[]): unknown[][] {
    this.pq.execParams(text, params.map(toText));
    this.check(text);
    const nf = this.pq.nfields();
    const parse = this.parsers(nf);
    const n = this.pq.ntuples();
    const rows: unknown[][] = new Array(n);
    for (let i = 0; i < n; i++) {
      const row: unknown[] = new Array(nf);
      for (let j = 0; j < nf; j++) {
        const v = this.pq.getvalue(i, j);
        row[j] = v === '' && this.pq.getisnull(i, j) ? null : parse[j]!(v);
      }
      rows[i] = row;
    }
    return rows;
  }

  /** Statements without parameters (several allowed, separated by semicolons). */
  script(text: string): void {
    this.pq.exec(text);
    this.result(text);
  }

  /** Throws the server's error if the last statement failed. */
  private check(text: string): void {
    const status = this.pq.resultStatus();
    if (status !== 'PGRES_TUPLES_OK' && status !== 'PGRES_COMMAND_OK') {
      // One line, as every snapline error: the server's primary message (its full text adds
      // "LINE 1: …" and a caret line), with the position in the statement when it gave one.
      const fields = this.pq.resultErrorFields();
      const full = (this.pq.resultErrorMessage() || this.pq.errorMessage()).trim().replace(/^ERROR:\s+/, '');
      const primary = fields?.messagePrimary ?? full.split('\n')[0];
      const message = primary && fields?.statementPosition ? `${primary} (at character ${fields.statementPosition})` : primary;
      throw new PostgresError(message || `${status} for ${text.slice(0, 200)}`, fields?.sqlState ?? '');
    }
  }

  /** How to read each of the last result's `nf` columns. */
  private parsers(nf: number): ((s: string) => unknown)[] {
    const parse: ((s: string) => unknown)[] = [];
    for (let j = 0; j < nf; j++) parse.push(parser(this.pq.ftype(j)));
    return parse;
  }

  private result(text: string): { rows: Row[]; changes: number; columns: string[] } {
    this.check(text);
    const nf = this.pq.nfields();
    const columns: string[] = [];
    for (let j = 0; j < nf; j++) columns.push(this.pq.fname(j));
    const parse = this.parsers(nf);
    const rows: Row[] = [];
    const n = this.pq.ntuples();
    for (let i = 0; i < n; i++) {
      const row: Row = {};
      for (let j = 0; j < nf; j++) {
        const v = this.pq.getvalue(i, j);
        // libpq gives NULL as '': ask only then (half the calls into the binding).
        row[columns[j]!] = v === '' && this.pq.getisnull(i, j) ? null : parse[j]!(v);
      }
      rows.push(row);
    }
    const changes = Number(this.pq.cmdTuples() || 0);
    return { rows, changes, columns };
  }
}

function toText(v: Param): string | null {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return '\\x' + v.toString('hex');
  // PostgreSQL's text holds no NUL character (libpq would cut the value there): U+FFFD instead.
  const s = String(v);
  return s.includes('\0') ? s.replaceAll('\0', '\uFFFD') : s;
}

const asNumber = (s: string) => Number(s);
const asBool = (s: string) => s === 't';
const asText = (s: string) => s;

/** Numbers as numbers (bigint columns hold milliseconds), booleans as booleans, the rest (JSON too) as text. */
function parser(oid: number): (s: string) => unknown {
  switch (oid) {
    case 20: // int8
    case 21: // int2
    case 23: // int4
    case 26: // oid
    case 700: // float4
    case 701: // float8
    case 1700: // numeric
      return asNumber;
    case 16:
      return asBool;
    default:
      return asText;
  }
}

const BATCH = 500;

/**
 * `snapline db`: the statement as written, in a transaction that is READ ONLY unless `write`
 * (so PostgreSQL itself refuses a write). A query's rows are fetched through a cursor, 500 at
 * a time, so a large result never sits in memory whole.
 */
function rawQuery(conn: Connection, sql: string, write: boolean): RawResult {
  const text = sql.trim().replace(/;\s*$/, '');
  const begin = write ? 'BEGIN' : 'BEGIN TRANSACTION READ ONLY';
  const fail = (e: unknown): never => {
    try {
      conn.run('ROLLBACK');
    } catch {
      // The connection is closed by the caller anyway.
    }
    if (e instanceof PostgresError) throw e.code === '25006' ? new WriteRefused() : new QueryFailed(e.message);
    throw e;
  };
  conn.run(begin);
  let cursor = true;
  try {
    conn.run(`DECLARE snapline_query NO SCROLL CURSOR FOR ${text}`);
  } catch {
    cursor = false; // Not a plain query (a write, DDL, RETURNING…): run it as written.
    conn.run('ROLLBACK');
    conn.run(begin);
  }
  if (!cursor) {
    try {
      const r = conn.run(text);
      conn.run('COMMIT');
      return r.columns.length ? { columns: r.columns, rows: r.rows } : { columns: [], rows: [], changes: r.changes };
    } catch (e) {
      return fail(e);
    }
  }
  let first;
  try {
    first = conn.run(`FETCH ${BATCH} FROM snapline_query`);
  } catch (e) {
    return fail(e);
  }
  function* rows(): Generator<Row> {
    let batch = first!.rows;
    try {
      while (batch.length) {
        yield* batch;
        if (batch.length < BATCH) break;
        batch = conn.run(`FETCH ${BATCH} FROM snapline_query`).rows;
      }
      conn.run('COMMIT');
    } catch (e) {
      fail(e);
    }
  }
  return { columns: first.columns, rows: rows() };
}
