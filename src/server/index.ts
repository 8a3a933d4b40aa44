/** `snapline serve`: the API and the review page on one local HTTP server. */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { SnaplineError } from '../errors.js';
import { openDatabase, PatchCache } from '../session/index.js';
import { createApp } from './app.js';
import { eventBus } from './events.js';
import { isLoopback, loopbackHosts } from './security.js';

export const SERVER_VERSION = '0.1.0';

/** Listening anywhere but loopback without a password is refused. */
export class PasswordRequired extends SnaplineError {
  constructor(hostname: string) {
    super('password-required', `serving on ${hostname} (not loopback) needs a password: set SNAPLINE_SERVER_PASSWORD (clients use HTTP basic auth)`, 2);
  }
}

export interface ServeOptions {
  port?: number;
  hostname?: string;
  password?: string;
  username?: string;
  /** Session database (default: snapline's). */
  dbPath?: string;
  /** Database poll interval for /event (default 500 ms). */
  pollMs?: number;
  heartbeatMs?: number;
}

export interface RunningServer {
  url: string;
  /** The per-server token state-changing requests carry in `x-snapline-token`. */
  token: string;
  close(): Promise<void>;
}

export async function startServer(o: ServeOptions = {}): Promise<RunningServer> {
  const hostname = o.hostname ?? '127.0.0.1';
  if (!isLoopback(hostname) && !o.password) throw new PasswordRequired(hostname);
  const db = openDatabase(o.dbPath);
  const events = eventBus(o.dbPath, o.pollMs);
  const token = randomBytes(24).toString('base64url');
  const hosts = new Set<string>();
  const patches = new PatchCache();
  const app = createApp({ db, events, patches, version: SERVER_VERSION, heartbeatMs: o.heartbeatMs, guard: { hosts, password: o.password, username: o.username ?? 'snapline', token } });
  let server: ServerType;
  const port = await new Promise<number>((resolve, reject) => {
    server = serve({ fetch: app.fetch, port: o.port ?? 4096, hostname }, (info: AddressInfo) => resolve(info.port));
    server.once('error', reject);
  }).catch((e: NodeJS.ErrnoException) => {
    events.close();
    patches.close();
    db.close();
    if (e.code === 'EADDRINUSE') throw new SnaplineError('port-in-use', `port ${o.port ?? 4096} on ${hostname} is in use (choose another with --port)`, 2);
    throw e;
  });
  // Loopback: only our own names are answered (a rebound DNS name is refused).
  if (isLoopback(hostname)) for (const h of loopbackHosts(port)) hosts.add(h);
  const shown = hostname.includes(':') ? `[${hostname}]` : hostname;
  return {
    url: `http://${shown}:${port}`,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        events.close();
        patches.close();
        server.close(() => {
          db.close();
          resolve();
        });
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}
