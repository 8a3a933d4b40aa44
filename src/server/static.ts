/** The review page: built assets from dist/web, served from a fixed list (no path from the URL reaches the disk). */
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Hono } from 'hono';

const WEB_DIR = join(import.meta.dirname, '..', '..', 'web');
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml' };

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

export function pageRoutes(app: Hono, token: string): void {
  let files: string[] = [];
  try {
    files = readdirSync(WEB_DIR).filter((f) => TYPES[extname(f)] !== undefined);
  } catch {
    // Not built: the API still works; / says how to build the page.
  }
  const headers = { 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'", 'referrer-policy': 'no-referrer' };
  app.get('/', (c) => {
    if (!files.includes('index.html')) return c.text('the review page is not built: run npm run build', 404);
    // The token travels in the page: other sites' pages cannot read it (same-origin policy).
    const html = readFileSync(join(WEB_DIR, 'index.html'), 'utf8').replace('__SNAPLINE_TOKEN__', escapeAttr(token));
    return c.body(html, 200, { ...headers, 'content-type': TYPES['.html']!, 'cache-control': 'no-store' });
  });
  for (const f of files) {
    if (f === 'index.html') continue;
    app.get(`/assets/${f}`, (c) => c.body(readFileSync(join(WEB_DIR, f)), 200, { ...headers, 'content-type': TYPES[extname(f)]!, 'cache-control': 'no-cache' }));
  }
}
