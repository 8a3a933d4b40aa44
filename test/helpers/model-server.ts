/**
 * A scripted model server: the real agent programs talk to it instead of a model provider, so
 * tests can drive them offline and deterministically.
 *
 * It speaks the four wire protocols the agents use — OpenAI chat completions (OpenCode), OpenAI
 * Responses (Codex), Anthropic Messages (Claude Code) and Gemini generateContent (Gemini CLI) —
 * and answers each agentic request (one that offers the agent's shell tool) with the next reply
 * of the script. Side requests (titles, summaries, classifiers) get a short text and leave the
 * script alone. When the script runs out, the answer is a short text so the agent ends its turn.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One scripted model reply: run a shell command, or say something. */
export type ScriptedReply = { tool: 'bash'; command: string } | { text: string };

export type WireProtocol = 'openai-chat' | 'openai-responses' | 'anthropic' | 'gemini' | 'other';

export interface RecordedRequest {
  method: string;
  path: string;
  protocol: WireProtocol;
  bodyBytes: number;
  /** Whether the request offered the shell tool (so it consumed a script reply, if one was left). */
  agentic: boolean;
  /** The script reply it got, if it consumed one. */
  reply?: ScriptedReply;
  /** The parsed body — kept only for the most recent requests (see KEPT_BODIES). */
  body?: unknown;
}

export interface ModelServer {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Appends replies to the script (e.g. for the next turn). */
  enqueue(...replies: ScriptedReply[]): void;
  /** Replies not consumed yet. */
  remaining(): number;
  close(): Promise<void>;
}

/** Bodies can hold whole tool outputs and system prompts; keep only the latest few. */
const KEPT_BODIES = 8;
const MAX_BODY_BYTES = 64 << 20;
const FINAL_TEXT = 'Done.';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A tool as an agent advertised it: its name and JSON schema of its input. */
interface OfferedTool {
  name: string;
  schema: Json;
}

/** The shell tool names the agents use, across protocols and versions. */
const SHELL_TOOL_NAMES = ['bash', 'Bash', 'shell', 'shell_command', 'exec_command', 'run_shell_command', 'local_shell'];

function findShellTool(tools: OfferedTool[]): OfferedTool | undefined {
  for (const name of SHELL_TOOL_NAMES) {
    const t = tools.find((x) => x.name === name);
    if (t) return t;
  }
  return undefined;
}

/**
 * The tool input for a shell command, shaped by the tool's own schema: the command goes to
 * `command` (a string, or an argv array for Codex's `shell`) or `cmd`; other required string
 * fields (OpenCode's `description`) get a short filler.
 */
export function shellToolInput(tool: OfferedTool, command: string): Json {
  const props = isObject(tool.schema.properties) ? tool.schema.properties : {};
  const required = Array.isArray(tool.schema.required) ? tool.schema.required.filter((x): x is string => typeof x === 'string') : [];
  const input: Json = {};
  const key = 'command' in props ? 'command' : 'cmd' in props ? 'cmd' : 'command';
  const prop = props[key];
  const wantsArray = isObject(prop) && (prop.type === 'array' || (Array.isArray(prop.type) && prop.type.includes('array')));
  input[key] = wantsArray ? ['bash', '-lc', command] : command;
  for (const r of required) {
    if (r in input) continue;
    const p = props[r];
    const type = isObject(p) ? p.type : undefined;
    if (type === 'string' || (Array.isArray(type) && type.includes('string'))) input[r] = 'run a scripted command';
  }
  return input;
}

/** What one reply becomes, independent of protocol. */
type Answer = { kind: 'text'; text: string } | { kind: 'tool'; name: string; input: Json; callId: string };

let counter = 0;
const nextId = (prefix: string): string => `${prefix}_${Date.now().toString(36)}${(++counter).toString(36)}`;

function classify(method: string, path: string): WireProtocol {
  if (method !== 'POST') return 'other';
  if (path.endsWith('/chat/completions')) return 'openai-chat';
  if (path.endsWith('/responses')) return 'openai-responses';
  if (/\/messages$/.test(path)) return 'anthropic';
  if (/:(stream)?[gG]enerateContent$/.test(path)) return 'gemini';
  return 'other';
}

/** The tools a request offers, in a protocol-neutral shape. */
function offeredTools(protocol: WireProtocol, body: Json): OfferedTool[] {
  const tools = Array.isArray(body.tools) ? body.tools : [];
  const out: OfferedTool[] = [];
  for (const t of tools) {
    if (!isObject(t)) continue;
    if (protocol === 'openai-chat' && isObject(t.function) && typeof t.function.name === 'string') {
      out.push({ name: t.function.name, schema: isObject(t.function.parameters) ? t.function.parameters : {} });
    } else if (protocol === 'openai-responses' && typeof t.name === 'string') {
      out.push({ name: t.name, schema: isObject(t.parameters) ? t.parameters : {} });
    } else if (protocol === 'openai-responses' && t.type === 'local_shell') {
      out.push({ name: 'local_shell', schema: {} });
    } else if (protocol === 'anthropic' && typeof t.name === 'string') {
      out.push({ name: t.name, schema: isObject(t.input_schema) ? t.input_schema : {} });
    } else if (protocol === 'gemini' && Array.isArray(t.functionDeclarations)) {
      for (const f of t.functionDeclarations) {
        if (!isObject(f) || typeof f.name !== 'string') continue;
        const schema = isObject(f.parametersJsonSchema) ? f.parametersJsonSchema : isObject(f.parameters) ? f.parameters : {};
        out.push({ name: f.name, schema });
      }
    }
  }
  return out;
}

function sse(res: ServerResponse): (data: unknown, event?: string) => void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  return (data, event) => {
    res.write(`${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

// ---- OpenAI chat completions (OpenCode) -------------------------------------------------------

function answerOpenAIChat(res: ServerResponse, body: Json, answer: Answer): void {
  const id = nextId('chatcmpl');
  const model = typeof body.model === 'string' ? body.model : 'm';
  const created = Math.floor(Date.now() / 1000);
  const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
  const finish = answer.kind === 'tool' ? 'tool_calls' : 'stop';
  const toolCall = answer.kind === 'tool' ? { id: answer.callId, type: 'function', function: { name: answer.name, arguments: JSON.stringify(answer.input) } } : undefined;
  if (body.stream !== true) {
    const message = answer.kind === 'text' ? { role: 'assistant', content: answer.text } : { role: 'assistant', content: null, tool_calls: [toolCall] };
    sendJson(res, 200, { id, object: 'chat.completion', created, model, choices: [{ index: 0, message, finish_reason: finish }], usage });
    return;
  }
  const send = sse(res);
  const chunk = (delta: Json, finishReason: string | null, extra: Json = {}) => ({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finishReason }], ...extra });
  send(chunk({ role: 'assistant', content: '' }, null));
  if (answer.kind === 'text') send(chunk({ content: answer.text }, null));
  else send(chunk({ tool_calls: [{ index: 0, ...toolCall }] }, null));
  send(chunk({}, finish));
  send({ id, object: 'chat.completion.chunk', created, model, choices: [], usage });
  send('[DONE]');
  res.end();
}

// ---- OpenAI Responses (Codex) -----------------------------------------------------------------

function answerOpenAIResponses(res: ServerResponse, body: Json, answer: Answer): void {
  const id = nextId('resp');
  const model = typeof body.model === 'string' ? body.model : 'm';
  const base = { id, object: 'response', created_at: Math.floor(Date.now() / 1000), model };
  const item =
    answer.kind === 'text'
      ? { type: 'message', id: nextId('msg'), role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: answer.text, annotations: [] }] }
      : answer.name === 'local_shell'
        ? { type: 'local_shell_call', id: nextId('lsh'), call_id: answer.callId, status: 'completed', action: { type: 'exec', command: answer.input.command, env: {} } }
        : { type: 'function_call', id: nextId('fc'), call_id: answer.callId, name: answer.name, arguments: JSON.stringify(answer.input), status: 'completed' };
  const usage = { input_tokens: 10, input_tokens_details: { cached_tokens: 0 }, output_tokens: 5, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 15 };
  if (body.stream !== true) {
    sendJson(res, 200, { ...base, status: 'completed', output: [item], usage });
    return;
  }
  const send = sse(res);
  let seq = 0;
  const event = (type: string, data: Json) => send({ type, sequence_number: seq++, ...data }, type);
  event('response.created', { response: { ...base, status: 'in_progress', output: [] } });
  event('response.in_progress', { response: { ...base, status: 'in_progress', output: [] } });
  if (item.type === 'message') {
    event('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } });
    event('response.content_part.added', { item_id: item.id, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } });
    event('response.output_text.delta', { item_id: item.id, output_index: 0, content_index: 0, delta: (item.content as Json[])[0].text });
    event('response.output_text.done', { item_id: item.id, output_index: 0, content_index: 0, text: (item.content as Json[])[0].text });
    event('response.content_part.done', { item_id: item.id, output_index: 0, content_index: 0, part: (item.content as Json[])[0] });
  } else {
    event('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress' } });
  }
  event('response.output_item.done', { output_index: 0, item });
  event('response.completed', { response: { ...base, status: 'completed', output: [item], usage } });
  res.end();
}

// ---- Anthropic Messages (Claude Code) ---------------------------------------------------------

function answerAnthropic(res: ServerResponse, body: Json, answer: Answer): void {
  const id = nextId('msg');
  const model = typeof body.model === 'string' ? body.model : 'm';
  const block = answer.kind === 'text' ? { type: 'text', text: answer.text } : { type: 'tool_use', id: answer.callId, name: answer.name, input: answer.input };
  const stopReason = answer.kind === 'tool' ? 'tool_use' : 'end_turn';
  const usage = { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  if (body.stream !== true) {
    sendJson(res, 200, { id, type: 'message', role: 'assistant', model, content: [block], stop_reason: stopReason, stop_sequence: null, usage });
    return;
  }
  const send = sse(res);
  const event = (type: string, data: Json) => send({ type, ...data }, type);
  event('message_start', { message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } });
  if (block.type === 'text') {
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: block.text } });
  } else {
    event('content_block_start', { index: 0, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
    event('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
  }
  event('content_block_stop', { index: 0 });
  event('message_delta', { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: 5 } });
  event('message_stop', {});
  res.end();
}

// ---- Gemini generateContent (Gemini CLI) ------------------------------------------------------

/** A minimal JSON value satisfying a (simple) schema: side requests ask for structured answers. */
function sampleForSchema(schema: unknown): unknown {
  if (!isObject(schema)) return {};
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const type = typeof schema.type === 'string' ? schema.type.toLowerCase() : Array.isArray(schema.type) ? String(schema.type[0]).toLowerCase() : 'object';
  switch (type) {
    case 'string':
      return 'ok';
    case 'number':
    case 'integer':
      return 0;
    case 'boolean':
      return false;
    case 'array':
      return [];
    default: {
      const out: Json = {};
      const props = isObject(schema.properties) ? schema.properties : {};
      for (const [k, v] of Object.entries(props)) out[k] = sampleForSchema(v);
      return out;
    }
  }
}

function answerGemini(res: ServerResponse, path: string, body: Json, answer: Answer): void {
  const part = answer.kind === 'text' ? { text: answer.text } : { functionCall: { id: answer.callId, name: answer.name, args: answer.input } };
  const payload = {
    candidates: [{ content: { role: 'model', parts: [part] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 },
    modelVersion: 'm',
    responseId: nextId('gen'),
  };
  if (!path.endsWith(':streamGenerateContent')) {
    sendJson(res, 200, payload);
    return;
  }
  const send = sse(res);
  send(payload);
  res.end();
}

/** A side request's text: structured output where the request asks for JSON, else a short line. */
function sideText(protocol: WireProtocol, body: Json): string {
  if (protocol === 'gemini' && isObject(body.generationConfig)) {
    const g = body.generationConfig;
    if (g.responseMimeType === 'application/json') return JSON.stringify(sampleForSchema(g.responseJsonSchema ?? g.responseSchema));
  }
  if (protocol === 'openai-chat' && isObject(body.response_format)) return '{}';
  return 'Scripted session';
}

// ---- server -----------------------------------------------------------------------------------

async function readBody(req: IncomingMessage): Promise<{ text: string; bytes: number }> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const c of req) {
    const b = c as Buffer;
    bytes += b.length;
    if (bytes > MAX_BODY_BYTES) throw new Error(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(b);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), bytes };
}

/** Starts a scripted model server on 127.0.0.1 (a free port). */
export async function startModelServer(script: ScriptedReply[] = []): Promise<ModelServer> {
  const queue = [...script];
  const requests: RecordedRequest[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const { text, bytes } = await readBody(req);
    let body: Json = {};
    try {
      const parsed: unknown = text ? JSON.parse(text) : {};
      if (isObject(parsed)) body = parsed;
    } catch {
      // Not JSON (e.g. telemetry): recorded, answered below.
    }
    const protocol = classify(method, path);
    const record: RecordedRequest = { method, path, protocol, bodyBytes: bytes, agentic: false, body };
    requests.push(record);
    const older = requests[requests.length - 1 - KEPT_BODIES];
    if (older) delete older.body;

    if (protocol === 'other') {
      if (method === 'HEAD') {
        res.writeHead(200);
        res.end();
      } else if (path.endsWith('/messages/count_tokens')) sendJson(res, 200, { input_tokens: 10 });
      else if (path.endsWith(':countTokens')) sendJson(res, 200, { totalTokens: 10 });
      else if (method === 'GET' && path.endsWith('/models')) sendJson(res, 200, { object: 'list', data: [{ id: 'm', object: 'model', created: 0, owned_by: 'scripted' }], models: [] });
      else sendJson(res, 404, { error: { message: `scripted model server: no route ${method} ${path}`, type: 'not_found' } });
      return;
    }

    const shell = findShellTool(offeredTools(protocol, body));
    record.agentic = shell !== undefined;
    let answer: Answer = { kind: 'text', text: shell ? FINAL_TEXT : sideText(protocol, body) };
    if (shell) {
      const reply = queue.shift();
      if (reply) {
        record.reply = reply;
        answer = 'text' in reply ? { kind: 'text', text: reply.text } : { kind: 'tool', name: shell.name, input: shellToolInput(shell, reply.command), callId: nextId('call') };
      }
    }
    if (protocol === 'openai-chat') answerOpenAIChat(res, body, answer);
    else if (protocol === 'openai-responses') answerOpenAIResponses(res, body, answer);
    else if (protocol === 'anthropic') answerAnthropic(res, body, answer);
    else answerGemini(res, path, body, answer);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(e), type: 'server_error' } });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    enqueue: (...replies) => {
      queue.push(...replies);
    },
    remaining: () => queue.length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
