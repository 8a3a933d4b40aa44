/**
 * Tickets: what a POSIX sh script needs to know to answer "nothing changed since the last
 * snapshot" without Node (src/snapshot/no-change.sh). Two kinds share the conditions below:
 * an agent session's step ticket (src/session/fast-steps.ts, read by src/agents/step-hook.sh)
 * and a workspace's **track ticket** (here, read by bin/snapline for `snapline snapshot track`).
 *
 * A condition is one line the script checks: `same COPY PATH` (the file still has the content
 * saved as COPY beside the ticket), `absent PATH`, `env COPY` / `noenv` (SNAPLINE_CONFIG_CONTENT),
 * `userconfig PATH` (the user's configuration file is still looked for there), `include FILE`
 * (the snapshot.include patterns, for `ls-files -o -i --exclude-from`), `line COPY PATH` (PATH is
 * exactly the one line saved as COPY: read by the script itself). Where the script could
 * not check something exactly (a path with a newline, an include pattern a file would read
 * differently), there is no ticket and the command goes to Node.
 */
import { lstat, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configFiles, dataDir, DEFAULT_CONFIG, fastStepsTmp, parseConfig, type Config } from '../config.js';
import { nearestDotGit } from './store.js';
import type { TrackBasis, TrackResult } from './track.js';

export interface Conditions {
  lines: string[];
  /** Files to write beside the ticket: name, content. */
  copies: [string, Buffer | string][];
  /** The configuration the copies say is in force (parsed from them, not read again). */
  config: Config;
}

/**
 * The conditions the store's ignore rules were built under: the configuration (its source as
 * loadConfig finds it) and the user's exclude file `excludeFrom`. Read once: the configuration
 * returned is parsed from exactly the bytes the script will compare with. undefined when the
 * script could not check them exactly (or the configuration does not parse).
 */
export async function conditions(worktree: string, excludeFrom: string): Promise<Conditions | undefined> {
  const lines: string[] = [];
  const copies: [string, Buffer | string][] = [];
  // A file that is there but cannot be read: loadConfig reports it (no ticket, no config guessed).
  const same = async (path: string): Promise<Buffer | undefined> => {
    const content = await readCopy(path);
    if (content === undefined) lines.push(`absent ${path}`);
    else {
      const copy = `c${copies.length}`;
      copies.push([copy, content]);
      lines.push(`same ${copy} ${path}`);
    }
    return content;
  };
  let config: Config;
  try {
    const env = process.env.SNAPLINE_CONFIG_CONTENT;
    const files = configFiles(worktree);
    lines.push(`userconfig ${files[files.length - 1]}`);
    if (env) {
      copies.push(['c-env', env]);
      lines.push('env c-env');
      config = parseConfig(env, 'SNAPLINE_CONFIG_CONTENT');
    } else {
      lines.push('noenv');
      config = structuredClone(DEFAULT_CONFIG);
      for (const file of files) {
        const content = await same(file);
        if (content === undefined) continue;
        config = parseConfig(content.toString('utf8'), file);
        break;
      }
    }
    await same(excludeFrom);
  } catch {
    return undefined; // a configuration that does not parse or read: Node says so, every time
  }
  const include = config.snapshot.include;
  if (include.length) {
    // A pattern git would read differently from a file than from --exclude=: no ticket.
    if (include.some((p) => /[\r\n]|^#|\s$/.test(p))) return undefined;
    copies.push(['include', include.join('\n') + '\n']);
    lines.push('include include');
  }
  if (lines.some((l) => /[\r\n]/.test(l) || l !== l.trim())) return undefined;
  return { lines, copies, config };
}

/**
 * The condition that the store's own `info/exclude` is still the one the snapshot's scan read:
 * another snapline process (another configuration, say SNAPLINE_CONFIG_CONTENT in an agent's
 * environment) may have rewritten it since, and git's scan reads that file, not the inputs the
 * conditions above check.
 */
export function storeExclude(basis: TrackBasis): { line: string; copy: [string, string] } {
  return { line: `same c-store ${join(basis.store, 'info', 'exclude')}`, copy: ['c-store', basis.exclude] };
}

/** Whether two configurations make the same snapshot of a workspace (ignore and include rules, size cap). */
export function sameRules(a: Config, b: Config): boolean {
  const rules = (c: Config) => JSON.stringify([c.snapshot.ignore, c.snapshot.include, c.snapshot.maxFileSize]);
  return rules(a) === rules(b);
}

/** The most a ticket copies of one file: a bigger one (packed-refs of a repository with many tags) means no ticket. */
const MAX_COPY = 1024 * 1024;

/**
 * A file's content for a ticket's copy, undefined when there is none; throws for one that cannot
 * be read or is over MAX_COPY (then no ticket). Reads at most MAX_COPY + 1 bytes, whatever the size.
 */
async function readCopy(path: string): Promise<Buffer | undefined> {
  const fh = await open(path, 'r').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (!fh) return undefined;
  try {
    // Sized by the file (one more byte: a file grown meanwhile shows), never over the bound.
    const buf = Buffer.allocUnsafe(Math.min(Number((await fh.stat()).size), MAX_COPY) + 1);
    let n = 0;
    for (let r; n < buf.length && (r = (await fh.read(buf, n, buf.length - n, null)).bytesRead) > 0; ) n += r;
    if (n === buf.length) throw new Error(`${path}: over ${MAX_COPY} bytes or growing, not copied into a ticket`);
    return buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}

/** Writes `content` aside and renames it over `file`: a reader sees the old file or the new one. */
export async function replaceFile(file: string, content: Buffer | string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content);
  await rename(tmp, file);
}

/** First line of a track ticket; the script refuses any other. */
const TRACK_TICKET_VERSION = 'snapline-track-ticket 1';

/**
 * The directory of a workspace's track tickets: its path with each `/` as `%`, which the script
 * computes without starting a program (a hash would take one: `sha1sum` costs 12 ms here). Two
 * paths that come out the same share it, and each finds the other's workspace in the ticket
 * (then Node). undefined for a path too long for a file name.
 */
export function trackTicketDir(worktree: string): string | undefined {
  const key = worktree.slice(1).split('/').join('%');
  return key.length > 0 && key.length <= 200 ? join(dataDir(), 'fast-steps', 'tracks', key) : undefined;
}

/** What a workspace's track ticket needs from before the track: see trackTicketBasis. */
export interface TrackTicketBasis {
  worktree: string;
  conditions: Conditions;
}

/**
 * Read before the track of `worktree` (resolved): the conditions (first, so a configuration
 * changed while the track ran fails them rather than hiding in the ticket; the track is given
 * the configuration they hold) and the files that name the workspace's store (its repository's
 * HEAD: the store is per root commit). undefined when the script could not check them (then no
 * ticket).
 */
export async function trackTicketBasis(worktree: string): Promise<TrackTicketBasis | undefined> {
  try {
    const dotGit = join(worktree, '.git');
    // The files that name the store, checked before the configuration's conditions.
    const lines: string[] = [];
    const copies: [string, Buffer | string][] = [];
    const st = await lstat(dotGit).catch(() => undefined);
    if (st === undefined) {
      // No repository: the store is the workspace's own ("global"), unless one lies above it.
      if ((await nearestDotGit(worktree)) !== undefined) return undefined;
      lines.push(`absent ${dotGit}`);
    } else {
      // A plain .git directory: HEAD, and the branch it names as a loose ref or in packed-refs.
      // Anything else (a .git file, a reftable) is found by git, not by files: no ticket.
      if (!st.isDirectory()) return undefined;
      // One line each (as git writes them): compared by the script without starting cmp.
      const oneLine = (name: string, path: string, content: Buffer | string) => {
        const text = content.toString();
        if (!/^[^\n\0]*\n$/.test(text)) return false;
        copies.push([name, text]);
        lines.push(`line ${name} ${path}`);
        return true;
      };
      const text = (await readCopy(join(dotGit, 'HEAD')))?.toString();
      if (text === undefined || !oneLine('h-head', join(dotGit, 'HEAD'), text)) return undefined;
      const ref = /^ref: (refs\/[^\s]+)\n?$/.exec(text)?.[1];
      if (ref !== undefined) {
        if (ref.split('/').some((c) => c === '..' || c === '.' || c === '')) return undefined;
        const loose = await readCopy(join(dotGit, ref));
        if (loose !== undefined) {
          if (!oneLine('h-ref', join(dotGit, ref), loose)) return undefined;
        } else {
          lines.push(`absent ${join(dotGit, ref)}`);
          const packed = await readCopy(join(dotGit, 'packed-refs'));
          if (packed === undefined) lines.push(`absent ${join(dotGit, 'packed-refs')}`);
          else {
            copies.push(['h-packed', packed]);
            lines.push(`same h-packed ${join(dotGit, 'packed-refs')}`);
          }
          lines.push(`absent ${join(dotGit, 'reftable')}`);
        }
      } else if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})?\n?$/.test(text)) return undefined;
    }
    const found = await conditions(worktree, join(dotGit, 'info', 'exclude'));
    if (!found) return undefined;
    return { worktree, conditions: { lines: [...lines, ...found.lines], copies: [...copies, ...found.copies], config: found.config } };
  } catch {
    return undefined;
  }
}

/**
 * The track ticket, after a track whose result came from `basis.worktree`'s store: lines are the
 * format, the workspace, the store, then the conditions. The tree is not in it: the script
 * takes it from the store's `snapline-tree`, beside the fingerprint of the index it is the tree
 * of (src/snapshot/track.ts). Each ticket is written whole into a directory of its own and then
 * named in `current` (renamed into place), so a script never mixes two tickets; older ones are
 * removed. Never throws: without a ticket, the next track goes to Node.
 */
export async function writeTrackTicket(basis: TrackTicketBasis, result: TrackResult): Promise<void> {
  const dir = trackTicketDir(basis.worktree);
  const gen = `g${process.pid}-${Date.now()}`;
  if (!dir) return;
  try {
    const store = result.basis?.store;
    // The user's exclude file the store's ignore rules came from must be the one the conditions read.
    if (!store || result.basis!.excludeFrom !== join(basis.worktree, '.git', 'info', 'exclude')) return await dropTrackTicket(basis.worktree);
    const own = storeExclude(result.basis!);
    const lines = [TRACK_TICKET_VERSION, basis.worktree, store, ...basis.conditions.lines, own.line];
    if (lines.some((l) => /[\r\n]/.test(l) || l !== l.trim())) return await dropTrackTicket(basis.worktree);
    await mkdir(join(dir, gen), { recursive: true });
    await mkdir(fastStepsTmp(), { recursive: true });
    for (const [name, content] of [...basis.conditions.copies, own.copy]) await writeFile(join(dir, gen, name), content);
    await writeFile(join(dir, gen, 'ticket'), lines.join('\n') + '\n');
    await replaceFile(join(dir, 'current'), gen + '\n');
    for (const name of await readdir(dir)) if (name !== gen && name !== 'current' && !name.endsWith('.tmp')) await rm(join(dir, name), { recursive: true, force: true });
  } catch {
    await dropTrackTicket(basis.worktree);
  }
}

/** Withdraws a workspace's track ticket: its next track goes to Node. */
export async function dropTrackTicket(worktree: string): Promise<void> {
  const dir = trackTicketDir(worktree);
  if (dir) await rm(join(dir, 'current'), { force: true }).catch(() => undefined);
}

/** A ticket directory without `current` may be one being written (a track between its steps): kept this long. */
const WRITING_MS = 5 * 60 * 1000;

/**
 * Removes the track tickets (of `worktree` only, when given) whose workspace or store is gone,
 * and ticket directories left without a ticket: `snapshot gc`'s part, so that workspaces that
 * came and went do not leave their tickets behind. Returns the directories removed.
 */
export async function pruneTrackTickets(worktree?: string): Promise<string[]> {
  const root = join(dataDir(), 'fast-steps', 'tracks');
  const one = worktree === undefined ? undefined : trackTicketDir(worktree);
  const dirs = one ? [one] : (await readdir(root).catch(() => [] as string[])).map((name) => join(root, name));
  const removed: string[] = [];
  for (const dir of dirs) {
    const gen = (await readFile(join(dir, 'current'), 'utf8').catch(() => '')).trim();
    const [, ws, store] = (await readFile(join(dir, gen, 'ticket'), 'utf8').catch(() => '')).split('\n');
    const exists = (p: string | undefined) => (p ? stat(p).then(() => true, () => false) : Promise.resolve(false));
    if (gen && (await exists(ws)) && (await exists(store))) continue;
    if (!gen && Date.now() - ((await stat(dir).catch(() => undefined))?.mtimeMs ?? 0) < WRITING_MS) continue;
    if (!(await exists(dir))) continue;
    await rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}
