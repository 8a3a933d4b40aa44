/**
 * Text with NUL characters (a command's binary output, an OpenCode row holding `\u0000`) is
 * recorded on both backends: kept as it is in SQLite; in PostgreSQL, whose text and jsonb
 * hold no NUL, as U+FFFD — never a failed turn or import.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Sqlite from 'better-sqlite3';
import { onPostgres } from './helpers/postgres.js';
import { sessionFixture, sessionOf } from './session-helpers.js';

const NUL_AS = onPostgres ? '\ufffd' : '\0';

test('a command printing NUL bytes is recorded, its output preview kept', () => {
  const f = sessionFixture();
  try {
    const out = f.ok('run', 'binary output', '--format', 'json', '--exec', "printf 'a\\000b\\n'");
    const session = sessionOf(out);
    const parts = f.db<{ data: string }>(`SELECT data FROM part WHERE session_id = '${session}'`);
    const all = parts.map((p) => (typeof p.data === 'string' ? JSON.parse(p.data) : p.data) as { type: string; state?: { output?: string } });
    const tool = all.find((p) => p.type === 'tool');
    assert.ok(tool, `a tool part: ${JSON.stringify(all)}`);
    assert.equal(tool.state?.output, `a${NUL_AS}b\n`);
  } finally {
    f.cleanup();
  }
});

test('an OpenCode session whose rows hold \\u0000 imports', () => {
  const f = sessionFixture();
  try {
    const file = join(f.home, 'opencode.db');
    const src = new Sqlite(file);
    src.exec(`CREATE TABLE project (id TEXT PRIMARY KEY, worktree TEXT, vcs TEXT);
      CREATE TABLE session (id TEXT PRIMARY KEY, project_id TEXT, parent_id TEXT, slug TEXT, directory TEXT, title TEXT, version TEXT,
        summary_additions INTEGER, summary_deletions INTEGER, summary_files INTEGER, time_created INTEGER, time_updated INTEGER);
      CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT, time_created INTEGER, time_updated INTEGER, data TEXT);
      CREATE TABLE part (id TEXT PRIMARY KEY, message_id TEXT, session_id TEXT, time_created INTEGER, time_updated INTEGER, data TEXT);`);
    const t = Date.now();
    src.prepare('INSERT INTO project VALUES (?, ?, ?)').run('prj_nul', f.dir, 'git');
    src.prepare('INSERT INTO session VALUES (?, ?, NULL, ?, ?, ?, ?, 0, 0, 0, ?, ?)').run('ses_nul000000001', 'prj_nul', 'nul', f.dir, 'title with \0 inside', '1.18.33', t, t);
    const user = { role: 'user', time: { created: t }, agent: 'build', model: { providerID: 'p', modelID: 'm' } };
    src.prepare('INSERT INTO message VALUES (?, ?, ?, ?, ?)').run('msg_nul000000001', 'ses_nul000000001', t, t, JSON.stringify(user));
    const part = { type: 'text', text: 'tool said x\0y, and the text \\u0000 itself' };
    src.prepare('INSERT INTO part VALUES (?, ?, ?, ?, ?, ?)').run('prt_nul000000001', 'msg_nul000000001', 'ses_nul000000001', t, t, JSON.stringify(part));
    src.close();

    f.ok('import', 'opencode', '--db', file);
    const [row] = f.db<{ data: string }>(`SELECT data FROM part WHERE id = 'prt_nul000000001'`);
    assert.ok(row);
    const data = (typeof row.data === 'string' ? JSON.parse(row.data) : row.data) as { text: string };
    assert.equal(data.text, `tool said x${NUL_AS}y, and the text \\u0000 itself`);
    const [session] = f.db<{ title: string }>(`SELECT title FROM session WHERE id = 'ses_nul000000001'`);
    assert.equal(session!.title, `title with ${NUL_AS} inside`);
  } finally {
    f.cleanup();
  }
});
