/**
 * A patch process: holds one file's patch producer and answers page requests over the IPC
 * channel of its parent (src/session/patch-process.ts). It exits when the patch has ended, when
 * a page fails, when unused for the idle time, or when the parent goes (the channel
 * disconnects) — and then its memory, comparison tables included, goes back to the system.
 */
import { parseCursor, PatchProducer } from '../diff/patch.js';
import { SnaplineError } from '../errors.js';
import { producerSource, type PageSource } from './patch-cache.js';
import type { WorkerReply, WorkerRequest } from './patch-process.js';

let source: PageSource | undefined;
let idle: NodeJS.Timeout | undefined;
let idleMs = 120_000;

function quit(): void {
  source?.close();
  process.exit(0);
}

function reply(m: WorkerReply, last: boolean): void {
  process.send!(m, () => {
    if (last) quit();
    // The page is sent: its buffers are garbage now (see WORKER_EXEC_ARGV).
    else globalThis.gc?.();
  });
}

async function handle(m: WorkerRequest): Promise<void> {
  clearTimeout(idle);
  if (m.kind === 'open') {
    idleMs = m.idleMs;
    const producer = new PatchProducer(m.ctx, m.from, m.to, { paths: [m.file], cursor: m.cursor === undefined ? undefined : parseCursor(m.cursor) });
    source = producerSource(producer);
    idle = setTimeout(quit, idleMs);
    return;
  }
  try {
    const page = await source!.page(m.maxBytes);
    const position = source!.position;
    const goesOn = position !== undefined && source!.heldBytes <= m.heldBytes;
    reply({ kind: 'page', bytes: page.bytes, next: page.next, position: goesOn ? position : undefined }, !goesOn);
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    const paths = (e as { paths?: unknown }).paths;
    reply({ kind: 'error', name: error.name, message: error.message, code: e instanceof SnaplineError ? e.code : undefined, exitCode: e instanceof SnaplineError ? e.exitCode : undefined, paths: Array.isArray(paths) ? paths.map(String) : undefined }, true);
    return;
  }
  idle = setTimeout(quit, idleMs);
}

if (!process.send) {
  process.stderr.write('patch-worker: runs only as a child of the snapline server\n');
  process.exit(2);
}
process.on('disconnect', quit);
process.on('message', (m: WorkerRequest) => void handle(m));
