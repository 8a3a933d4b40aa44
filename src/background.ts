/**
 * snapline's own CLI, and starting it in the background: the work a hook leaves for later
 * (summaries, sealing big files) runs in a detached `snapline` process that nobody waits for.
 */
import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { withMallocTunables } from './malloc.js';

/** The entry point of this package's CLI. */
export const CLI_MAIN = fileURLToPath(new URL('./cli/main.js', import.meta.url));

/**
 * Starts `snapline ARGS` detached, output discarded, at `nice` when given: it outlives the
 * caller, which does not wait for it. With `afterSeconds` (whole seconds), Node starts only
 * then: a POSIX `sh` sleeps first (on Windows, Node starts at once). Never throws (whoever reads
 * next does the work instead). Without NODE_EXTRA_CA_CERTS: Node reads that bundle at every
 * start (30–40 ms for a system bundle), and the background work (sealing, summaries, a standby)
 * makes no TLS connection. With snapline's malloc settings (src/malloc.ts), as bin/snapline
 * starts Node. Returns the pid of the process started, if one was.
 */
export function startBackground(args: readonly string[], env: NodeJS.ProcessEnv, opts: { nice?: number; afterSeconds?: number; cwd?: string } = {}): number | undefined {
  try {
    const childEnv = withMallocTunables(env);
    delete childEnv.NODE_EXTRA_CA_CERTS;
    const argv = [process.execPath, CLI_MAIN, ...args];
    const [command, ...rest] = opts.afterSeconds && process.platform !== 'win32' ? ['/bin/sh', '-c', `sleep ${Math.ceil(opts.afterSeconds)} && exec "$0" "$@"`, ...argv] : argv;
    const child = spawn(command!, rest, { detached: true, stdio: 'ignore', env: childEnv, cwd: opts.cwd });
    child.on('error', () => undefined);
    if (opts.nice !== undefined && child.pid !== undefined) setPriority(child.pid, opts.nice);
    child.unref();
    return child.pid;
  } catch {
    /* the next reader does the work */
    return undefined;
  }
}
