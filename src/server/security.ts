/** What keeps the server private: host pinning, an optional password, CSRF checks, a body cap. */
import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';

export interface Guard {
  /** Host headers accepted (DNS rebinding: a page on another name must not reach us); empty: any. */
  hosts: ReadonlySet<string>;
  /** HTTP basic auth, required when set. */
  password?: string;
  username: string;
  /** Per-server secret that state-changing requests carry in `x-snapline-token`. */
  token: string;
}

/** Names a loopback server answers to. */
export function loopbackHosts(port: number): Set<string> {
  return new Set(['127.0.0.1', 'localhost', '[::1]'].map((h) => `${h}:${port}`));
}

export function isLoopback(hostname: string): boolean {
  return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '::1';
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function deny(status: 401 | 403 | 421, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ name: 'Forbidden', data: { message } }), { status, headers: { 'content-type': 'application/json', ...headers } });
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Checks every request: its Host; the password when one is set (like OpenCode's server, basic
 * auth); and for a state-changing request, that it comes from our own page or a client that was
 * given the token: a same-site Origin (when the browser sends one) and the token header.
 */
export function guard(g: Guard): MiddlewareHandler {
  return async (c, next) => {
    const host = c.req.header('host') ?? '';
    if (g.hosts.size && !g.hosts.has(host)) return deny(421, `this server does not answer to host '${host}'`);
    if (g.password !== undefined) {
      const auth = c.req.header('authorization') ?? '';
      const given = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8') : '';
      if (!same(given, `${g.username}:${g.password}`)) return deny(401, 'password required', { 'www-authenticate': 'Basic realm="snapline", charset="UTF-8"' });
    }
    if (!SAFE_METHODS.has(c.req.method)) {
      const origin = c.req.header('origin');
      if (origin !== undefined && origin !== `http://${host}` && origin !== `https://${host}`) return deny(403, `cross-site request from ${origin} refused`);
      const site = c.req.header('sec-fetch-site');
      if (site !== undefined && site !== 'same-origin' && site !== 'none') return deny(403, `cross-site request (${site}) refused`);
      if (!same(c.req.header('x-snapline-token') ?? '', g.token)) return deny(403, 'missing or wrong x-snapline-token (the page carries it; `snapline serve` prints it)');
    }
    await next();
  };
}
