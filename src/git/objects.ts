import type { ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { GitError, MissingObject } from '../errors.js';
import { openObjectFiles, type ObjectFiles } from './object-files.js';
import { PullReader } from './pull-reader.js';
import { noteStreamed } from './reclaim.js';
import { gitText, spawnGit, STREAMING_GIT, type GitContext } from './run.js';

/** Chunk size handed to consumers of a blob stream. */
export const CHUNK_SIZE = 64 * 1024;
/**
 * Largest chunk a consumer may ask for (`open`'s `maxChunk`): a big blob read from its object
 * file is then handed on in the thread pool's whole inflate steps, a quarter of the hops.
 */
export const LARGE_CHUNK = 256 * 1024;
/** Objects at least this large are read from the object files when git stores them whole. */
const DIRECT_MIN = 256 * 1024;

export interface ObjectHeader {
  oid: string;
  type: string;
  size: number;
}

/** A blob being read: its header, and its body as chunks that must be consumed in order. */
export interface ObjectStream extends ObjectHeader {
  body: AsyncIterable<Buffer>;
}

/**
 * Objects read one after another, each body streamed in chunks with backpressure and never
 * buffered whole: from a long-lived `git cat-file --batch` (see STREAMING_GIT), or, for a big
 * object git stores whole, straight from its pack or loose object file (object-files.ts).
 */
export interface ObjectReader {
  /**
   * Opens one object; the previous object's body is drained first if left unread. `size`, when
   * the caller knows it, lets a big object be read from the object files instead of the pipe.
   * Chunks are at most `maxChunk` bytes (CHUNK_SIZE by default); only a big object read from
   * its object file comes in chunks over CHUNK_SIZE, up to LARGE_CHUNK.
   */
  open(oid: string, size?: number, maxChunk?: number): Promise<ObjectStream>;
  close(): void;
}

export function openObjectReader(ctx: GitContext): ObjectReader {
  const big = { ...ctx, config: { ...(ctx.config ?? {}), ...STREAMING_GIT } };
  const batch = lazyBatch(big, ['cat-file', '--batch']);
  let queue: Promise<unknown> = Promise.resolve();
  let leftover = 0;
  let files: Promise<ObjectFiles | null> | undefined;
  let direct: AsyncGenerator<Buffer> | null = null;

  const serial = <T>(job: () => Promise<T>): Promise<T> => {
    const run = queue.then(job, job);
    queue = run.catch(() => undefined);
    return run;
  };

  async function readHeader(oid: string): Promise<ObjectHeader> {
    checkName(oid);
    const { child, reader, stderr } = batch.get();
    child.stdin!.write(oid + '\n');
    const line = await reader.line();
    if (line === null) batch.reset();
    return parseHeader(oid, line, child, stderr);
  }

  async function drain(): Promise<void> {
    if (direct) await direct.return(undefined);
    direct = null;
    if (leftover === 0) return;
    const { reader } = batch.get();
    while (leftover > 0) {
      const c = await reader.chunk(Math.min(leftover, CHUNK_SIZE));
      if (c === null) throw new GitError(['cat-file'], null, 'git cat-file ended early');
      leftover -= c.length;
    }
  }

  return {
    open: (oid, size, maxChunk = CHUNK_SIZE) =>
      serial(async () => {
        await drain();
        if (size !== undefined && size >= DIRECT_MIN) {
          const found = await (await (files ??= objectFiles(ctx)))?.open(oid, Math.min(maxChunk, LARGE_CHUNK));
          if (found) {
            direct = found.body;
            return { oid, type: found.type, size: found.size, body: noted(found.body) };
          }
        }
        const head = await readHeader(oid);
        const { reader, stderr } = batch.get();
        leftover = head.size + 1; // body plus git's trailing newline
        async function* body(): AsyncGenerator<Buffer> {
          let remaining = head.size;
          while (remaining > 0) {
            const c = await reader.chunk(Math.min(remaining, maxChunk, CHUNK_SIZE));
            if (c === null) throw new GitError(['cat-file'], null, stderr(), `object ${oid} ended early: ${stderr().trim() || 'git cat-file exited'}`);
            remaining -= c.length;
            leftover -= c.length;
            noteStreamed(c.length);
            yield c;
          }
          const nl = await reader.chunk(1);
          if (nl !== null) leftover -= nl.length;
        }
        return { ...head, body: body() };
      }),
    close() {
      void direct?.return(undefined);
      batch.close();
      void files?.then((f) => f?.close());
    },
  };
}

/** Passes chunks on, noting them for reclaim (see reclaim.ts). */
async function* noted(body: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  for await (const c of body) {
    noteStreamed(c.length);
    yield c;
  }
}

/**
 * The repository's object files, unless replace refs are in use: git would then substitute
 * objects, which only git itself can do.
 */
async function objectFiles(ctx: GitContext): Promise<ObjectFiles | null> {
  // One git: the objects directory, then the ids of any refs under refs/replace/ (at any depth).
  const [objects, ...replaced] = objectPlaces.get(ctx) ?? (await gitText(ctx, ['rev-parse', ...OBJECT_PLACES])).split('\n');
  return objects && replaced.length === 0 ? openObjectFiles(resolve(ctx.cwd ?? process.cwd(), objects)) : null;
}

/** `git rev-parse` arguments that print the objects directory, then the ids of any replace refs. */
export const OBJECT_PLACES = ['--git-path', 'objects', '--glob=refs/replace/'] as const;
/** What OBJECT_PLACES printed for a context, when its opener asked already (src/git/repo.ts). */
const objectPlaces = new WeakMap<GitContext, string[]>();
export function knowObjectPlaces(ctx: GitContext, lines: string[]): void {
  objectPlaces.set(ctx, lines);
}

/**
 * The whole bodies of small objects (at most `maxSize` bytes each), in order. Every request is
 * sent at once, so git answers without waiting for us between objects: a round trip per object
 * dominated restoring many small files.
 */
export async function* smallObjects(ctx: GitContext, oids: readonly string[], maxSize: number): AsyncGenerator<Buffer> {
  if (oids.length === 0) return;
  oids.forEach(checkName);
  const batch = lazyBatch({ ...ctx, config: { ...(ctx.config ?? {}), ...STREAMING_GIT } }, ['cat-file', '--batch']);
  const { child, reader, stderr } = batch.get();
  try {
    child.stdin!.end(oids.join('\n') + '\n');
    for (const oid of oids) {
      const head = parseHeader(oid, await reader.line(), child, stderr);
      if (head.size > maxSize) throw new MissingObject(oid, `larger than expected (${head.size} bytes)`);
      const parts: Buffer[] = [];
      for (let left = head.size + 1; left > 0; ) {
        const c = await reader.chunk(left);
        if (c === null) throw new GitError(['cat-file'], null, stderr(), `object ${oid} ended early: ${stderr().trim() || 'git cat-file exited'}`);
        parts.push(c);
        left -= c.length;
      }
      yield Buffer.concat(parts).subarray(0, head.size);
    }
  } finally {
    batch.close();
  }
}

/** Refuses what cannot be an object name (and could not pass through the batch protocol). */
function checkName(oid: string): void {
  if (!/^[0-9a-f]{4,64}$/i.test(oid) && !(oid.includes(':') && !oid.includes('\n'))) throw new MissingObject(oid, 'not a valid object name');
}

/** The header line git answered for `oid` (null: git exited), or the error it means. */
function parseHeader(oid: string, line: Buffer | null, child: ChildProcess, stderr: () => string): ObjectHeader {
  if (line === null) throw new GitError(['cat-file'], child.exitCode, stderr(), `cannot read object ${oid}: ${stderr().trim() || 'git cat-file exited'}`);
  const text = line.toString('utf8');
  const m = /^(\S+) (\S+) (\d+)$/.exec(text);
  if (!m) throw new MissingObject(oid, text.endsWith(' missing') ? 'missing' : text.endsWith(' ambiguous') ? 'ambiguous' : `unreadable (${text})`);
  return { oid: m[1]!, type: m[2]!, size: Number(m[3]) };
}

/** A batch-mode git child started on first use, restarted after a failure. */
function lazyBatch(ctx: GitContext, args: string[]) {
  let state: { child: ChildProcess; reader: PullReader; stderr: () => string } | null = null;
  return {
    get() {
      if (state === null) {
        const child = spawnGit(ctx, args);
        const err: Buffer[] = [];
        child.stderr!.on('data', (b: Buffer) => err.length < 64 && err.push(b));
        child.on('error', () => undefined);
        child.stdin!.on('error', () => undefined);
        state = { child, reader: new PullReader(child.stdout!), stderr: () => Buffer.concat(err).toString('utf8') };
      }
      return state;
    },
    reset() {
      state?.child.kill('SIGKILL');
      state = null;
    },
    close() {
      if (state) {
        state.child.stdin!.end();
        state.child.stdout!.destroy();
        state.child.kill();
      }
      state = null;
    },
  };
}
