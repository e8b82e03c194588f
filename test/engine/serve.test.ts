/**
 * The engine over HTTP with a real tiny model: readiness, the OpenAI routes (plain fetch and the official client),
 * token budgets, errors, and a client abort freeing the only slot.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import OpenAI from 'openai';
import { tinyModel } from '../helpers/models.js';
import { waitFor } from '../helpers/wait.js';
import { postJson, startEngine, stopAll, type RunningEngine } from './harness.js';


let engine: RunningEngine;
let healthSeen: number[];

beforeAll(async () => {
  // ctx 8192 leaves room for a long ignore_eos generation in the abort test.
  const model = await tinyModel({ ctx: 8192 });
  engine = await startEngine(['-m', model, '-c', '8192', '-np', '1', '-a', 'tiny', '--jinja', '-fa', 'on']);
  healthSeen = await engine.waitReady();
});

afterAll(async () => {
  await stopAll();
});

const chat = (extra: Record<string, unknown> = {}) => ({
  model: 'tiny',
  messages: [{ role: 'user', content: 'Hello there' }],
  max_tokens: 16,
  ...extra,
});

/** The engine's queue length, from /stats. */
async function queuedAtEngine(): Promise<number> {
  return ((await (await fetch(`${engine.url}/stats`)).json()) as { queued: number }).queued;
}

/** POST and collect the SSE events of the answer. */
async function stream(path: string, body: unknown): Promise<{ status: number; events: string[] }> {
  const res = await fetch(`${engine.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: string[] = [];
  const parser = createParser({ onEvent: (e: EventSourceMessage) => events.push(e.data) });
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  return { status: res.status, events };
}

describe('engine over HTTP', () => {
  it('answers /health 503 while loading, then 200', async () => {
    expect(healthSeen[0]).toBe(503);
    expect(healthSeen.at(-1)).toBe(200);
    const res = await fetch(`${engine.url}/health`);
    expect(await res.json()).toEqual({ status: 'ok' });
    expect(engine.stderr()).toMatch(/listening on http/);
    expect(engine.stderr()).toMatch(/model ready in \d+ ms/);
  });

  it('lists the model under its alias', async () => {
    for (const path of ['/v1/models', '/models']) {
      const res = await fetch(`${engine.url}${path}`);
      const body = (await res.json()) as { object: string; data: Array<{ id: string; object: string }> };
      expect(body.object).toBe('list');
      expect(body.data.map((m) => m.id)).toEqual(['tiny']);
    }
  });

  it('serves a chat completion', async () => {
    const { status, json } = await postJson(`${engine.url}/v1/chat/completions`, chat());
    expect(status).toBe(200);
    expect(json.object).toBe('chat.completion');
    expect(json.model).toBe('tiny');
    expect(json.choices[0].message.role).toBe('assistant');
    expect(typeof json.choices[0].message.content).toBe('string');
    expect(['stop', 'length']).toContain(json.choices[0].finish_reason);
    const u = json.usage;
    expect(u.prompt_tokens).toBeGreaterThan(0);
    expect(u.completion_tokens).toBeGreaterThan(0);
    expect(u.completion_tokens).toBeLessThanOrEqual(16);
    expect(u.total_tokens).toBe(u.prompt_tokens + u.completion_tokens);
  });

  it('streams a chat completion: role chunk, deltas, finish chunk, usage chunk, [DONE]', async () => {
    const { status, events } = await stream('/v1/chat/completions', chat({ stream: true, stream_options: { include_usage: true }, ignore_eos: true, max_tokens: 12 }));
    expect(status).toBe(200);
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    for (const c of chunks) expect(c.object).toBe('chat.completion.chunk');
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    const usage = chunks.at(-1);
    expect(usage.choices).toEqual([]);
    expect(usage.usage.completion_tokens).toBe(12);
    const finish = chunks.at(-2);
    expect(finish.choices[0].finish_reason).toBe('length');
    const deltas = chunks.slice(1, -2);
    expect(deltas.length).toBeGreaterThan(0);
    for (const d of deltas) {
      expect(typeof d.choices[0].delta.content).toBe('string');
      expect(d.choices[0].finish_reason).toBeNull();
    }
  });

  it('serves text completions, streaming and not', async () => {
    const { status, json } = await postJson(`${engine.url}/v1/completions`, { prompt: 'Once upon a time', max_tokens: 8 });
    expect(status).toBe(200);
    expect(json.object).toBe('text_completion');
    expect(typeof json.choices[0].text).toBe('string');
    expect(json.usage.total_tokens).toBe(json.usage.prompt_tokens + json.usage.completion_tokens);

    const s = await stream('/v1/completions', { prompt: 'Once upon a time', max_tokens: 8, stream: true, ignore_eos: true });
    expect(s.events.at(-1)).toBe('[DONE]');
    const chunks = s.events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.at(-1).choices[0].finish_reason).toBe('length');
    expect(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null)).toBe(true);
  });

  it('generates exactly max_tokens tokens with ignore_eos', async () => {
    for (const path of ['/v1/chat/completions', '/v1/completions']) {
      const body = path.includes('chat') ? chat({ max_tokens: 20, ignore_eos: true }) : { prompt: 'x', max_tokens: 20, ignore_eos: true };
      const { json } = await postJson(`${engine.url}${path}`, body);
      expect(json.usage.completion_tokens).toBe(20);
      expect(json.choices[0].finish_reason).toBe('length');
    }
  });

  it('honours stop strings and n_predict', async () => {
    const { json } = await postJson(`${engine.url}/v1/completions`, { prompt: 'abc', n_predict: 5, ignore_eos: true, temperature: 0 });
    expect(json.usage.completion_tokens).toBe(5);
    // Whatever the greedy text is, stopping on its second character must cut it before that character.
    const full = await postJson(`${engine.url}/v1/completions`, { prompt: 'abc', max_tokens: 30, ignore_eos: true, temperature: 0 });
    const text: string = full.json.choices[0].text;
    if (text.length >= 2) {
      const stopped = await postJson(`${engine.url}/v1/completions`, { prompt: 'abc', max_tokens: 30, ignore_eos: true, temperature: 0, stop: [text.slice(1, 2)] });
      expect(stopped.json.choices[0].finish_reason).toBe('stop');
      expect(stopped.json.choices[0].text).toBe(text.slice(0, text.indexOf(text[1]!)));
    }
  });

  it('computes embeddings for a string and an array', async () => {
    const one = await postJson(`${engine.url}/v1/embeddings`, { input: 'hello' });
    expect(one.status).toBe(200);
    expect(one.json.object).toBe('list');
    expect(one.json.data).toHaveLength(1);
    expect(one.json.data[0].embedding.length).toBeGreaterThan(0);
    expect(one.json.usage.prompt_tokens).toBeGreaterThan(0);
    const two = await postJson(`${engine.url}/v1/embeddings`, { input: ['a', 'b c'] });
    expect(two.json.data.map((d: { index: number }) => d.index)).toEqual([0, 1]);
  });

  it('answers malformed requests with 400 OpenAI errors, unknown routes with 404', async () => {
    const bad: Array<[string, string | object]> = [
      ['/v1/chat/completions', '{"messages": ['],
      ['/v1/chat/completions', {}],
      ['/v1/chat/completions', { messages: 'hi' }],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], max_tokens: 'many' }],
      ['/v1/completions', { prompt: 42 }],
      ['/v1/embeddings', { input: 7 }],
    ];
    for (const [path, body] of bad) {
      const { status, json } = await postJson(`${engine.url}${path}`, body);
      expect(status).toBe(400);
      expect(json.error.type).toBe('invalid_request_error');
      expect(typeof json.error.message).toBe('string');
    }
    const tooLong = await postJson(`${engine.url}/v1/completions`, { prompt: 'z'.repeat(9000), max_tokens: 4 });
    expect(tooLong.status).toBe(400);
    expect(tooLong.json.error.type).toBe('exceed_context_size_error');
    const res = await fetch(`${engine.url}/v1/nothing`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/json/);
    expect(((await res.json()) as { error: { code: number } }).error.code).toBe(404);
  });

  it('talks to the official openai client, with and without stream', async () => {
    const client = new OpenAI({ baseURL: `${engine.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const done = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 });
    expect(done.choices[0]!.message.role).toBe('assistant');
    expect(done.usage!.completion_tokens).toBeGreaterThan(0);

    const s = await client.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of s) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(typeof text).toBe('string');
    expect(usage!.completion_tokens).toBeGreaterThan(0);

    const emb = await client.embeddings.create({ model: 'tiny', input: 'hello' });
    expect(emb.data[0]!.embedding.length).toBeGreaterThan(0);
    const models = await client.models.list();
    expect(models.data[0]!.id).toBe('tiny');
  });

  it('frees the only slot at once when a client aborts a long generation', async () => {
    // Calibrate: how long do 200 tokens take here?
    const t0 = performance.now();
    await postJson(`${engine.url}/v1/completions`, { prompt: 'x', max_tokens: 200, ignore_eos: true });
    const per200 = performance.now() - t0;

    // A generation that would run for thousands of tokens, aborted once it is under way.
    const controller = new AbortController();
    const long = fetch(`${engine.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'x', max_tokens: 8000, ignore_eos: true, stream: true }),
      signal: controller.signal,
    });
    const res = await long;
    const reader = res.body!.getReader();
    await reader.read(); // the first event: generation has started and holds the slot
    let stats = (await (await fetch(`${engine.url}/stats`)).json()) as { in_flight: number };
    expect(stats.in_flight).toBe(1);
    const slots = (await (await fetch(`${engine.url}/slots`)).json()) as Array<{ id: number; is_processing: boolean }>;
    expect(slots).toEqual([expect.objectContaining({ id: 0, is_processing: true })]);

    // A second client queues behind it, then leaves: it must leave the queue too.
    const queuedLeaves = new AbortController();
    const queued = fetch(`${engine.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'y', max_tokens: 5 }),
      signal: queuedLeaves.signal,
    }).catch((err: unknown) => err);
    await waitFor('the second client queued', async () => (await queuedAtEngine()) === 1, 5_000, 20);
    queuedLeaves.abort();
    await queued;
    await waitFor('the second client gone from the queue', async () => (await queuedAtEngine()) === 0, 5_000, 20);

    controller.abort();

    const t1 = performance.now();
    const { json } = await postJson(`${engine.url}/v1/completions`, { prompt: 'x', max_tokens: 5, ignore_eos: true });
    const waited = performance.now() - t1;
    expect(json.usage.completion_tokens).toBe(5);
    // 8000 tokens would take ~40 x per200; being served must take about as long as 5 tokens, well under per200 x 5.
    expect(waited).toBeLessThan(Math.max(1000, per200 * 5));
    stats = (await (await fetch(`${engine.url}/stats`)).json()) as { in_flight: number; max_in_flight: number };
    expect(stats).toMatchObject({ in_flight: 0, max_in_flight: 1, queued: 0 });
    // The aborted one ended long before its 8000 tokens (log line says the client closed).
    expect(engine.stderr()).toMatch(/POST \/v1\/completions 200 \d+ms \(client closed\)/);
  });
});

// response_format on the bundled engine: JSON schema and JSON object answers are generated under node-llama-cpp
// grammars (not plain text with a 200), and what it cannot honour (tools, logprobs) is a 400 naming the field.
const jsonClient = () => new OpenAI({ baseURL: `${engine.url}/v1`, apiKey: 'none', maxRetries: 0 });

test('json_schema: the answer is JSON that matches the schema, whatever the (random) model would say', async () => {
  for (const seed of [1, 2, 3]) {
    const res = await jsonClient().chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'yes or no?' }],
      max_tokens: 64,
      seed,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'pick', schema: { type: 'object', properties: { answer: { enum: ['yes', 'no'] } }, required: ['answer'], additionalProperties: false } },
      },
    });
    expect(res.choices[0]!.finish_reason).toBe('stop');
    const parsed = JSON.parse(res.choices[0]!.message.content!);
    expect(Object.keys(parsed)).toEqual(['answer']);
    expect(['yes', 'no']).toContain(parsed.answer);
  }
});

test('json_object: the answer starts as a JSON object (and parses when it ends by itself)', async () => {
  const res = await jsonClient().chat.completions.create({
    model: 'tiny',
    messages: [{ role: 'user', content: 'some JSON please' }],
    max_tokens: 48,
    seed: 7,
    response_format: { type: 'json_object' },
  });
  const text = res.choices[0]!.message.content!;
  expect(text.trimStart().startsWith('{')).toBe(true);
  if (res.choices[0]!.finish_reason === 'stop') expect(() => JSON.parse(text)).not.toThrow();
});

test('a schema node-llama-cpp cannot turn into a grammar is a 400 naming response_format, streamed or not', async () => {
  for (const stream of [false, true]) {
    const res = await postJson(`${engine.url}/v1/chat/completions`, {
      model: 'tiny',
      messages: [{ role: 'user', content: 'hi' }],
      stream,
      response_format: { type: 'json_schema', json_schema: { name: 'bad', schema: { oneOf: 3 } } },
    });
    // Not a 200 stream with an error event: the grammar is built before the stream starts.
    expect({ stream, status: res.status, param: res.json?.error?.param }).toEqual({ stream, status: 400, param: 'response_format' });
    expect(res.json.error.message).toMatch(/the schema cannot be used/);
  }
});

test('tools and logprobs are a 400 naming the field', async () => {
  const tools = await postJson(`${engine.url}/v1/chat/completions`, {
    model: 'tiny',
    messages: [{ role: 'user', content: 'hi' }],
    tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
  });
  expect(tools.status).toBe(400);
  expect(tools.json.error).toMatchObject({ type: 'invalid_request_error', param: 'tools' });
  expect(tools.json.error.message).toMatch(/"tools" is not supported by the bundled engine/);
  const lp = await postJson(`${engine.url}/v1/chat/completions`, { model: 'tiny', messages: [{ role: 'user', content: 'hi' }], logprobs: true });
  expect(lp.status).toBe(400);
  expect(lp.json.error.param).toBe('logprobs');
});
