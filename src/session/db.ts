import Sqlite from 'better-sqlite3';
import { mkdirSync, openSync, readSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { databaseLocation } from '../config.js';
import { DatabaseTooNew, NotADatabase } from './errors.js';
import { openPostgres, PostgresError } from './postgres.js';
import type { Database } from './sql.js';
import { openSqlite } from './sqlite.js';
import { markInterruptedTurns } from './store.js';

export type { Database } from './sql.js';

/**
 * SQLite schema migrations, in order; `PRAGMA user_version` is the number applied. Tables follow
 * OpenCode's layout (so queries written for `opencode db` run unchanged); `busy_pid`,
 * `busy_host` and `busy_turn` are snapline's own: the process, or the open turn, running a turn
 * of the session; so are `agent` and `agent_session`: the agent program and its own session id;
 * and the table `summary_pending`: turns whose summary a background process is still computing.
 */
const SQLITE_MIGRATIONS: readonly (string | ((db: Database) => void))[] = [
  `CREATE TABLE project (
     id TEXT PRIMARY KEY,
     worktree TEXT NOT NULL,
     vcs TEXT,
     name TEXT,
     time_created INTEGER NOT NULL,
     time_updated INTEGER NOT NULL
   );
   CREATE TABLE session (
     id TEXT PRIMARY KEY,
     project_id TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
     parent_id TEXT,
     slug TEXT NOT NULL DEFAULT '',
     directory TEXT NOT NULL,
     title TEXT NOT NULL,
     version TEXT NOT NULL,
     share_url TEXT,
     summary_additions INTEGER NOT NULL DEFAULT 0,
     summary_deletions INTEGER NOT NULL DEFAULT 0,
     summary_files INTEGER NOT NULL DEFAULT 0,
     summary_diffs TEXT,
     revert TEXT,
     permission TEXT,
     time_created INTEGER NOT NULL,
     time_updated INTEGER NOT NULL,
     time_compacting INTEGER,
     time_archived INTEGER,
     busy_pid INTEGER,
     busy_host TEXT
   );
   CREATE INDEX session_project_idx ON session(project_id);
   CREATE INDEX session_directory_idx ON session(directory, time_updated);
   CREATE TABLE message (
     id TEXT PRIMARY KEY,
     session_id TEXT NOT NULL REFERENCES session(id) ON DELETE CASCADE,
     time_created INTEGER NOT NULL,
     time_updated INTEGER NOT NULL,
     data TEXT NOT NULL
   );
   CREATE INDEX message_session_idx ON message(session_id, id);
   CREATE TABLE part (
     id TEXT PRIMARY KEY,
     message_id TEXT NOT NULL REFERENCES message(id) ON DELETE CASCADE,
     session_id TEXT NOT NULL,
     time_created INTEGER NOT NULL,
     time_updated INTEGER NOT NULL,
     data TEXT NOT NULL
   );
   CREATE INDEX part_message_idx ON part(message_id, id);
   CREATE INDEX part_session_idx ON part(session_id);`,
  // The agent program whose own session this session records (`turn begin --agent NAME
  // --agent-session KEY`, hooks): one snapline session per agent session.
  `ALTER TABLE session ADD COLUMN agent TEXT;
   ALTER TABLE session ADD COLUMN agent_session TEXT;
   CREATE UNIQUE INDEX session_agent_idx ON session(agent, agent_session) WHERE agent_session IS NOT NULL;`,
  openCodeShapes,
  // The open turn (its assistant message) that holds the busy mark: a turn opened by `turn
  // begin` (hooks) spans several processes, so its mark is the turn's, not a process's.
  'ALTER TABLE session ADD COLUMN busy_turn TEXT;',
  // Turn summaries an agent's hook left to a background process (src/session/pending.ts).
  `CREATE TABLE summary_pending (
     message_id TEXT PRIMARY KEY REFERENCES message(id) ON DELETE CASCADE,
     session_id TEXT NOT NULL,
     assistant_id TEXT NOT NULL,
     from_tree TEXT NOT NULL,
     to_tree TEXT NOT NULL,
     totals_from TEXT NOT NULL,
     time_created INTEGER NOT NULL,
     claim_pid INTEGER,
     claim_host TEXT,
     claim_time INTEGER
   );
   CREATE INDEX summary_pending_session_idx ON summary_pending(session_id);`,
];

/**
 * Version 2: the fields OpenCode's tools require or read differently. Blob ids of a turn's
 * files move from `before`/`after` (which OpenCode's clients read as file text) to `blobs`;
 * user messages get `model`, assistant messages `providerID`, `modelID`, `cost` and `tokens`
 * (OpenCode rejects a session without them); the revert's path count `files` becomes `paths`
 * (OpenCode's `files` is a list). Rows are rewritten one at a time: each is under 64 KiB.
 */
function openCodeShapes(db: Database): void {
  const ids = db.prepare("SELECT id FROM message WHERE json_extract(data, '$.role') = 'user' AND json_type(data, '$.summary.diffs') = 'array'").pluck().all() as string[];
  const read = db.prepare('SELECT data FROM message WHERE id = ?').pluck();
  const write = db.prepare('UPDATE message SET data = ? WHERE id = ?');
  for (const id of ids) {
    const data = JSON.parse(read.get(id) as string) as { summary: { diffs: Record<string, unknown>[] } };
    data.summary.diffs = data.summary.diffs.map(({ before, after, ...d }) => {
      if (before === undefined && after === undefined) return d;
      const blobs: Record<string, unknown> = {};
      if (before !== undefined) blobs.before = before;
      if (after !== undefined) blobs.after = after;
      return { ...d, blobs };
    });
    write.run(JSON.stringify(data), id);
  }
  db.exec(`
    UPDATE message SET data = json_set(data, '$.model', json_object('providerID', 'snapline', 'modelID', COALESCE(json_extract(data, '$.agent'), 'unknown')))
      WHERE json_extract(data, '$.role') = 'user' AND json_type(data, '$.model') IS NULL;
    UPDATE message SET data = json_set(data,
        '$.providerID', 'snapline', '$.modelID', COALESCE(json_extract(data, '$.agent'), 'unknown'), '$.cost', 0,
        '$.tokens', json('{"input":0,"output":0,"reasoning":0,"cache":{"read":0,"write":0}}'))
      WHERE json_extract(data, '$.role') = 'assistant' AND json_type(data, '$.providerID') IS NULL;
    UPDATE session SET revert = json_remove(json_set(revert, '$.paths', json_extract(revert, '$.files')), '$.files')
      WHERE revert IS NOT NULL AND json_type(revert, '$.files') = 'integer';`);
}

/** Schema version this snapline writes. */
export const SCHEMA_VERSION = SQLITE_MIGRATIONS.length;

/**
 * PostgreSQL schema migrations: entry `v` brings version `v` to `v + 1`. The first creates
 * today's layout at once (no PostgreSQL database predates it); JSON columns are jsonb, times
 * bigint. Later changes are appended here and to SQLITE_MIGRATIONS alike.
 */
const POSTGRES_MIGRATIONS: readonly string[] = [
  `CREATE TABLE project (
     id TEXT PRIMARY KEY,
     worktree TEXT NOT NULL,
     vcs TEXT,
     name TEXT,
     time_created BIGINT NOT NULL,
     time_updated BIGINT NOT NULL
   );
   CREATE TABLE session (
     id TEXT PRIMARY KEY,
     project_id TEXT NOT NULL REFERENCES project(id) ON DELETE CASCADE,
     parent_id TEXT,
     slug TEXT NOT NULL DEFAULT '',
     directory TEXT NOT NULL,
     title TEXT NOT NULL,
     version TEXT NOT NULL,
     share_url TEXT,
     summary_additions BIGINT NOT NULL DEFAULT 0,
     summary_deletions BIGINT NOT NULL DEFAULT 0,
     summary_files BIGINT NOT NULL DEFAULT 0,
     summary_diffs JSONB,
     revert JSONB,
     permission JSONB,
     time_created BIGINT NOT NULL,
     time_updated BIGINT NOT NULL,
     time_compacting BIGINT,
     time_archived BIGINT,
     busy_pid INTEGER,
     busy_host TEXT,
     agent TEXT,
     agent_session TEXT
   );
   CREATE INDEX session_project_idx ON session(project_id);
   CREATE INDEX session_directory_idx ON session(directory, time_updated);
   CREATE INDEX session_updated_idx ON session(time_updated);
   CREATE UNIQUE INDEX session_agent_idx ON session(agent, agent_session) WHERE agent_session IS NOT NULL;
   CREATE TABLE message (
     id TEXT PRIMARY KEY,
     session_id TEXT NOT NULL REFERENCES session(id) ON DELETE CASCADE,
     time_created BIGINT NOT NULL,
     time_updated BIGINT NOT NULL,
     data JSONB NOT NULL
   );
   CREATE INDEX message_session_idx ON message(session_id, id);
   CREATE INDEX message_updated_idx ON message(time_updated);
   CREATE TABLE part (
     id TEXT PRIMARY KEY,
     message_id TEXT NOT NULL REFERENCES message(id) ON DELETE CASCADE,
     session_id TEXT NOT NULL,
     time_created BIGINT NOT NULL,
     time_updated BIGINT NOT NULL,
     data JSONB NOT NULL
   );
   CREATE INDEX part_message_idx ON part(message_id, id);
   CREATE INDEX part_session_idx ON part(session_id);
   CREATE INDEX part_updated_idx ON part(time_updated);`,
  '',
  '',
  'ALTER TABLE session ADD COLUMN busy_turn TEXT;',
  `CREATE TABLE summary_pending (
     message_id TEXT PRIMARY KEY REFERENCES message(id) ON DELETE CASCADE,
     session_id TEXT NOT NULL,
     assistant_id TEXT NOT NULL,
     from_tree TEXT NOT NULL,
     to_tree TEXT NOT NULL,
     totals_from TEXT NOT NULL,
     time_created BIGINT NOT NULL,
     claim_pid INTEGER,
     claim_host TEXT,
     claim_time BIGINT
   );
   CREATE INDEX summary_pending_session_idx ON summary_pending(session_id);`,
];

/** Arbitrary key of the advisory lock PostgreSQL openers migrate under ("snapline" in ASCII). */
const MIGRATION_LOCK = 0x736e61706c696e65n;

export interface OpenOptions {
  /** Open read-only (`db` without --write, export, the server's event watcher). */
  readonly?: boolean;
}

const SQLITE_MAGIC = 'SQLite format 3\0';

/**
 * Opens the session database and brings its schema up to date: `location` is an SQLite file
 * (default: `<dataDir>/snapline.db`) or a `postgres://` URL (default when SNAPLINE_DATABASE_URL
 * or config `database.url` is set). A file that is not SQLite, or a schema newer than this
 * snapline's, is refused with a clear error.
 */
export function openDatabase(location: string = databaseLocation(), opts: OpenOptions = {}): Database {
  if (/^postgres(ql)?:\/\//.test(location)) return openPostgresDatabase(location, opts.readonly ?? false);
  return openSqliteDatabase(location, opts);
}

function openPostgresDatabase(url: string, readonly: boolean): Database {
  const db = openPostgres(url, false);
  try {
    migratePostgres(db);
    if (!readonly) markInterruptedTurns(db);
  } catch (e) {
    db.close();
    throw e;
  }
  if (!readonly) return db;
  // Migrated above on a writable connection; from here on every transaction is read-only.
  db.close();
  return openPostgres(url, true);
}

/**
 * Brings a PostgreSQL schema to SCHEMA_VERSION. Any number of processes may open a fresh
 * database at once: each takes an advisory lock first, so one migrates and the others then
 * find the work done.
 */
function migratePostgres(db: Database): void {
  const current = () => (db.prepare("SELECT to_regclass('snapline_schema') IS NOT NULL AS t").get()!.t ? (db.prepare('SELECT version FROM snapline_schema').pluck().get() as number) : 0);
  const check = (v: number) => {
    if (v > SCHEMA_VERSION) throw new DatabaseTooNew(db.location, v, SCHEMA_VERSION);
    return v;
  };
  if (check(current()) === SCHEMA_VERSION) return;
  // A session-level lock taken before the transaction: the transaction then starts with a fresh
  // view of the catalog, which shows the tables another opener has just created.
  db.prepare('SELECT pg_advisory_lock(?)').get(MIGRATION_LOCK);
  try {
    db.transaction(() => {
      const from = check(current());
      if (from === 0) db.exec('CREATE TABLE snapline_schema (version INTEGER NOT NULL); INSERT INTO snapline_schema VALUES (0)');
      for (let v = from; v < SCHEMA_VERSION; v++) if (POSTGRES_MIGRATIONS[v]) db.exec(POSTGRES_MIGRATIONS[v]!);
      db.prepare('UPDATE snapline_schema SET version = ?').run(SCHEMA_VERSION);
    });
  } finally {
    db.prepare('SELECT pg_advisory_unlock(?)').get(MIGRATION_LOCK);
  }
}

function openSqliteDatabase(path: string, opts: OpenOptions): Database {
  checkHeader(path);
  if (opts.readonly) {
    // A read-only handle cannot migrate: make sure the file exists with the current schema first.
    openSqliteDatabase(path, {}).close();
  } else {
    mkdirSync(dirname(path), { recursive: true });
  }
  let db: Database;
  try {
    db = openSqlite(path, opts.readonly ?? false);
  } catch (e) {
    throw translate(e, path);
  }
  try {
    const version = db.prepare('PRAGMA user_version').pluck().get() as number;
    if (version > SCHEMA_VERSION) throw new DatabaseTooNew(path, version, SCHEMA_VERSION);
    if (version < SCHEMA_VERSION && !opts.readonly) migrateSqlite(db, version);
    // A turn whose process was killed is marked interrupted by the next process that can write.
    if (!opts.readonly) markInterruptedTurns(db);
  } catch (e) {
    db.close();
    throw translate(e, path);
  }
  return db;
}

function migrateSqlite(db: Database, from: number): void {
  // An IMMEDIATE transaction: two processes opening a fresh database at once must not both migrate.
  db.transaction(() => {
    const now = db.prepare('PRAGMA user_version').pluck().get() as number;
    for (let v = Math.max(from, now); v < SCHEMA_VERSION; v++) {
      const step = SQLITE_MIGRATIONS[v]!;
      if (typeof step === 'string') db.exec(step);
      else step(db);
    }
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  });
}

/** True for an error the database engine raised (a damaged row, a failed statement), not one of ours. */
export function isDatabaseError(e: unknown): boolean {
  return e instanceof Sqlite.SqliteError || e instanceof PostgresError;
}

/** Refuses a non-empty file that does not start with SQLite's header (before SQLite touches it). */
function checkHeader(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return; // missing: it will be created
  }
  try {
    const buf = Buffer.alloc(16);
    const n = readSync(fd, buf, 0, 16, 0);
    if (n > 0 && (n < 16 || buf.toString('latin1') !== SQLITE_MAGIC)) throw new NotADatabase(path);
  } finally {
    closeSync(fd);
  }
}

function translate(e: unknown, path: string): unknown {
  const code = (e as { code?: string }).code;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') return new NotADatabase(path);
  return e;
}
