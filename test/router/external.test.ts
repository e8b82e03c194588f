/**
 * External backends (`url =`), with real processes: the test starts a bundled engine itself and gives the router a
 * preset pointing at it, with the engine's own load/unload routes and a `memory =` figure. A CPU cap holds that
 * figure or a regular model's, not both. Proven: the external model is proxied (official client), counted (GET
 * /models), evicted through its unload route when memory is short, loaded again through its load route on the next
 * request; a load route that refuses fails the load with the backend's answer; a backend that is down gets OpenAI error JSON
 * with `retryable: true` while the router serves other models;
 * a backend that dies while loaded, or mid-stream, is reported the same way. Nothing is left running.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import getPort from 'get-port';
import OpenAI from 'openai';
import { startEngine, stopAll, type RunningEngine } from '../engine/harness.js';
import { modelEntry } from '../helpers/api.js';
import { tinyModel } from '../helpers/models.js';
import { chat, json, processesMentioning, startRouter, waitFor, type RunningRouter } from '../helpers/router.js';
import { openEvents, type EventStream } from '../ops/helpers.js';
import { presetFile } from './fixtures.js';

const MiB = 2 ** 20;
const ROUTER_KEY = 'router-key';
const ENGINE_KEY = 'engine-key';
const auth = { authorization: `Bearer ${ROUTER_KEY}` };

describe('external backend: a bundled engine the router did not start', () => {
  let dir: string;
  let engine: RunningEngine;
  let r: RunningRouter;
  let sse: EventStream;
  let client: OpenAI;
  /** A port nothing listens on: the backend that is down. */
  let deadPort: number;

  const engineHealth = async () => {
    const res = await fetch(`${engine.url}/health`);
    return { status: res.status, body: await res.json() };
  };
  const entry = (id: string) => modelEntry(r.url, id, ROUTER_KEY);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'router-external-'));
    const model = await tinyModel();
    // The engine is named like the router's model, so the load/unload bodies can name it and it checks the name.
    engine = await startEngine(['-m', model, '-a', 'ext', '-c', '512', '--api-key', ENGINE_KEY]);
    await engine.waitReady(60_000);
    deadPort = await getPort({ host: '127.0.0.1' });
    const preset = presetFile(
      dir,
      `[reg]
model = ${model}
memory = CPU:300MiB

[ext]
url = http://127.0.0.1:${engine.port}
load = POST /models/load {"model": "ext"}
unload = POST /models/unload {"model": "ext"}
memory = CPU:300MiB
env.API_KEY = ${ENGINE_KEY}

; The same engine, loaded implicitly (no load route) and with no memory figure: counted only by --models-max.
[ext-lazy]
url = http://127.0.0.1:${engine.port}
env.API_KEY = ${ENGINE_KEY}

; Its load route refuses (the engine checks the name).
[ext-bad]
url = http://127.0.0.1:${engine.port}
load = POST /models/load {"model": "wrong"}
env.API_KEY = ${ENGINE_KEY}

[down]
url = http://127.0.0.1:${deadPort}
load = POST /models/load

[down-lazy]
url = http://127.0.0.1:${deadPort}
`,
    );
    r = await startRouter([
      '--models-preset', preset,
      '--api-key', ROUTER_KEY,
      '--state-dir', join(dir, 'state'),
      '--models-memory-margin', '0',
      '--models-memory-max', 'CPU=500MiB',
      '--load-timeout', '60',
    ]);
    sse = await openEvents(`${r.url}/models/sse`, auth);
    client = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: ROUTER_KEY, maxRetries: 0 });
  }, 120_000);

  afterAll(async () => {
    sse?.close();
    if (r) expect(await r.stop()).toBe(0);
    await stopAll();
    expect(processesMentioning(dir)).toEqual([]);
    expect(existsSync(`/proc/${engine.pid}`)).toBe(false);
    await rm(dir, { recursive: true, force: true });
  });

  const ask = (model: string) =>
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4 });

  test('is proxied (official client) and counted: loaded, with its memory = figure', async () => {
    // The router "unloaded" it: until the first request the engine is left as it is.
    expect((await entry('ext')).status.value).toBe('unloaded');
    const reply = await ask('ext');
    expect(reply.model).toBe('ext'); // the engine's own answer, under its own alias
    expect(reply.choices[0]!.message.role).toBe('assistant');
    const ext = await entry('ext');
    expect(ext.status.value).toBe('loaded');
    expect(ext.memory).toEqual({ devices: { CPU: 300 * MiB }, source: 'override' });
    expect(ext.pid).toBeUndefined(); // no process of ours
    expect(await engineHealth()).toEqual({ status: 200, body: { status: 'ok' } });
    // Its load route was called, with the preset's body (the engine checks the name). Engine output arrives
    // through a pipe, so wait for it rather than race it.
    await waitFor('engine log /POST \/models\/load 200/', () => /POST \/models\/load 200/.test(engine.stderr()));
  });

  test('without a load route it is loaded by its health alone; without memory = it holds no memory; unload calls nothing', async () => {
    const unloadsBefore = engine.stderr().match(/POST \/models\/unload/g)?.length ?? 0;
    expect((await ask('ext-lazy')).choices[0]!.message.role).toBe('assistant');
    const lazy = await entry('ext-lazy');
    expect(lazy.status.value).toBe('loaded');
    expect(lazy.memory).toBeUndefined();
    const res = await fetch(`${r.url}/models/unload`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ model: 'ext-lazy' }),
    });
    expect(res.status).toBe(200);
    await waitFor('ext-lazy unloaded', async () => (await entry('ext-lazy')).status.value === 'unloaded');
    // No unload route: the router only forgets it; the engine (ext's backend too) is untouched.
    expect(engine.stderr().match(/POST \/models\/unload/g)?.length ?? 0).toBe(unloadsBefore);
    expect(await engineHealth()).toEqual({ status: 200, body: { status: 'ok' } });
  });

  test('a load route that refuses fails the load with 503, the backend\'s status and body, retryable', async () => {
    const res = await chat(r.url, 'ext-bad', {}, { headers: auth });
    expect(res.status).toBe(503);
    const err = (await json(res)).error;
    expect(err).toMatchObject({ code: 'model_load_failed', type: 'server_error', retryable: true });
    expect(err.message).toContain(`POST http://127.0.0.1:${engine.port}/models/load answered 400`);
    expect(err.message).toContain("this engine serves 'ext', not 'wrong'");
    expect((await entry('ext-bad')).status.failed).toBeTruthy();
  });

  test('is evicted through its unload route when memory is short, and loaded again through its load route', async () => {
    // reg (300 MiB) and ext (300 MiB) do not fit under CPU=500MiB together: loading reg evicts ext.
    expect((await chat(r.url, 'reg', {}, { headers: auth })).status).toBe(200);
    const eviction = await sse.next((e) => e.event === 'eviction' && e.data.model === 'ext', 'eviction of ext');
    expect(eviction.data.reason).toBe('memory');
    await waitFor('ext unloaded in the router', async () => (await entry('ext')).status.value === 'unloaded');
    expect(await engineHealth()).toEqual({ status: 503, body: { status: 'unloaded' } });
    await waitFor('engine log /POST \/models\/unload 200/', () => /POST \/models\/unload 200/.test(engine.stderr()));
    await waitFor('engine log /model unloaded in \d+ ms/', () => /model unloaded in \d+ ms/.test(engine.stderr()));

    // The next request for ext loads it again through the load route (evicting reg if reg still holds the CPU).
    const reply = await ask('ext');
    expect(reply.choices[0]!.message.role).toBe('assistant');
    await waitFor('engine log /model loaded again in \d+ ms/', () => /model loaded again in \d+ ms/.test(engine.stderr()));
    expect(await engineHealth()).toEqual({ status: 200, body: { status: 'ok' } });
    expect((await entry('ext')).status.value).toBe('loaded');
  });

  test('a backend that is down: OpenAI error JSON with retryable, and the router keeps serving', async () => {
    // With a load route: the route cannot be reached, the load fails at once.
    const res = await chat(r.url, 'down', {}, { headers: auth });
    expect(res.status).toBe(502);
    const err = (await json(res)).error;
    expect(err).toMatchObject({ code: 'backend_unreachable', type: 'server_error', retryable: true });
    expect(err.message).toContain(`POST http://127.0.0.1:${deadPort}/models/load failed: ECONNREFUSED`);
    // Without one: health is polled; nothing ever answers, so it is down, not loading (UNREACHABLE_MS).
    const lazy = await chat(r.url, 'down-lazy', {}, { headers: auth });
    expect(lazy.status).toBe(502);
    expect((await json(lazy)).error).toMatchObject({ code: 'backend_unreachable', retryable: true });
    // Repeated failures back off: still JSON, still retryable.
    for (let i = 0; i < 2; i++) {
      const again = await chat(r.url, 'down', {}, { headers: auth });
      expect([502, 503]).toContain(again.status);
      expect((await json(again)).error.retryable).toBe(true);
    }
    // The official client sees an APIError carrying the same body.
    await expect(ask('down')).rejects.toMatchObject({ error: { retryable: true } });
    expect((await chat(r.url, 'reg', {}, { headers: auth })).status).toBe(200);
    expect((await entry('down')).status.failed).toBeTruthy();
  }, 60_000);

  test('a backend that dies: mid-stream an SSE error event, then OpenAI JSON with retryable; others still served', async () => {
    await ask('ext');
    const res = await chat(r.url, 'ext', { stream: true, ignore_eos: true, max_tokens: 100000 }, { headers: auth });
    expect(res.status).toBe(200);
    const events: string[] = [];
    const parser = createParser({ onEvent: (e: EventSourceMessage) => events.push(e.data) });
    const decoder = new TextDecoder();
    let killed = false;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      if (!killed && events.length >= 3) {
        killed = true;
        engine.proc.kill('SIGKILL');
      }
    }
    expect(killed).toBe(true);
    const last = JSON.parse(events.at(-1)!);
    expect(last.error.code).toBe('upstream_failed');
    expect(events).not.toContain('[DONE]');
    await engine.proc;

    // Still "loaded" to the router (it cannot see a process it does not own), but nobody answers: 502, retryable.
    const dead = await chat(r.url, 'ext', {}, { headers: auth });
    expect(dead.status).toBe(502);
    const err = (await json(dead)).error;
    expect(err).toMatchObject({ code: 'backend_unreachable', type: 'server_error', retryable: true });
    expect(err.message).toContain('ECONNREFUSED');
    expect((await chat(r.url, 'reg', {}, { headers: auth })).status).toBe(200);
  }, 60_000);
});
