import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SnaplineError } from './errors.js';

/** The configuration file or variable holds something snapline cannot use. */
export class ConfigError extends SnaplineError {
  constructor(source: string, message: string) {
    super('config', `${source}: ${message}`, 2);
  }
}

/** Settings of the snapshot store. */
export interface SnapshotConfig {
  /** Files larger than this many bytes are not snapshotted (reported as skipped). */
  maxFileSize: number;
  /** Extra ignore patterns (gitignore syntax) on top of the project's own ignore rules. */
  ignore: string[];
  /** Ignored paths to snapshot anyway (gitignore syntax), e.g. `.env`. */
  include: string[];
  retention: {
    /** Unreferenced snapshots older than this are pruned by gc (days). */
    maxAgeDays: number;
    /** gc prunes unreferenced snapshots harder when a store grows past this (bytes, 0 = no limit). */
    maxBytes: number;
  };
  /** How long to wait for another snapline process holding a store's lock (ms). */
  lockTimeoutMs: number;
  /** A git remote (any URL git accepts) the sessions' snapshots are pushed to and fetched from. */
  remote?: string;
  /** How long the end of a turn waits for its push before leaving it to a background process (ms). */
  pushWaitMs: number;
}

/** Settings of sessions. */
export interface SessionConfig {
  /** How long run, revert, unrevert and delete wait for a workspace another of them holds (s). */
  waitSeconds: number;
}

/** Settings of `snapline hook` (agent hooks must never hold an agent up for long). */
export interface HooksConfig {
  /** How long a hook waits for a busy workspace (another turn, revert, gc) before giving up (ms). */
  waitMs: number;
}

/** Where sessions are stored (the user's config only: the database is shared by all projects). */
export interface DatabaseConfig {
  /** A postgres:// URL; absent: the SQLite file in the data directory. */
  url?: string;
}

export interface Config {
  snapshot: SnapshotConfig;
  session: SessionConfig;
  hooks: HooksConfig;
  database: DatabaseConfig;
}

export const DEFAULT_CONFIG: Config = {
  snapshot: {
    maxFileSize: 1024 * 1024 * 1024,
    ignore: [],
    include: [],
    retention: { maxAgeDays: 7, maxBytes: 0 },
    lockTimeoutMs: 30_000,
    pushWaitMs: 2_000,
  },
  // An agent's turn lasts minutes: a second run waits for it rather than failing.
  session: { waitSeconds: 600 },
  hooks: { waitMs: 5_000 },
  database: {},
};

/** snapline's data directory: $SNAPLINE_HOME, else $XDG_DATA_HOME/snapline, else ~/.local/share/snapline. */
export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SNAPLINE_HOME) return env.SNAPLINE_HOME;
  if (env.XDG_DATA_HOME) return join(env.XDG_DATA_HOME, 'snapline');
  return join(homedir(), '.local', 'share', 'snapline');
}

/**
 * Where the step hook script copies each event it reads (src/agents/step-hook.sh): while it is
 * missing the script hands every event to Node. `hooks install` makes it, and so does every hook
 * Node records, so an agent's first session already gets the script's fast paths.
 */
export function fastStepsTmp(env: NodeJS.ProcessEnv = process.env): string {
  return join(dataDir(env), 'fast-steps', 'tmp');
}

/** Path of the session database: $SNAPLINE_DB (one file machines share), else snapline.db in the data directory. */
export function databasePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SNAPLINE_DB) return env.SNAPLINE_DB;
  return join(dataDir(env), 'snapline.db');
}

/**
 * Where sessions are stored: SNAPLINE_DATABASE_URL, else config `database.url` (a postgres://
 * URL: a team's shared PostgreSQL), else the SQLite file databasePath().
 */
export function databaseLocation(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.SNAPLINE_DATABASE_URL;
  if (url) {
    if (!/^postgres(ql)?:\/\/./.test(url)) throw new ConfigError('SNAPLINE_DATABASE_URL', `must be a postgres:// URL, not ${JSON.stringify(url)}`);
    return url;
  }
  return loadConfig(undefined, env).database.url ?? databasePath(env);
}

/** Directory holding all snapshot stores. */
export function snapshotRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(dataDir(env), 'snapshot');
}

/**
 * The effective configuration for a project: SNAPLINE_CONFIG_CONTENT (JSON) if set, else
 * `snapline.json` in the project directory, else $XDG_CONFIG_HOME/snapline/config.json, else
 * defaults. The first source found is used whole (missing keys take defaults) and validated.
 */
export function loadConfig(projectDir?: string, env: NodeJS.ProcessEnv = process.env): Config {
  if (env.SNAPLINE_CONFIG_CONTENT !== undefined && env.SNAPLINE_CONFIG_CONTENT !== '') {
    return parseConfig(env.SNAPLINE_CONFIG_CONTENT, 'SNAPLINE_CONFIG_CONTENT');
  }
  for (const file of configFiles(projectDir, env)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new ConfigError(file, `cannot read: ${(e as Error).message}`);
    }
    return parseConfig(text, file);
  }
  return structuredClone(DEFAULT_CONFIG);
}

/** The configuration files loadConfig looks at, in order (without SNAPLINE_CONFIG_CONTENT): the first that exists is used. */
export function configFiles(projectDir?: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const files: string[] = [];
  if (projectDir) files.push(join(projectDir, 'snapline.json'));
  files.push(join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'snapline', 'config.json'));
  return files;
}

/** Parses and validates configuration JSON; `source` names it in error messages. */
export function parseConfig(text: string, source: string): Config {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(source, `not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(raw)) throw new ConfigError(source, 'must be a JSON object');
  const config = structuredClone(DEFAULT_CONFIG);
  if (raw.session !== undefined) config.session = parseSession(source, raw.session);
  if (raw.hooks !== undefined) {
    if (!isObject(raw.hooks)) throw new ConfigError(source, "'hooks' must be an object");
    for (const [key, value] of Object.entries(raw.hooks)) {
      if (key === 'waitMs') config.hooks.waitMs = wholeNumber(source, 'hooks.waitMs', value);
      else throw new ConfigError(source, `unknown key 'hooks.${key}' (known: waitMs)`);
    }
  }
  if (raw.database !== undefined) config.database = parseDatabase(source, raw.database);
  // Other top-level sections belong to other modules; only `snapshot`, `session` and `hooks` are checked here.
  if (raw.snapshot === undefined) return config;
  const s = raw.snapshot;
  if (!isObject(s)) throw new ConfigError(source, "'snapshot' must be an object");
  for (const [key, value] of Object.entries(s)) {
    switch (key) {
      case 'maxFileSize':
        config.snapshot.maxFileSize = byteSize(source, 'snapshot.maxFileSize', value);
        break;
      case 'ignore':
        if (!Array.isArray(value) || !value.every((p) => typeof p === 'string' && !p.includes('\n'))) {
          throw new ConfigError(source, "'snapshot.ignore' must be an array of gitignore patterns (strings without newlines)");
        }
        config.snapshot.ignore = value as string[];
        break;
      case 'include':
        if (!Array.isArray(value) || !value.every((p) => typeof p === 'string' && !p.includes('\n'))) {
          throw new ConfigError(source, "'snapshot.include' must be an array of gitignore patterns (strings without newlines)");
        }
        config.snapshot.include = (value as string[]).filter((p) => p.trim() !== '' && !p.startsWith('#'));
        break;
      case 'lockTimeoutMs':
        config.snapshot.lockTimeoutMs = wholeNumber(source, 'snapshot.lockTimeoutMs', value);
        break;
      case 'remote':
        // An option-looking URL would reach git as an option; an empty one means "none".
        if (typeof value !== 'string' || value.startsWith('-') || /[\0\n]/.test(value)) throw new ConfigError(source, `'snapshot.remote' must be a git URL or path, not ${JSON.stringify(value)}`);
        if (value.trim() !== '') config.snapshot.remote = value.trim();
        break;
      case 'pushWaitMs':
        config.snapshot.pushWaitMs = wholeNumber(source, 'snapshot.pushWaitMs', value);
        break;
      case 'retention': {
        if (!isObject(value)) throw new ConfigError(source, "'snapshot.retention' must be an object");
        for (const [rk, rv] of Object.entries(value)) {
          if (rk === 'maxAgeDays') config.snapshot.retention.maxAgeDays = wholeNumber(source, 'snapshot.retention.maxAgeDays', rv);
          else if (rk === 'maxBytes') config.snapshot.retention.maxBytes = byteSize(source, 'snapshot.retention.maxBytes', rv);
          else throw new ConfigError(source, `unknown key 'snapshot.retention.${rk}' (known: maxAgeDays, maxBytes)`);
        }
        break;
      }
      default:
        throw new ConfigError(source, `unknown key 'snapshot.${key}' (known: maxFileSize, ignore, include, retention, lockTimeoutMs, remote, pushWaitMs)`);
    }
  }
  return config;
}

function parseSession(source: string, v: unknown): SessionConfig {
  if (!isObject(v)) throw new ConfigError(source, "'session' must be an object");
  const session = structuredClone(DEFAULT_CONFIG.session);
  for (const [key, value] of Object.entries(v)) {
    if (key === 'waitSeconds') session.waitSeconds = wholeNumber(source, 'session.waitSeconds', value);
    else throw new ConfigError(source, `unknown key 'session.${key}' (known: waitSeconds)`);
  }
  return session;
}

function parseDatabase(source: string, v: unknown): DatabaseConfig {
  if (!isObject(v)) throw new ConfigError(source, "'database' must be an object");
  const database: DatabaseConfig = {};
  for (const [key, value] of Object.entries(v)) {
    if (key !== 'url') throw new ConfigError(source, `unknown key 'database.${key}' (known: url)`);
    if (typeof value !== 'string' || !/^postgres(ql)?:\/\/./.test(value)) throw new ConfigError(source, `'database.url' must be a postgres:// URL, not ${JSON.stringify(value)}`);
    database.url = value;
  }
  return database;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function wholeNumber(source: string, key: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ConfigError(source, `'${key}' must be a whole number >= 0, not ${JSON.stringify(v)}`);
  return v;
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** A byte count: a whole number, or a string like "512KiB", "100m", "1GiB". */
function byteSize(source: string, key: string, v: unknown): number {
  if (typeof v === 'number') return wholeNumber(source, key, v);
  const m = typeof v === 'string' ? /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(v) : null;
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new ConfigError(source, `'${key}' must be a byte count like 1048576 or "512MiB", not ${JSON.stringify(v)}`);
  return Number(m[1]) * unit;
}
