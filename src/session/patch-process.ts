/**
 * A file's patch produced in a child process (src/session/patch-worker.ts) and read page by
 * page over its IPC channel. The comparison of a big file pair needs tens of MiB for its
 * per-line tables, and memory a process freed is mostly kept by its allocator: done in a child,
 * that memory belongs to the child, and goes back to the system when it exits (at the end of
 * the patch, when unused for the idle time, when closed, or when the server goes).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SnaplineError } from '../errors.js';
import type { GitContext } from '../git/run.js';
import { PageSourceLost, type PageSource, type PatchPage } from './patch-cache.js';

export type WorkerRequest =
  | { kind: 'open'; ctx: GitContext; from: string; to: string; file: string; cursor?: string; idleMs: number }
  | { kind: 'page'; maxBytes: number; heldBytes: number };

export type WorkerReply =
  | { kind: 'page'; bytes: Uint8Array; next?: string; position?: string }
  | { kind: 'error'; name: string; message: string; code?: string; exitCode?: number; paths?: string[] };

const ENTRY = fileURLToPath(new URL('./patch-worker.js', import.meta.url));

/**
 * Node options of a patch process: a young generation of 2 MiB semi-spaces instead of 16, so the
 * short-lived buffers of page after page are collected before they add up; and the collector
 * exposed, so that the process collects after each page (its buffers and the comparison's
 * tables are dead then, and V8 would wait for tens of MiB more).
 */
const WORKER_EXEC_ARGV = ['--max-semi-space-size=2', '--expose-gc'];

export interface PatchProcessOptions {
  /** The process exits when no page is asked for this long (default 2 minutes). */
  idleMs?: number;
  /** It does not go on (exits after the page) when its change list is larger (default 16 MiB). */
  heldBytes?: number;
}

/** The error a patch process reported, as the same kind of error here (same code, same HTTP status). */
function remoteError(m: Extract<WorkerReply, { kind: 'error' }>): Error {
  const e = m.code === undefined ? new Error(m.message) : new SnaplineError(m.code, m.message, m.exitCode);
  e.name = m.name;
  if (m.paths) Object.assign(e, { paths: m.paths });
  return e;
}

/** Starts a patch process for `file` between trees `from` and `to`, at `cursor` (the start when absent). */
export function patchProcess(spec: { ctx: GitContext; from: string; to: string; file: string; cursor?: string }, o: PatchProcessOptions = {}): PageSource & { readonly pid: number | undefined } {
  const child = fork(ENTRY, [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: WORKER_EXEC_ARGV });
  let position = spec.cursor;
  let ended: string | undefined;
  let waiting: { resolve(p: PatchPage): void; reject(e: unknown): void } | null = null;
  const settle = (f: (w: NonNullable<typeof waiting>) => void) => {
    const w = waiting;
    waiting = null;
    if (w) f(w);
  };
  const gone = (detail: string) => {
    ended ??= detail;
    position = undefined;
    settle((w) => w.reject(new PageSourceLost(detail)));
  };
  child.on('message', (m: WorkerReply) => {
    if (m.kind === 'error') {
      position = undefined;
      return settle((w) => w.reject(remoteError(m)));
    }
    position = m.position;
    // A view of the message's bytes, not a copy.
    const bytes = Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
    settle((w) => w.resolve(m.next === undefined ? { bytes } : { bytes, next: m.next }));
  });
  child.on('exit', (code, signal) => gone(signal ? `was killed (${signal})` : `exited (${code})`));
  child.on('error', (e) => gone(`could not run: ${e.message}`));
  const send = (m: WorkerRequest) => {
    if (child.connected) child.send(m);
    else gone(ended ?? 'has exited');
  };
  send({ kind: 'open', ...spec, idleMs: o.idleMs ?? 120_000 });
  return {
    get pid() {
      return child.pid;
    },
    page(maxBytes) {
      if (waiting) return Promise.reject(new Error('a patch page is asked for while another is read'));
      const p = new Promise<PatchPage>((resolve, reject) => (waiting = { resolve, reject }));
      send({ kind: 'page', maxBytes, heldBytes: o.heldBytes ?? 16 << 20 });
      return p;
    },
    get position() {
      return position;
    },
    // Its memory is the child's, not this process's.
    heldBytes: 0,
    close() {
      position = undefined;
      ended ??= 'was closed';
      if (child.connected) child.disconnect();
      settle((w) => w.reject(new PageSourceLost('was closed')));
    },
  };
}
