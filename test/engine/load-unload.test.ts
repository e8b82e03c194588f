/**
 * The engine's llama-server router-mode routes, POST /models/unload and /models/load, on a real engine with a real
 * tiny model: unload frees the model (health says so, requests get 503 OpenAI JSON, a generation in progress ends),
 * load brings it back, both are key-protected and check the model name, and the engine still stops cleanly.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import OpenAI from 'openai';
import { tinyModel } from '../helpers/models.js';
import { waitFor } from '../helpers/router.js';
import { postJson, startEngine, stopAll, type RunningEngine } from './harness.js';

const KEY = 'engine-test-key';
const auth = { authorization: `Bearer ${KEY}` };
let engine: RunningEngine;

beforeAll(async () => {
  const model = await tinyModel({ ctx: 8192 });
  engine = await startEngine(['-m', model, '-c', '8192', '-np', '1', '-a', 'tiny', '--api-key', KEY]);
  await engine.waitReady(60_000);
}, 90_000);

afterAll(async () => {
  await stopAll();
});

async function health(): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${engine.url}/health`);
  return { status: res.status, body: await res.json() };
}

const chatBody = { model: 'tiny', messages: [{ role: 'user' as const, content: 'Hello' }], max_tokens: 4 };

describe('POST /models/unload and /models/load', () => {
  it('need the key', async () => {
    for (const path of ['/models/unload', '/models/load']) {
      const { status, json } = await postJson(`${engine.url}${path}`, {});
      expect(status).toBe(401);
      expect(json.error.type).toBe('authentication_error');
    }
    expect((await health()).status).toBe(200);
  });

  it('refuse a model name that is not this engine\'s', async () => {
    const { status, json } = await postJson(`${engine.url}/models/unload`, { model: 'other' }, auth);
    expect(status).toBe(400);
    expect(json.error.message).toMatch(/serves 'tiny', not 'other'/);
    expect((await health()).status).toBe(200);
  });

  it('unload frees the model: health 503 unloaded, requests 503 OpenAI JSON, /models says unloaded', async () => {
    const { status, json } = await postJson(`${engine.url}/models/unload`, { model: 'tiny' }, auth);
    expect(status).toBe(200);
    expect(json).toEqual({ success: true });
    expect(await health()).toEqual({ status: 503, body: { status: 'unloaded' } });

    const chat = await postJson(`${engine.url}/v1/chat/completions`, chatBody, auth);
    expect(chat.status).toBe(503);
    expect(chat.json.error).toMatchObject({ type: 'unavailable_error', code: 503 });
    expect(chat.json.error.message).toMatch(/unloaded/);

    const models = (await (await fetch(`${engine.url}/models`, { headers: auth })).json()) as { data: any[] };
    expect(models.data[0].status.value).toBe('unloaded');
    expect(models.data[0].meta).toBeNull();

    // Unloading what is unloaded is not an error (a router may retry).
    expect((await postJson(`${engine.url}/models/unload`, {}, auth)).status).toBe(200);
    await waitFor('engine log /model unloaded in \d+ ms/', () => /model unloaded in \d+ ms/.test(engine.stderr()));
  });

  it('load brings it back: 200 once ready, then health ok and the official client gets an answer', async () => {
    const { status, json } = await postJson(`${engine.url}/models/load`, { model: 'tiny' }, auth);
    expect(status).toBe(200);
    expect(json).toEqual({ success: true });
    expect(await health()).toEqual({ status: 200, body: { status: 'ok' } });
    const client = new OpenAI({ baseURL: `${engine.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const reply = await client.chat.completions.create(chatBody);
    expect(reply.choices[0]!.message.role).toBe('assistant');
    expect(reply.usage!.completion_tokens).toBeGreaterThan(0);
    // Loading what is loaded answers at once.
    expect((await postJson(`${engine.url}/models/load`, {}, auth)).status).toBe(200);
    await waitFor('engine log /model loaded again in \d+ ms/', () => /model loaded again in \d+ ms/.test(engine.stderr()));
  });

  it('unload during a generation ends it with an SSE error event, then unloads', async () => {
    const res = await fetch(`${engine.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ ...chatBody, stream: true, ignore_eos: true, max_tokens: 100000 }),
    });
    expect(res.status).toBe(200);
    const events: string[] = [];
    const parser = createParser({ onEvent: (e: EventSourceMessage) => events.push(e.data) });
    const decoder = new TextDecoder();
    const reader = (res.body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    // Wait until tokens flow, so the unload meets a generation in progress.
    while (events.length < 3) {
      const { value, done } = await reader.next();
      if (done) throw new Error('stream ended early');
      parser.feed(decoder.decode(value, { stream: true }));
    }
    const unload = postJson(`${engine.url}/models/unload`, {}, auth);
    for (;;) {
      const { value, done } = await reader.next();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
    expect((await unload).status).toBe(200);
    const last = JSON.parse(events.at(-1)!);
    expect(last.error).toMatchObject({ type: 'unavailable_error', code: 503 });
    expect(events).not.toContain('[DONE]');
    expect(await health()).toEqual({ status: 503, body: { status: 'unloaded' } });
    expect((await postJson(`${engine.url}/models/load`, {}, auth)).status).toBe(200);
    expect((await postJson(`${engine.url}/v1/chat/completions`, chatBody, auth)).status).toBe(200);
  });

  it('an unloaded engine still stops cleanly on SIGTERM', async () => {
    expect((await postJson(`${engine.url}/models/unload`, {}, auth)).status).toBe(200);
    expect(await engine.stop()).toBe(0);
  });
});
