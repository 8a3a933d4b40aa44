import { existsSync } from 'node:fs';
import { databaseLocation } from '../config.js';
import { UsageError } from '../errors.js';
import { jsonValue, openSettledDatabase, redactUrl, runQuery } from '../session/index.js';
import { parse, write, type Command } from './command.js';

const help = `snapline db — the session database: where it is, and SQL against it

Usage:
  snapline db path
  snapline db [--format json|tsv] [--write] "SQL"

The database is the SQLite file in snapline's data directory, or the PostgreSQL database of
SNAPLINE_DATABASE_URL / config database.url (then SQL is PostgreSQL's: data is jsonb, so
data->>'role' rather than json_extract(data, '$.role')). SQL is sent as written.

Tables (OpenCode's layout, so queries written for 'opencode db' run unchanged on SQLite):
  project(id, worktree, vcs, time_created, time_updated)
  session(id, project_id, parent_id, title, directory, version, summary_additions,
          summary_deletions, summary_files, revert, time_created, time_updated, busy_pid, …)
  message(id, session_id, time_created, time_updated, data JSON)
  part(id, message_id, session_id, time_created, time_updated, data JSON)

Options:
  --format FMT   json (default): an array of row objects; tsv: a header line, then one line per row
  --write        allow statements that change the database (otherwise refused; PostgreSQL:
                 run in a READ ONLY transaction)

Examples:
  snapline db path
  snapline db "SELECT id, title, summary_additions FROM session ORDER BY time_updated DESC LIMIT 5"
  snapline db --format tsv "SELECT id, length(data) AS bytes FROM message ORDER BY bytes DESC LIMIT 10"
`;

function tsvCell(v: unknown): string {
  const x = jsonValue(v);
  if (x === null || x === undefined) return '';
  return String(x).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

const command: Command = {
  summary: 'print the database path, or run SQL on it (read-only unless --write)',
  help,
  async run(argv) {
    const { values: v, positionals } = parse(argv, { format: { type: 'string' }, write: { type: 'boolean' } });
    if (positionals.length === 1 && positionals[0] === 'path') {
      await write(redactUrl(databaseLocation()) + '\n');
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(`db takes 'path' or one SQL statement in quotes (got ${positionals.length} arguments)`);
    const format = v.format ?? 'json';
    if (format !== 'json' && format !== 'tsv') throw new UsageError(`--format must be json or tsv, not '${format}'`);
    const location = databaseLocation();
    // A missing SQLite file is created (and migrated) first; a PostgreSQL database is migrated on open.
    const postgres = /^postgres(ql)?:/.test(location);
    // Pending turn summaries are completed first: a query sees them as a finished turn's.
    const db = await openSettledDatabase(location, { readonly: !v.write && (postgres || existsSync(location)), onWarning: (m) => process.stderr.write(`snapline: warning: ${m}\n`) });
    try {
      const r = runQuery(db, positionals[0]!, { write: v.write });
      if (r.changes !== undefined && r.columns.length === 0) {
        if (format === 'json') await write(JSON.stringify({ changes: r.changes }) + '\n');
        else await write(`changes\n${r.changes}\n`);
        return 0;
      }
      if (format === 'tsv') {
        await write(r.columns.join('\t') + '\n');
        for (const row of r.rows) await write(r.columns.map((c) => tsvCell(row[c])).join('\t') + '\n');
        return 0;
      }
      let first = true;
      for (const row of r.rows) {
        const obj: Record<string, unknown> = {};
        for (const c of r.columns) obj[c] = jsonValue(row[c]);
        const text = JSON.stringify(obj, null, 2).replace(/\n/g, '\n  ');
        await write((first ? '[\n  ' : ',\n  ') + text);
        first = false;
      }
      await write(first ? '[]\n' : '\n]\n');
      return 0;
    } finally {
      db.close();
    }
  },
};

export default command;
