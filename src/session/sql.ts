/**
 * The one small database interface the session layer uses, whatever the backend: SQLite
 * (better-sqlite3, embedded default) or PostgreSQL (libpq, for teams). Synchronous like
 * better-sqlite3, so session code has one path for both. Statements are written with `?` or
 * `@name` placeholders; the PostgreSQL side rewrites them to `$n`. The few SQL functions that
 * differ (JSON paths, pragmas) are spelled per dialect through the helpers below.
 */

export type Dialect = 'sqlite' | 'postgres';

/** A value bound to a placeholder. */
export type Param = string | number | bigint | boolean | null | undefined | Buffer;
/** Positional values, or one object of named values for `@name` placeholders. */
export type Params = Param[] | [Record<string, Param>];

export type Row = Record<string, unknown>;

export interface Statement {
  get(...params: Params): Row | undefined;
  all(...params: Params): Row[];
  run(...params: Params): { changes: number };
  iterate(...params: Params): IterableIterator<Row>;
  /** The same statement returning each row's first column only. */
  pluck(): PluckedStatement;
  /** The same statement returning rows as arrays of values in column order (no per-row objects: long listings). */
  raw(): RawStatement;
}

export interface RawStatement {
  all(...params: Params): unknown[][];
}

export interface PluckedStatement {
  get(...params: Params): unknown;
  all(...params: Params): unknown[];
}

/** A user's statement run as written (`snapline db`): column names, rows streamed, or a change count. */
export interface RawResult {
  columns: string[];
  rows: Iterable<Row>;
  changes?: number;
}

export interface Database {
  readonly dialect: Dialect;
  /** The file path, or the URL without its password. */
  readonly location: string;
  readonly readonly: boolean;
  prepare(sql: string): Statement;
  /** Runs statements (no parameters, no rows). */
  exec(sql: string): void;
  /**
   * Runs `fn` in a write transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: READ COMMITTED) and
   * returns its value; a nested call is a savepoint. Rolled back if `fn` throws.
   */
  transaction<T>(fn: () => T): T;
  /** A number that changes when any connection commits (server events poll it). */
  changeCounter(): number | string;
  /** One statement of the user's, sent to the backend as written; `write` false: in a read-only transaction. */
  query(sql: string, write: boolean): RawResult;
  close(): void;
}

/** The SQL for a JSON value at a `$.a.b` path of a column, as text (null when absent). */
export function jsonText(db: Database, column: string, path: string): string {
  if (db.dialect === 'sqlite') return `json_extract(${column}, '${path}')`;
  return `(${column} #>> '{${jsonPathKeys(path).join(',')}}')`;
}

/** The SQL for `column` with `$.path` keys set to values (pairs of path and SQL expression). */
export function jsonSet(db: Database, column: string, pairs: [path: string, value: string][]): string {
  if (db.dialect === 'sqlite') return `json_set(${column}, ${pairs.map(([p, v]) => `'${p}', ${v}`).join(', ')})`;
  return pairs.reduce((expr, [p, v]) => `jsonb_set(${expr}, '{${jsonPathKeys(p).join(',')}}', ${v}, true)`, column);
}

/**
 * JSON text as the backend can store it. PostgreSQL's jsonb holds no NUL character and no lone
 * surrogate (how a file name that is not UTF-8 is carried, see git/path-bytes.ts), rejecting the
 * `\u0000` and lone `\udXXX` escapes; there they become U+FFFD (`\ufffd`). Other escapes, an
 * escaped backslash followed by "u0000", and surrogate pairs stay. SQLite keeps the JSON as it is.
 */
export function storableJson(db: Database, json: string): string {
  if (db.dialect === 'sqlite' || !/\\u(0000|[dD][89a-fA-F])/.test(json)) return json;
  let out = '';
  let from = 0;
  const hex = (at: number) => (json[at + 1] === 'u' ? parseInt(json.slice(at + 2, at + 6), 16) : -1);
  for (let i = json.indexOf('\\'); i >= 0; i = json.indexOf('\\', i)) {
    const c = hex(i);
    const high = c >= 0xd800 && c <= 0xdbff;
    const pairedHigh = high && json[i + 6] === '\\' && hex(i + 6) >= 0xdc00 && hex(i + 6) <= 0xdfff;
    if (pairedHigh) {
      i += 12; // a surrogate pair: one character, fine
    } else if (c === 0 || (c >= 0xd800 && c <= 0xdfff)) {
      out += json.slice(from, i) + '\\ufffd';
      i += 6;
      from = i;
    } else {
      i += json[i + 1] === 'u' ? 6 : 2; // any other escape, \\ included
    }
  }
  return out + json.slice(from);
}

/** The SQL turning a parameter holding JSON text into a JSON value. */
export function jsonParam(db: Database): string {
  return db.dialect === 'sqlite' ? 'json(?)' : '?::jsonb';
}

/** The SQL turning a parameter holding a string or number into a JSON value (for jsonSet). */
export function jsonScalarParam(db: Database, type: 'text' | 'number'): string {
  return db.dialect === 'sqlite' ? '?' : `to_jsonb(?::${type === 'text' ? 'text' : 'bigint'})`;
}

function jsonPathKeys(path: string): string[] {
  if (!/^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(path)) throw new Error(`unsupported JSON path ${path}`);
  return path.slice(2).split('.');
}

/**
 * `?` and `@name` placeholders rewritten to PostgreSQL's `$n` (string literals, quoted
 * identifiers and comments left alone); `names[i]` is the name bound to `$i+1`, or undefined
 * for a positional one.
 */
export function numberPlaceholders(sql: string): { text: string; names: (string | undefined)[] } {
  const names: (string | undefined)[] = [];
  let out = '';
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end < 0 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end < 0 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '?') {
      names.push(undefined);
      out += `$${names.length}`;
    } else if (c === '@' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i + 1))![0];
      let n = names.indexOf(name);
      if (n < 0) n = names.push(name) - 1;
      out += `$${n + 1}`;
      i += name.length;
    } else {
      out += c;
    }
  }
  return { text: out, names };
}

/** The values for numbered placeholders, in order. */
export function bindValues(names: readonly (string | undefined)[], params: Params): Param[] {
  const first = params[0];
  if (names.some((n) => n !== undefined) || (params.length === 1 && typeof first === 'object' && first !== null && !Buffer.isBuffer(first))) {
    const obj = (first ?? {}) as Record<string, Param>;
    return names.map((n) => (n === undefined ? undefined : obj[n]));
  }
  return params as Param[];
}
