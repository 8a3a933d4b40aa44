/**
 * A real PostgreSQL for tests: $SNAPLINE_TEST_PG (a postgres:// URL of a server we may create
 * databases on), else a throwaway cluster started once per test process — initdb into a temp
 * dir (as the `postgres` user when we are root: initdb refuses root), listening only on a unix
 * socket in that dir — and stopped when the process exits.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { openPostgres } from '../../src/session/postgres.js';

const BIN = process.env.SNAPLINE_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** True when the session tests are to run against PostgreSQL (SNAPLINE_TEST_BACKEND=pg). */
export const onPostgres = process.env.SNAPLINE_TEST_BACKEND === 'pg';

let server: string | undefined;
let databases = 0;

/** The URL of a new, empty database on the test server. */
export function freshDatabase(): string {
  server ??= process.env.SNAPLINE_TEST_PG || startCluster();
  const name = `snapline_test_${process.pid}_${++databases}`;
  const admin = openPostgres(server, false);
  try {
    admin.exec(`CREATE DATABASE ${name}`);
  } finally {
    admin.close();
  }
  return withDatabase(server, name);
}

/** `url` naming database `name` instead. */
export function withDatabase(url: string, name: string): string {
  const m = /^(postgres(?:ql)?:\/\/[^/?]*)(?:\/[^?]*)?(\?.*)?$/.exec(url);
  if (!m) throw new Error(`not a postgres:// URL: ${url}`);
  return `${m[1]}/${name}${m[2] ?? ''}`;
}

function startCluster(): string {
  const root = userInfo().uid === 0;
  const dir = mkdtempSync(join(tmpdir(), 'snapline-pg-'));
  const as = (args: string[]) => (root ? ['runuser', ['-u', 'postgres', '--', ...args]] : [args[0]!, args.slice(1)]) as [string, string[]];
  if (root) chownSync(dir, Number(id('postgres', '-u')), Number(id('postgres', '-g')));
  const run = (args: string[]) => {
    const [cmd, rest] = as(args);
    const r = spawnSync(cmd, rest, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr || r.stdout || r.error}`);
  };
  run([join(BIN, 'initdb'), '-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  // The port only names the socket file in our own dir: no TCP, no clash with other servers.
  const port = 5432;
  run([join(BIN, 'pg_ctl'), '-D', join(dir, 'data'), '-l', join(dir, 'log'), '-w', '-o', `-k ${dir} -c listen_addresses= -p ${port} -c fsync=off -c max_connections=200`, 'start']);
  process.on('exit', () => {
    const [cmd, rest] = as([join(BIN, 'pg_ctl'), '-D', join(dir, 'data'), '-m', 'immediate', 'stop']);
    spawnSync(cmd, rest);
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  });
  return `postgres://postgres@/postgres?host=${encodeURIComponent(dir)}&port=${port}`;
}

function id(user: string, flag: string): string {
  return spawnSync('id', [flag, user], { encoding: 'utf8' }).stdout.trim();
}

/** A test's SQL written for SQLite's JSON functions, in PostgreSQL's jsonb operators (json_extract(col, '$.a.b') only). */
export function sqlFor(sql: string): string {
  if (!onPostgres) return sql;
  return sql.replace(/json_extract\(\s*([\w.]+)\s*,\s*'\$\.([\w.]+)'\s*\)/g, (_m, col: string, path: string) => `(${col} #>> '{${path.split('.').join(',')}}')`);
}
