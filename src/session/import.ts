/**
 * Importing sessions from an OpenCode database: rows copied in OpenCode's layout, summaries
 * reduced to statistics (the file bodies OpenCode stored in them are dropped inside SQLite and
 * never reach JavaScript), counts recomputed from OpenCode's snapshot store where its trees are.
 */
import Sqlite from 'better-sqlite3';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SnaplineError } from '../errors.js';
import { runGit, type GitContext } from '../git/run.js';
import { isObjectId } from '../git/object-id.js';
import type { Database } from './db.js';
import type { TurnSummary } from './model.js';
import { jsonParam, jsonSet, storableJson } from './sql.js';
import { ensureProject, listTurns, updateSessionSummary } from './store.js';
import { summarize } from './summary.js';

/** The OpenCode database cannot be opened or is not one. */
export class OpenCodeDatabaseUnreadable extends SnaplineError {
  constructor(path: string, detail: string) {
    super('opencode-database-unreadable', `cannot read OpenCode's database ${path}: ${detail} (give its path with --db)`, 2);
  }
}

/** A session id asked for is not in the OpenCode database. */
export class UnknownOpenCodeSession extends SnaplineError {
  constructor(id: string, path: string) {
    super('unknown-opencode-session', `OpenCode's database ${path} has no session '${id}' (see 'opencode session list')`, 2);
  }
}

/** Parts larger than this keep their type and ids only (an image's data URL, a huge tool output). */
export const MAX_IMPORTED_PART_BYTES = 256 * 1024;

export interface ImportedSession {
  id: string;
  title: string;
  messages: number;
  parts: number;
  /** Turns whose counts were recomputed from OpenCode's snapshot trees (the rest keep OpenCode's counts). */
  recounted: number;
  turns: number;
  /** Parts cut down to their type because they were larger than MAX_IMPORTED_PART_BYTES. */
  reducedParts: number;
}

export interface ImportResult {
  imported: ImportedSession[];
  /** Sessions already in snapline's database (left as they are). */
  existing: string[];
}

/** OpenCode's database by default: `$XDG_DATA_HOME/opencode/opencode.db`. */
export function defaultOpenCodeDatabase(env: NodeJS.ProcessEnv = process.env): string {
  const data = env.XDG_DATA_HOME || join(env.HOME ?? '', '.local', 'share');
  return join(data, 'opencode', 'opencode.db');
}

interface SourceSession {
  id: string;
  project_id: string;
  parent_id: string | null;
  slug: string;
  directory: string;
  title: string;
  version: string;
  summary_additions: number | null;
  summary_deletions: number | null;
  summary_files: number | null;
  time_created: number;
  time_updated: number;
}

function openSource(path: string): Sqlite.Database {
  if (!existsSync(path)) throw new OpenCodeDatabaseUnreadable(path, 'no such file');
  try {
    const src = new Sqlite(path, { readonly: true, fileMustExist: true });
    src.pragma('busy_timeout = 10000');
    const tables = new Set(src.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
    for (const t of ['project', 'session', 'message', 'part']) if (!tables.has(t)) throw new OpenCodeDatabaseUnreadable(path, `no ${t} table`);
    return src;
  } catch (e) {
    if (e instanceof OpenCodeDatabaseUnreadable) throw e;
    throw new OpenCodeDatabaseUnreadable(path, (e as Error).message);
  }
}

/**
 * Copies the sessions `ids` (default: all) of the OpenCode database at `source` into `db`.
 * Sessions snapline already holds are left alone and listed in `existing`.
 */
export async function importOpenCode(db: Database, source: string, ids: readonly string[] = [], onSession?: (s: ImportedSession) => void): Promise<ImportResult> {
  const src = openSource(source);
  try {
    const all = src.prepare('SELECT id, project_id, parent_id, slug, directory, title, version, summary_additions, summary_deletions, summary_files, time_created, time_updated FROM session ORDER BY id').all() as SourceSession[];
    const byId = new Map(all.map((s) => [s.id, s]));
    for (const id of ids) if (!byId.has(id)) throw new UnknownOpenCodeSession(id, source);
    const wanted = ids.length ? ids.map((id) => byId.get(id)!) : all;
    const result: ImportResult = { imported: [], existing: [] };
    for (const s of wanted) {
      if (db.prepare('SELECT 1 FROM session WHERE id = ?').get(s.id)) {
        result.existing.push(s.id);
        continue;
      }
      const imported = copySession(src, db, s);
      await recount(db, s, imported, snapshotStores(dirname(source), s.project_id));
      result.imported.push(imported);
      onSession?.(imported);
    }
    return result;
  } finally {
    src.close();
  }
}

function copySession(src: Sqlite.Database, db: Database, s: SourceSession): ImportedSession {
  const project = src.prepare('SELECT worktree, vcs FROM project WHERE id = ?').get(s.project_id) as { worktree: string; vcs: string | null } | undefined;
  // Summaries: OpenCode's `summary.diffs` entries (which held whole file bodies) become
  // {file, status, additions, deletions} plus snapline's `total`, built by SQLite's JSON functions.
  const messages = src.prepare(
    `SELECT id, time_created, time_updated,
       CASE WHEN json_type(data, '$.summary.diffs') = 'array' THEN json_set(json_remove(data, '$.summary.diffs'), '$.summary.diffs', (
         SELECT json_group_array(json_object('file', COALESCE(json_extract(d.value, '$.file'), json_extract(d.value, '$.path')),
           'status', COALESCE(json_extract(d.value, '$.status'), 'modified'),
           'additions', COALESCE(json_extract(d.value, '$.additions'), 0), 'deletions', COALESCE(json_extract(d.value, '$.deletions'), 0)))
         FROM json_each(data, '$.summary.diffs') AS d),
         '$.summary.total', (SELECT json_object('files', COUNT(*), 'additions', COALESCE(SUM(json_extract(d.value, '$.additions')), 0), 'deletions', COALESCE(SUM(json_extract(d.value, '$.deletions')), 0))
         FROM json_each(data, '$.summary.diffs') AS d))
       ELSE data END AS data
     FROM message WHERE session_id = ? ORDER BY id`,
  );
  const parts = src.prepare(
    `SELECT id, message_id, time_created, time_updated, length(data) AS bytes,
       CASE WHEN length(data) > ? THEN json_object('type', json_extract(data, '$.type'), 'truncated', json('true'), 'bytes', length(data)) ELSE data END AS data
     FROM part WHERE session_id = ? ORDER BY id`,
  );
  const out: ImportedSession = { id: s.id, title: s.title, messages: 0, parts: 0, recounted: 0, turns: 0, reducedParts: 0 };
  db.transaction(() => {
    ensureProject(db, s.project_id, project?.worktree ?? s.directory, project?.vcs ?? null);
    db.prepare(
      `INSERT INTO session (id, project_id, parent_id, slug, directory, title, version, summary_additions, summary_deletions, summary_files, time_created, time_updated)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(s.id, s.project_id, s.parent_id, s.slug, s.directory, s.title, s.version, s.summary_additions ?? 0, s.summary_deletions ?? 0, s.summary_files ?? 0, s.time_created, s.time_updated);
    const putMessage = db.prepare('INSERT INTO message (id, session_id, time_created, time_updated, data) VALUES (?, ?, ?, ?, ?)');
    for (const m of messages.iterate(s.id) as Iterable<{ id: string; time_created: number; time_updated: number; data: string }>) {
      putMessage.run(m.id, s.id, m.time_created, m.time_updated, storableJson(db, m.data));
      out.messages++;
    }
    const putPart = db.prepare('INSERT INTO part (id, message_id, session_id, time_created, time_updated, data) VALUES (?, ?, ?, ?, ?, ?)');
    for (const p of parts.iterate(MAX_IMPORTED_PART_BYTES, s.id) as Iterable<{ id: string; message_id: string; time_created: number; time_updated: number; bytes: number; data: string }>) {
      putPart.run(p.id, p.message_id, s.id, p.time_created, p.time_updated, storableJson(db, p.data));
      out.parts++;
      if (p.bytes > MAX_IMPORTED_PART_BYTES) out.reducedParts++;
    }
  });
  return out;
}

/**
 * OpenCode's snapshot git directories for a project: `snapshot/<project>/<worktree hash>` next
 * to its database (and, in older versions, `snapshot/<project>` itself).
 */
function snapshotStores(dataDir: string, projectId: string): string[] {
  const root = join(dataDir, 'snapshot', projectId);
  if (!/^[A-Za-z0-9_-]+$/.test(projectId) || !existsSync(root)) return [];
  const dirs = [root, ...readdirSync(root).map((d) => join(root, d))];
  return dirs.filter((d) => statSync(join(d, 'objects'), { throwIfNoEntry: false })?.isDirectory());
}

/** The store holding both trees, if any. */
async function storeWith(stores: string[], trees: string[]): Promise<GitContext | undefined> {
  for (const gitDir of stores) {
    const r = await runGit({ gitDir }, ['cat-file', '--batch-check=%(objecttype)'], { input: trees.join('\n') + '\n', okStatus: [0, 128] });
    if (r.status === 0 && r.stdout.toString('utf8').split('\n').slice(0, trees.length).every((t) => t === 'tree')) return { gitDir };
  }
  return undefined;
}

/** Replaces OpenCode's counts by the diff engine's wherever both snapshot trees of a turn exist. */
async function recount(db: Database, s: SourceSession, out: ImportedSession, stores: string[]): Promise<void> {
  const turns = listTurns(db, s.id);
  out.turns = turns.length;
  const setSummary = db.prepare(`UPDATE message SET data = ${jsonSet(db, 'data', [['$.summary', jsonParam(db)]])} WHERE id = ?`);
  for (const t of turns) {
    if (!t.start || !t.end || !isObjectId(t.start) || !isObjectId(t.end)) continue;
    const ctx = await storeWith(stores, [t.start, t.end]);
    if (!ctx) continue;
    const summary: TurnSummary = await summarize(ctx, t.start, t.end);
    setSummary.run(storableJson(db, JSON.stringify(summary)), t.id);
    out.recounted++;
  }
  const first = turns.find((t) => t.start)?.start;
  const last = [...turns].reverse().find((t) => t.end)?.end;
  if (!first || !last || out.recounted === 0) return;
  const ctx = await storeWith(stores, [first, last]);
  if (!ctx) return;
  const net = await summarize(ctx, first, last);
  updateSessionSummary(db, s.id, net.total);
  db.prepare('UPDATE session SET time_updated = ? WHERE id = ?').run(s.time_updated, s.id);
}
