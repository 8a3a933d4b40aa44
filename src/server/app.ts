/**
 * The HTTP API: OpenCode's routes for what snapline has, each one parsing its input, calling the
 * session library, and shaping the answer as OpenCode's clients expect it.
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import { SnaplineError, UsageError } from '../errors.js';
import {
  deleteSession,
  getMessage,
  getSession,
  hasPendingWork,
  isId,
  listSessions,
  messagePage,
  openCodeSession,
  PatchCache,
  patchPage,
  revertSession,
  reviewDiff,
  settleSummaries,
  unrevertSession,
  withParts,
  type Database,
} from '../session/index.js';
import type { EventBus } from './events.js';
import { jsonStringOf } from './json-bytes.js';
import { answered } from './memory.js';
import { openApi } from './openapi.js';
import { guard, type Guard } from './security.js';
import { pageRoutes } from './static.js';

export interface AppOptions {
  db: Database;
  events: EventBus;
  guard: Guard;
  version: string;
  /** Interval of `server.heartbeat` events on /event (default 10 s). */
  heartbeatMs?: number;
  /** Keeps patch producers between pages (one is made when absent). */
  patches?: PatchCache;
}

/** Largest request body read (revert's JSON is tiny); larger ones are refused unread. */
const MAX_BODY_BYTES = 16 * 1024;
/** Largest patch page a client may ask for. */
const MAX_PAGE_BYTES = 4 << 20;

function status(e: SnaplineError): 400 | 404 | 409 | 500 {
  if (e.code === 'unknown-session' || e.code === 'unknown-message') return 404;
  if (e.code === 'usage' || e.code === 'not-reverted') return 400;
  if (e.code === 'session-busy' || e.code === 'workspace-busy' || e.code === 'workspace-edited') return 409;
  return 500;
}

/** OpenCode's error shape `{name, data: {message}}`; a refusal also lists the paths. */
function failure(c: Context, e: unknown): Response {
  if (!(e instanceof SnaplineError)) {
    return c.json({ name: 'UnknownError', data: { message: e instanceof Error ? e.message : String(e) } }, 500);
  }
  const code = status(e);
  const name = code === 404 ? 'NotFoundError' : code === 400 ? 'BadRequest' : e.name;
  const data: Record<string, unknown> = { message: e.message, code: e.code };
  const paths = (e as { paths?: unknown }).paths;
  if (Array.isArray(paths)) data.paths = paths;
  return c.json({ name, data }, code);
}

function sessionId(c: Context): string {
  const id = c.req.param('id') ?? '';
  if (!isId('session', id)) throw new UsageError(`not a session id: '${id.slice(0, 80)}'`);
  return id;
}

function messageIdParam(value: string | undefined, what: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!isId('message', value)) throw new UsageError(`${what} is not a message id: '${value.slice(0, 80)}'`);
  return value;
}

function intParam(value: string | undefined, name: string, max: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,10}$/.test(value) || Number(value) > max) throw new UsageError(`${name} must be a whole number from 0 to ${max}`);
  return Number(value);
}

/** A workspace-relative path as stored in the summaries: no NUL, not absolute, no `..` part. */
function fileParam(value: string | undefined): string {
  if (!value || value.length > 4096 || value.includes('\0') || value.startsWith('/') || value.split('/').some((p) => p === '..' || p === '')) {
    throw new UsageError('file must be a workspace-relative path');
  }
  return value;
}

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new UsageError('the request body is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UsageError('the request body must be a JSON object');
  return v as Record<string, unknown>;
}

export function createApp(o: AppOptions): Hono {
  const { db } = o;
  const patches = o.patches ?? new PatchCache();
  const app = new Hono();
  app.onError((e, c) => failure(c, e));
  app.use('*', guard(o.guard));
  app.use('*', bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => c.json({ name: 'BadRequest', data: { message: `request body over ${MAX_BODY_BYTES} bytes` } }, 413) }));

  app.get('/global/health', (c) => c.json({ healthy: true, version: o.version }));
  app.get('/doc', (c) => c.json(openApi(o.version)));

  // Every session route reads summaries or totals: pending ones are completed first.
  const settle = async (_c: Context, next: () => Promise<void>) => {
    if (hasPendingWork(db)) await settleSummaries(db, { onWarning: (m) => process.stderr.write(`snapline serve: warning: ${m}\n`) });
    await next();
  };
  app.use('/session', settle);
  app.use('/session/*', settle);

  app.get('/session', (c) => {
    const limit = intParam(c.req.query('limit'), 'limit', 10_000) ?? 100;
    const search = c.req.query('search');
    if (search !== undefined && search.length > 200) throw new UsageError('search is at most 200 characters');
    return c.json(listSessions(db, { limit, search }).map(openCodeSession));
  });

  app.get('/session/:id', (c) => c.json(openCodeSession(getSession(db, sessionId(c)))));

  app.delete('/session/:id', async (c) => {
    const id = sessionId(c);
    const info = openCodeSession(getSession(db, id));
    await deleteSession(id, { db });
    o.events.publish({ type: 'session.deleted', properties: { sessionID: id, info } });
    return c.json(true);
  });

  app.get('/session/:id/message', (c) => {
    const id = sessionId(c);
    const limit = intParam(c.req.query('limit'), 'limit', 10_000);
    const page = messagePage(db, id, { limit, before: messageIdParam(c.req.query('before'), 'before') });
    if (page.next !== undefined) {
      c.header('X-Next-Cursor', page.next);
      c.header('Link', `</session/${id}/message?limit=${limit}&before=${page.next}>; rel="next"`);
    }
    return c.json(page.messages);
  });

  app.get('/session/:id/message/:mid', (c) => {
    const id = sessionId(c);
    const mid = messageIdParam(c.req.param('mid'), 'messageID');
    if (!mid) throw new UsageError('messageID missing');
    return c.json(withParts(db, getMessage(db, id, mid)));
  });

  app.get('/session/:id/diff', async (c) => {
    const id = sessionId(c);
    const files = await reviewDiff(db, id, {
      messageID: messageIdParam(c.req.query('messageID'), 'messageID'),
      patchBytes: intParam(c.req.query('patchBytes'), 'patchBytes', MAX_PAGE_BYTES),
      noPatch: c.req.query('patch') === 'false',
    }, patches);
    return c.json(files);
  });

  // One page of one file's patch: {patch, next}; `next` (also in X-Next-Cursor) continues it.
  app.get('/session/:id/diff/patch', async (c) => {
    const id = sessionId(c);
    const cursor = c.req.query('cursor');
    if (cursor !== undefined && !/^\d{1,9}\.\d{1,15}$/.test(cursor)) throw new UsageError('cursor must be FILE.OFFSET as given by X-Next-Cursor');
    const maxBytes = intParam(c.req.query('maxBytes'), 'maxBytes', MAX_PAGE_BYTES) ?? 256 * 1024;
    // Pages end at line ends, so a page is maxBytes plus at most one line; a line longer than
    // PAGE_SLACK would have to be held whole, and is refused instead.
    const page = await patchPage(db, id, { messageID: messageIdParam(c.req.query('messageID'), 'messageID'), file: fileParam(c.req.query('file')), cursor, maxBytes }, patches);
    if (page.next !== undefined) c.header('X-Next-Cursor', page.next);
    // {patch, next} written from the page's bytes: no string of the whole page in the server.
    const body = Buffer.concat([Buffer.from('{"patch":'), ...jsonStringOf(page.bytes), Buffer.from(`,"next":${JSON.stringify(page.next ?? null)}}`)]);
    answered(body.length);
    return c.body(body, 200, { 'content-type': 'application/json' });
  });

  app.post('/session/:id/revert', async (c) => {
    const id = sessionId(c);
    const body = await jsonBody(c);
    const messageID = messageIdParam(typeof body.messageID === 'string' ? body.messageID : undefined, 'messageID');
    if (!messageID) throw new UsageError('revert needs {"messageID": "msg_…"}');
    const dryRun = body.dryRun === true;
    const force = body.force === true;
    const r = await revertSession(id, messageID, { db, dryRun, ...(force ? { force } : {}) });
    if (dryRun) return c.json({ dryRun: true, messageID: r.messageID, written: r.written, deleted: r.deleted, paths: r.paths });
    return c.json(openCodeSession(getSession(db, id)));
  });

  app.post('/session/:id/unrevert', async (c) => {
    const id = sessionId(c);
    const body = await jsonBody(c);
    await unrevertSession(id, { db, ...(body.force === true ? { force: true } : {}) });
    return c.json(openCodeSession(getSession(db, id)));
  });

  app.get('/event', (c) =>
    streamSSE(c, async (sse) => {
      const queue: string[] = [];
      let wake: (() => void) | undefined;
      const push = (e: object) => {
        queue.push(JSON.stringify(e));
        wake?.();
      };
      const unsubscribe = o.events.subscribe(push);
      const beat = setInterval(() => push({ type: 'server.heartbeat', properties: {} }), o.heartbeatMs ?? 10_000);
      let closed = false;
      sse.onAbort(() => {
        closed = true;
        wake?.();
      });
      try {
        await sse.writeSSE({ data: JSON.stringify({ type: 'server.connected', properties: {} }) });
        while (!closed) {
          const next = queue.shift();
          if (next !== undefined) await sse.writeSSE({ data: next });
          else await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        clearInterval(beat);
        unsubscribe();
      }
    }),
  );

  pageRoutes(app, o.guard.token);
  return app;
}
