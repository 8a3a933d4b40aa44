/**
 * The scripted model server on its own (fast; the real agents drive it in agents-offline.test.ts):
 * which requests take script replies, how a shell call is shaped by the offered tool's schema in
 * each protocol, and that it keeps only a few request bodies.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startModelServer } from './helpers/model-server.js';

type Json = Record<string, unknown>;

async function post(url: string, body: Json): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, text: await res.text() };
}

/** The `data:` payloads of an SSE body, parsed (`[DONE]` dropped). */
function sseData(text: string): Json[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]')
    .map((l) => JSON.parse(l.slice(6)) as Json);
}

const bashSchema = { type: 'object', properties: { command: { type: 'string' }, description: { type: 'string' } }, required: ['command', 'description'] };

test('OpenAI chat: side requests leave the script alone; agentic ones take replies in order, then "Done."', async () => {
  const server = await startModelServer([{ tool: 'bash', command: 'echo hi' }, { text: 'all set' }]);
  try {
    const url = `${server.url}/v1/chat/completions`;
    const tools = [{ type: 'function', function: { name: 'bash', parameters: bashSchema } }];
    const title = JSON.parse((await post(url, { model: 'm', messages: [] })).text) as { choices: { message: { content: string } }[] };
    assert.equal(title.choices[0].message.content, 'Scripted session');
    assert.equal(server.remaining(), 2);

    const call = sseData((await post(url, { model: 'm', stream: true, messages: [], tools })).text);
    const toolCall = (call[1].choices as { delta: { tool_calls: { function: { name: string; arguments: string } }[] } }[])[0].delta.tool_calls[0];
    assert.equal(toolCall.function.name, 'bash');
    // Required string fields besides the command get a filler.
    assert.deepEqual(JSON.parse(toolCall.function.arguments), { command: 'echo hi', description: 'run a scripted command' });
    assert.equal((call[2].choices as { finish_reason: string }[])[0].finish_reason, 'tool_calls');

    const texts = [];
    for (let i = 0; i < 2; i++) {
      const chunks = sseData((await post(url, { model: 'm', stream: true, messages: [], tools })).text);
      texts.push((chunks[1].choices as { delta: { content: string } }[])[0].delta.content);
    }
    assert.deepEqual(texts, ['all set', 'Done.']);
    assert.deepEqual(
      server.requests.map((r) => [r.agentic, r.reply]),
      [
        [false, undefined],
        [true, { tool: 'bash', command: 'echo hi' }],
        [true, { text: 'all set' }],
        [true, undefined],
      ],
    );
  } finally {
    await server.close();
  }
});

test("each protocol calls the agent's own shell tool with the input its schema asks for", async () => {
  const server = await startModelServer();
  try {
    server.enqueue({ tool: 'bash', command: 'ls' }, { tool: 'bash', command: 'ls' }, { tool: 'bash', command: 'ls' }, { tool: 'bash', command: 'ls' });

    const anthropic = sseData((await post(`${server.url}/v1/messages?beta=true`, { model: 'c', stream: true, tools: [{ name: 'Read', input_schema: {} }, { name: 'Bash', input_schema: { properties: { command: { type: 'string' } } } }] })).text);
    assert.deepEqual(
      anthropic.map((e) => e.type),
      ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'],
    );
    assert.equal((anthropic[1].content_block as Json).name, 'Bash');
    assert.deepEqual(JSON.parse((anthropic[2].delta as { partial_json: string }).partial_json), { command: 'ls' });
    assert.equal((anthropic[4].delta as Json).stop_reason, 'tool_use');

    const responses = sseData((await post(`${server.url}/v1/responses`, { model: 'm', stream: true, tools: [{ type: 'function', name: 'exec_command', parameters: { properties: { cmd: { type: 'string' } }, required: ['cmd'] } }] })).text);
    const item = responses.find((e) => e.type === 'response.output_item.done')!.item as Json;
    assert.deepEqual([item.type, item.name, JSON.parse(item.arguments as string)], ['function_call', 'exec_command', { cmd: 'ls' }]);
    assert.equal(responses.at(-1)!.type, 'response.completed');

    // An argv-shaped command (Codex's older `shell` tool).
    const argv = JSON.parse((await post(`${server.url}/v1/responses`, { model: 'm', tools: [{ type: 'function', name: 'shell', parameters: { properties: { command: { type: 'array' } } } }] })).text) as { output: Json[] };
    assert.deepEqual(JSON.parse(argv.output[0].arguments as string), { command: ['bash', '-lc', 'ls'] });

    const gemini = sseData((await post(`${server.url}/v1beta/models/g:streamGenerateContent?alt=sse`, { tools: [{ functionDeclarations: [{ name: 'run_shell_command', parametersJsonSchema: { properties: { command: { type: 'string' } } } }] }] })).text);
    const part = ((gemini[0].candidates as Json[])[0].content as { parts: Json[] }).parts[0];
    assert.deepEqual(part.functionCall && { name: (part.functionCall as Json).name, args: (part.functionCall as Json).args }, { name: 'run_shell_command', args: { command: 'ls' } });
    assert.equal(server.remaining(), 0);
  } finally {
    await server.close();
  }
});

test('Gemini side requests asking for JSON get a value of the requested schema', async () => {
  const server = await startModelServer([{ text: 'kept for the agent' }]);
  try {
    const schema = { type: 'OBJECT', properties: { reasoning: { type: 'STRING' }, next_speaker: { type: 'STRING', enum: ['user', 'model'] } } };
    const res = JSON.parse((await post(`${server.url}/v1beta/models/g:generateContent`, { generationConfig: { responseMimeType: 'application/json', responseSchema: schema } })).text) as { candidates: { content: { parts: { text: string }[] } }[] };
    assert.deepEqual(JSON.parse(res.candidates[0].content.parts[0].text), { reasoning: 'ok', next_speaker: 'user' });
    assert.equal(server.remaining(), 1);
  } finally {
    await server.close();
  }
});

test('only the latest request bodies are kept; unknown routes get a 404 that names them', async () => {
  const server = await startModelServer();
  try {
    for (let i = 0; i < 12; i++) await post(`${server.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'x'.repeat(1000) }] });
    assert.equal(server.requests.length, 12);
    assert.deepEqual(
      server.requests.map((r) => r.body !== undefined),
      [...Array(4).fill(false), ...Array(8).fill(true)],
    );
    assert.ok(server.requests.every((r) => r.bodyBytes > 1000));
    const missing = await post(`${server.url}/v2/nothing`, {});
    assert.equal(missing.status, 404);
    assert.match(missing.text, /no route POST \/v2\/nothing/);
    const head = await fetch(server.url, { method: 'HEAD' });
    assert.equal(head.status, 200);
  } finally {
    await server.close();
  }
});
