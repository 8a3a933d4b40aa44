/** The OpenAPI description served at /doc: the routes, their parameters and answers, briefly. */

const id = (name: string, what: string) => ({ name, in: 'path', required: true, schema: { type: 'string' }, description: what });
const query = (name: string, type: 'string' | 'integer' | 'boolean', what: string) => ({ name, in: 'query', required: false, schema: { type }, description: what });
const json = (description: string, schema: object = { type: 'object' }) => ({ description, content: { 'application/json': { schema } } });
const errors = { '400': json('Bad request {name, data: {message}}'), '404': json('Not found {name: "NotFoundError", data: {message}}') };

export function openApi(version: string): object {
  const session = { $ref: '#/components/schemas/Session' };
  const withParts = { type: 'object', properties: { info: { type: 'object' }, parts: { type: 'array', items: { type: 'object' } } } };
  return {
    openapi: '3.1.0',
    info: { title: 'snapline serve', version, description: "OpenCode's session routes for snapline's sessions. State-changing requests need the x-snapline-token header." },
    components: {
      schemas: {
        Session: { type: 'object', required: ['id', 'slug', 'projectID', 'directory', 'title', 'version', 'time'], properties: { id: { type: 'string' }, title: { type: 'string' }, directory: { type: 'string' }, summary: { type: 'object' }, revert: { type: 'object' } } },
        FileDiff: {
          type: 'object',
          required: ['file', 'status', 'additions', 'deletions', 'patch'],
          properties: { file: { type: 'string' }, status: { enum: ['added', 'deleted', 'modified'] }, additions: { type: 'integer' }, deletions: { type: 'integer' }, patch: { type: 'string' }, truncated: { type: 'boolean' }, next: { type: 'string' }, binary: { type: 'boolean' } },
        },
      },
      securitySchemes: { basic: { type: 'http', scheme: 'basic', description: 'Only when the server was started with SNAPLINE_SERVER_PASSWORD' }, token: { type: 'apiKey', in: 'header', name: 'x-snapline-token' } },
    },
    paths: {
      '/global/health': { get: { operationId: 'global.health', responses: { '200': json('{healthy: true, version}') } } },
      '/session': { get: { operationId: 'session.list', parameters: [query('limit', 'integer', 'at most this many, newest first (default 100)'), query('search', 'string', 'title contains')], responses: { '200': json('Sessions', { type: 'array', items: session }) } } },
      '/session/{id}': {
        get: { operationId: 'session.get', parameters: [id('id', 'session id')], responses: { '200': json('Session', session), ...errors } },
        delete: { operationId: 'session.delete', parameters: [id('id', 'session id')], security: [{ token: [] }], responses: { '200': json('true'), ...errors } },
      },
      '/session/{id}/message': {
        get: {
          operationId: 'session.messages',
          parameters: [id('id', 'session id'), query('limit', 'integer', 'the most recent N (before `before`)'), query('before', 'string', 'a message id: only older messages (from X-Next-Cursor)')],
          responses: { '200': { ...json('[{info, parts}] oldest first', { type: 'array', items: withParts }), headers: { 'X-Next-Cursor': { schema: { type: 'string' }, description: 'pass as before for the older page' } } }, ...errors },
        },
      },
      '/session/{id}/message/{messageID}': { get: { operationId: 'session.message', parameters: [id('id', 'session id'), id('messageID', 'message id')], responses: { '200': json('{info, parts}', withParts), ...errors } } },
      '/session/{id}/diff': {
        get: {
          operationId: 'session.diff',
          parameters: [id('id', 'session id'), query('messageID', 'string', 'one turn (default: the whole session)'), query('patchBytes', 'integer', 'inline patch bytes per file (default 65536)'), query('patch', 'boolean', 'false: statistics only')],
          responses: { '200': json('Files with patches produced on demand; a longer patch is truncated, continue with /diff/patch', { type: 'array', items: { $ref: '#/components/schemas/FileDiff' } }), ...errors },
        },
      },
      '/session/{id}/diff/patch': {
        get: {
          operationId: 'session.diff.patch',
          parameters: [id('id', 'session id'), query('file', 'string', 'workspace-relative path'), query('messageID', 'string', 'turn'), query('cursor', 'string', 'FILE.OFFSET from next'), query('maxBytes', 'integer', 'page size (default 262144)')],
          responses: { '200': json('{patch, next}: one page of one file’s patch'), ...errors },
        },
      },
      '/session/{id}/revert': {
        post: {
          operationId: 'session.revert',
          security: [{ token: [] }],
          parameters: [id('id', 'session id')],
          requestBody: { content: { 'application/json': { schema: { type: 'object', required: ['messageID'], properties: { messageID: { type: 'string' }, dryRun: { type: 'boolean' }, force: { type: 'boolean' } } } } } },
          responses: { '200': json('Session, or with dryRun {written, deleted, paths}'), '409': json('Refused: {data: {message, code, paths?}} (busy, or files edited outside the session)'), ...errors },
        },
      },
      '/session/{id}/unrevert': { post: { operationId: 'session.unrevert', security: [{ token: [] }], parameters: [id('id', 'session id')], responses: { '200': json('Session', session), '409': json('Refused'), ...errors } } },
      '/event': { get: { operationId: 'event.subscribe', responses: { '200': { description: 'Server-sent events: server.connected, server.heartbeat, session.updated, session.deleted, message.updated, message.part.updated', content: { 'text/event-stream': {} } } } } },
    },
  };
}
