/** A real `snapline serve` process on a free port, for the server and browser tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './helpers/repo.js';

export interface ServeProcess {
  url: string;
  token: string;
  child: ChildProcess;
  /** What the server has written to stderr so far (shown when a test fails). */
  stderr(): string;
  stop(): Promise<void>;
}

export async function startServe(cwd: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<ServeProcess> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const found = await new Promise<{ url: string; token: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out} ${err}`)), 30_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const url = /listening on (\S+)/.exec(out)?.[1];
      const token = /x-snapline-token\): (\S+)/.exec(out)?.[1];
      if (url && token) {
        clearTimeout(timer);
        resolve({ url, token });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited ${code}: ${err}`));
    });
  });
  return {
    ...found,
    child,
    stderr: () => err,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
