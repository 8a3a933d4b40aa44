/**
 * What `listSessions` and `getSession` give for every column they read (parent, revert, the
 * running-turn mark, the agent; paging, search, directory), checked against the rows as the test
 * wrote them, on SQLite — and on PostgreSQL with SNAPLINE_TEST_BACKEND=pg.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CorruptRow, getSession, listSessions, newId, openDatabase, type SessionInfo } from '../src/index.js';
import { freshDatabase, onPostgres } from './helpers/postgres.js';
import { CLI } from './helpers/repo.js';

interface Written {
  id: string;
  directory: string;
  title: string;
  parent?: string;
  revert?: string;
  busy?: [pid: number, host: string];
  agent?: [name: string, session: string | null];
  summary?: [number, number, number];
}

/** A pid that no process on this host has (a turn that crashed). */
function deadPid(): number {
  for (let pid = 4_000_000; ; pid--) {
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') return pid;
    }
  }
}

test(`listSessions reads every column as written (${onPostgres ? 'PostgreSQL' : 'SQLite'})`, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'snapline-listing-'));
  const db = openDatabase(onPostgres ? freshDatabase() : join(tmp, 'snapline.db'));
  try {
    const now = 1_700_000_000_000;
    const revert = JSON.stringify({ messageID: 'msg_0001', snapshot: 'a'.repeat(40), paths: 2 });
    const rows: Written[] = [
      { id: newId('session'), directory: '/w/a', title: 'plain' },
      { id: newId('session'), directory: '/w/a', title: 'a child', parent: 'ses_parent' },
      { id: newId('session'), directory: '/w/b', title: 'Reverted 100%_done', revert, summary: [7, 3, 2] },
      { id: newId('session'), directory: '/w/b', title: 'running here', busy: [process.pid, hostname()] },
      { id: newId('session'), directory: '/w/b', title: 'crashed here', busy: [deadPid(), hostname()] },
      { id: newId('session'), directory: '/w/c', title: 'running elsewhere', busy: [12, 'other-host'] },
      { id: newId('session'), directory: '/w/c', title: 'by claude', agent: ['claude', 'c-123'] },
      { id: newId('session'), directory: '/w/c', title: 'by codex', agent: ['codex', null], parent: 'ses_p2' },
    ];
    db.transaction(() => {
      db.prepare("INSERT INTO project (id, worktree, vcs, time_created, time_updated) VALUES ('global', '/', NULL, ?, ?)").run(now, now);
      const put = db.prepare(
        `INSERT INTO session (id, project_id, parent_id, slug, directory, title, version, time_created, time_updated, summary_additions, summary_deletions, summary_files, revert, busy_pid, busy_host, agent, agent_session)
         VALUES (?, 'global', ?, ?, ?, ?, '0.1.0', ?, ?, ?, ?, ?, ${onPostgres ? '?::jsonb' : '?'}, ?, ?, ?, ?)`,
      );
      rows.forEach((r, i) =>
        put.run(r.id, r.parent ?? null, r.id.slice(4, 10), r.directory, r.title, now + i, now + 10 * i, ...(r.summary ?? [0, 0, 0]), r.revert ?? null, r.busy?.[0] ?? null, r.busy?.[1] ?? null, r.agent?.[0] ?? null, r.agent?.[1] ?? null),
      );
    });
    const expected = (r: Written, i: number): SessionInfo => {
      const s: SessionInfo = {
        id: r.id,
        projectID: 'global',
        slug: r.id.slice(4, 10),
        title: r.title,
        directory: r.directory,
        version: '0.1.0',
        time: { created: now + i, updated: now + 10 * i },
        summary: { additions: r.summary?.[0] ?? 0, deletions: r.summary?.[1] ?? 0, files: r.summary?.[2] ?? 0 },
      };
      if (r.parent) s.parentID = r.parent;
      if (r.agent) s.agent = r.agent[1] ? { name: r.agent[0], session: r.agent[1] } : { name: r.agent[0] };
      if (r.revert) s.revert = JSON.parse(r.revert) as SessionInfo['revert'];
      if (r.busy && r.title !== 'crashed here') s.busy = { pid: r.busy[0], host: r.busy[1] };
      return s;
    };
    // Session ids sort newest first: the listing is the rows in reverse order of writing.
    const all = rows.map(expected).reverse();
    assert.deepEqual(listSessions(db), all);
    assert.deepEqual(listSessions(db, { limit: 3 }), all.slice(0, 3));
    assert.deepEqual(listSessions(db, { limit: 3, offset: 6 }), all.slice(6));
    assert.deepEqual(listSessions(db, { offset: 5 }), all.slice(5));
    assert.deepEqual(listSessions(db, { directory: '/w/b' }), all.filter((s) => s.directory === '/w/b'));
    assert.deepEqual(listSessions(db, { search: '100%_D' }), all.filter((s) => s.title === 'Reverted 100%_done'));
    assert.deepEqual(listSessions(db, { search: 'RUNNING', directory: '/w/c' }), all.filter((s) => s.title === 'running elsewhere'));
    for (const s of all) assert.deepEqual(getSession(db, s.id), s);

    if (!onPostgres) {
      // A revert edited into bad JSON names the row (PostgreSQL's jsonb cannot hold it).
      db.prepare("UPDATE session SET revert = '{oops' WHERE id = ?").run(rows[0]!.id);
      assert.throws(() => listSessions(db), (e: unknown) => e instanceof CorruptRow && e.message.includes(rows[0]!.id));
    }
  } finally {
    db.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});

test(`session list reads in pages and prints every session once, in order (${onPostgres ? 'PostgreSQL' : 'SQLite'})`, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'snapline-listing-cli-'));
  const url = onPostgres ? freshDatabase() : join(tmp, 'snapline.db');
  const db = openDatabase(url);
  try {
    const now = Date.now();
    db.transaction(() => {
      db.prepare("INSERT INTO project (id, worktree, vcs, time_created, time_updated) VALUES ('global', '/', NULL, ?, ?)").run(now, now);
      const put = db.prepare("INSERT INTO session (id, project_id, slug, directory, title, version, time_created, time_updated) VALUES (?, 'global', '', '/w', ?, '0.1.0', ?, ?)");
      for (let i = 0; i < 2600; i++) put.run(newId('session'), `session ${i}`, now, now);
    });
    const ids = listSessions(db).map((s) => s.id);
    const env = { ...process.env, SNAPLINE_HOME: tmp, SNAPLINE_CONFIG_CONTENT: '', SNAPLINE_DATABASE_URL: onPostgres ? url : '' };
    const listed = (...args: string[]) => {
      const r = spawnSync(process.execPath, [CLI, 'session', 'list', ...args], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean).map((l) => l.split(' ')[0]);
    };
    assert.deepEqual(listed('--limit', '5000'), ids, 'past several pages of 1,000');
    assert.deepEqual(listed('--limit', '2100', '--offset', '450'), ids.slice(450, 2550));
    assert.deepEqual(listed('--limit', '1000', '--offset', '1000'), ids.slice(1000, 2000));
    assert.deepEqual(listed(), ids.slice(0, 100));
  } finally {
    db.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});
