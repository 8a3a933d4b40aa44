/**
 * A team sharing one PostgreSQL session database: writers on several machines at once, a
 * session advanced by one machine at a time, `db` read-only unless --write, ids in order
 * whatever a machine's clock says. Always runs against a real PostgreSQL (a throwaway cluster,
 * or $SNAPLINE_TEST_PG), through the real CLI; each "machine" is its own SNAPLINE_HOME.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SCHEMA_VERSION } from '../src/session/db.js';
import { numberPlaceholders } from '../src/session/sql.js';
import { freshDatabase } from './helpers/postgres.js';
import { CLI, tempRepo } from './helpers/repo.js';

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * One machine of the team: its own workspace and data directory, the shared database. (A
 * session's snapshots stay in the data directory of the machine that took them: continuing a
 * session elsewhere needs them there, so tests of that share `home` with the first machine.)
 */
function machine(url: string, extraEnv: NodeJS.ProcessEnv = {}, shared?: { home: string; dir: string }) {
  const repo = tempRepo('snapline-team-');
  writeFileSync(join(repo.dir, 'a.txt'), 'a\n');
  const home = shared?.home ?? mkdtempSync(join(tmpdir(), 'snapline-team-home-'));
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv, SNAPLINE_HOME: home, SNAPLINE_DATABASE_URL: url, SNAPLINE_CONFIG_CONTENT: '', XDG_CONFIG_HOME: join(home, 'config') };
  const cli = (...args: string[]): Result => {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: shared?.dir ?? repo.dir, env, encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const cliAsync = (...args: string[]) =>
    new Promise<Result>((resolve) => {
      const p = spawn(process.execPath, [CLI, ...args], { cwd: repo.dir, env });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('close', (status) => resolve({ status, stdout, stderr }));
    });
  const ok = (...args: string[]) => {
    const r = cli(...args);
    if (r.status !== 0) throw new Error(`snapline ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  const db = <T>(sql: string) => JSON.parse(ok('db', sql)) as T[];
  return { dir: repo.dir, home, cli, cliAsync, ok, db, cleanup: () => (repo.cleanup(), rmSync(home, { recursive: true, force: true })) };
}

function sessionOf(out: string): string {
  return (JSON.parse(out.split('\n').find((l) => l.includes('sessionID'))!) as { sessionID: string }).sessionID;
}

test('placeholders become $n outside string literals; a named one keeps its number', () => {
  assert.deepEqual(numberPlaceholders("SELECT '?', \"@x\" FROM t WHERE a = ? AND b = @b AND c = @b -- ?\nAND d = ?"), {
    text: "SELECT '?', \"@x\" FROM t WHERE a = $1 AND b = $2 AND c = $2 -- ?\nAND d = $3",
    names: [undefined, 'b', undefined],
  });
});

test('12 processes opening one fresh database at once: the schema is made once, every one of them works', async () => {
  const m = machine(freshDatabase());
  try {
    const all = await Promise.all(Array.from({ length: 12 }, () => m.cliAsync('db', 'SELECT count(*) AS n FROM session')));
    for (const r of all) assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(m.db('SELECT version FROM snapline_schema'), [{ version: SCHEMA_VERSION }]);
  } finally {
    m.cleanup();
  }
});

test('8 machines write turns into one fresh database at once: schema made once, no turn lost or doubled, ids unique and in order', async () => {
  const url = freshDatabase();
  const team = Array.from({ length: 8 }, () => machine(url));
  const TURNS = 4;
  try {
    // All first turns at once: every process finds an empty database and migrates it (advisory lock).
    const sessions = await Promise.all(
      team.map(async (m, i) => {
        let sid: string | undefined;
        for (let t = 1; t <= TURNS; t++) {
          const args = ['run', `m${i} turn ${t}`, '--format', 'json', '--exec', `echo ${i}-${t} >> a.txt`];
          const r = await m.cliAsync(...(sid ? [...args, '--session', sid] : args));
          assert.equal(r.status, 0, r.stderr);
          sid ??= sessionOf(r.stdout);
        }
        return sid!;
      }),
    );
    const m0 = team[0]!;
    assert.equal(new Set(sessions).size, team.length);
    assert.deepEqual(m0.db<{ version: number }>('SELECT version FROM snapline_schema'), [{ version: SCHEMA_VERSION }]);
    const ids = m0.db<{ id: string }>('SELECT id FROM message UNION ALL SELECT id FROM part UNION ALL SELECT id FROM session');
    assert.equal(new Set(ids.map((r) => r.id)).size, ids.length, 'ids unique');
    for (const [i, sid] of sessions.entries()) {
      const texts = m0.db<{ text: string }>(
        `SELECT p.data->>'text' AS text FROM message m JOIN part p ON p.message_id = m.id
         WHERE m.session_id = '${sid}' AND m.data->>'role' = 'user' AND p.data->>'type' = 'text' ORDER BY m.id`,
      );
      assert.deepEqual(texts.map((r) => r.text), Array.from({ length: TURNS }, (_, t) => `m${i} turn ${t + 1}`), 'every turn once, in id order');
      const [s] = m0.db<{ summary_additions: number }>(`SELECT summary_additions FROM session WHERE id = '${sid}'`);
      assert.equal(s!.summary_additions, TURNS, 'one line added per turn');
    }
    const list = m0.ok('session', 'list', '--format', 'json');
    for (const sid of sessions) assert.ok(list.includes(sid));
  } finally {
    for (const m of team) m.cleanup();
  }
});

test('a session running a turn on one machine is refused to another, with who holds it; a machine gone for good is named', async () => {
  const url = freshDatabase();
  const a = machine(url);
  const b = machine(url);
  try {
    const sid = sessionOf(a.ok('run', 'first', '--format', 'json', '--exec', 'echo 1 >> a.txt'));
    const slow = a.cliAsync('run', 'slow', '--session', sid, '--exec', 'sleep 6');
    for (let i = 0; i < 100 && a.db<{ busy_pid: number | null }>(`SELECT busy_pid FROM session WHERE id = '${sid}'`)[0]!.busy_pid === null; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const refused = b.cli('run', 'meanwhile', '--session', sid, '--exec', 'echo 2 >> a.txt');
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, new RegExp(`session ${sid} is running a turn \\(pid \\d+\\); wait for it to finish`));
    assert.equal((await slow).status, 0);
    assert.equal(a.cli('run', 'after', '--session', sid, '--exec', 'echo 3 >> a.txt').status, 0, 'free again once the turn ended');

    // A machine that died mid-turn: its mark cannot be checked from here, so it is named, with the way out.
    a.ok('db', '--write', `UPDATE session SET busy_pid = 4242, busy_host = 'build-box-2' WHERE id = '${sid}'`);
    const gone = b.cli('run', 'later', '--session', sid, '--exec', 'true');
    assert.notEqual(gone.status, 0);
    assert.match(gone.stderr, /running a turn on build-box-2 \(pid 4242\).*snapline db --write "UPDATE session SET busy_pid = NULL/);
    const users = b.db<{ n: number }>(`SELECT count(*) AS n FROM message WHERE session_id = '${sid}' AND data->>'role' = 'user'`);
    assert.deepEqual(users, [{ n: 3 }], 'the refused turns stored nothing');
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

test('a machine whose clock is an hour behind continues a session after its last message', () => {
  const url = freshDatabase();
  const ahead = machine(url);
  const behind = machine(url, { NODE_OPTIONS: `--import "data:text/javascript,const now = Date.now; Date.now = () => now() - 3600000;"` }, { home: ahead.home, dir: ahead.dir });
  try {
    const sid = sessionOf(ahead.ok('run', 'one', '--format', 'json', '--exec', 'echo 1 >> a.txt'));
    behind.ok('run', 'two', '--session', sid, '--exec', 'echo 2 >> a.txt');
    const texts = ahead.db<{ text: string }>(
      `SELECT p.data->>'text' AS text FROM message m JOIN part p ON p.message_id = m.id WHERE m.session_id = '${sid}' AND p.data->>'type' = 'text' AND m.data->>'role' = 'user' ORDER BY m.id`,
    );
    assert.deepEqual(texts.map((r) => r.text), ['one', 'two']);
    assert.match(behind.ok('session', 'show', sid), /#1 .*\n(.*\n)*    text: one\n(.*\n)*#2 .*\n(.*\n)*    text: two/);
  } finally {
    behind.cleanup();
    ahead.cleanup();
  }
});

test('db: SQL as written; read-only transaction unless --write; large results streamed through a cursor', () => {
  const m = machine(freshDatabase());
  try {
    m.ok('run', 'one', '--exec', 'echo 1 >> a.txt');
    assert.deepEqual(m.db<{ role: string }>("SELECT data->>'role' AS role FROM message ORDER BY id"), [{ role: 'user' }, { role: 'assistant' }]);
    for (const sql of ['DELETE FROM part', 'WITH d AS (DELETE FROM part RETURNING 1) SELECT count(*) FROM d', 'CREATE TABLE x (a int)', "SELECT set_config('default_transaction_read_only', 'off', false), nextval('nope')"]) {
      const r = m.cli('db', sql);
      assert.equal(r.status, 2, sql);
      assert.match(r.stderr, /writes to the database; pass --write|does not exist/, sql);
    }
    assert.equal(m.db<{ n: number }>('SELECT count(*) AS n FROM part')[0]!.n > 0, true, 'nothing deleted');
    assert.deepEqual(JSON.parse(m.ok('db', '--write', "UPDATE session SET title = 'renamed'")), { changes: 1 });
    assert.equal(m.db<{ title: string }>('SELECT title FROM session')[0]!.title, 'renamed');
    const many = m.ok('db', '--format', 'tsv', 'SELECT n, md5(n::text) AS h FROM generate_series(1, 1234) AS n;').trim().split('\n');
    assert.equal(many.length, 1235);
    assert.equal(many[0], 'n\th');
    assert.equal(many[1234]!.split('\t')[0], '1234');
    const bad = m.cli('db', 'SELEC 1');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /syntax error/);
  } finally {
    m.cleanup();
  }
});
