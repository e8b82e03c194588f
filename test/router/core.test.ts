/**
 * The router core against real children (the bundled engine on generated models), over
 * real HTTP: the behaviours llama-server's router suite checks, and ours.
 */
import OpenAI from 'openai';
import { holdSlot, loadModel, modelEntry, ok, unloadModel } from '../helpers/api.js';
import { chat, json, models, processesMentioning, startRouter, statusOf, waitFor, type RunningRouter } from '../helpers/router.js';
import { modelsDir } from './fixtures.js';

describe('router core (models-max 2, three models)', () => {
  let r: RunningRouter;
  let dir: string;

  beforeAll(async () => {
    dir = await modelsDir(['alpha', 'beta', 'gamma']);
    r = await startRouter(['--models-dir', dir, '--models-max', '2', '--models-memory-margin', '0', '--', '--ctx-size', '4096', '--parallel', '2']);
  });
  afterAll(async () => {
    expect(await r.stop()).toBe(0);
    expect(processesMentioning(dir)).toEqual([]);
  });

  test('lists every model with its status, llama-server style', async () => {
    const list = await models(r.url);
    expect(list.map((m) => m.id)).toEqual(['alpha', 'beta', 'gamma']);
    for (const m of list) {
      expect(m.status).toMatchObject({ value: 'unloaded', failed: false });
      expect(Array.isArray(m.status.args)).toBe(true);
    }
    const v1 = await json(await fetch(`${r.url}/v1/models`));
    expect(v1.object).toBe('list');
  });

  test('a known model answers through the openai client, streaming and not', async () => {
    const client = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'unused' });
    const c = await client.chat.completions.create({ model: 'alpha', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8 });
    expect(c.choices[0]!.message.content).toEqual(expect.any(String));
    expect(c.usage!.completion_tokens).toBeGreaterThan(0);
    const stream = await client.chat.completions.create({
      model: 'alpha',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 8,
      stream: true,
    });
    let chunks = 0;
    for await (const _ of stream) chunks++;
    expect(chunks).toBeGreaterThan(1);
    expect(await statusOf(r.url, 'alpha')).toBe('loaded');
  });

  test('an unknown model is a 404 OpenAI error; malformed bodies are 400', async () => {
    const res = await chat(r.url, 'nope');
    expect(res.status).toBe(404);
    expect((await json(res)).error).toMatchObject({ code: 'model_not_found', type: 'invalid_request_error' });
    const bad = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":' });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.code).toBe('invalid_json');
    const noModel = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', body: '{"messages":[]}' });
    expect(noModel.status).toBe(400);
    const numeric = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', body: '{"model":7}' });
    expect((await json(numeric)).error.code).toBe('invalid_model');
  });

  test('load then unload', async () => {
    await loadModel(r.url, 'beta');
    expect(await statusOf(r.url, 'beta')).toBe('loaded');
    await unloadModel(r.url, 'beta');
    expect(await statusOf(r.url, 'beta')).toBe('unloaded');
  });

  test('a request right after an unload is served, never proxied into the stopping child', async () => {
    await loadModel(r.url, 'beta');
    const unload = fetch(`${r.url}/models/unload`, { method: 'POST', body: JSON.stringify({ model: 'beta' }) });
    const res = await chat(r.url, 'beta');
    await unload;
    await ok(res);
  });

  test('models-max evicts the least recently used idle model', async () => {
    await ok(await chat(r.url, 'alpha'));
    await ok(await chat(r.url, 'beta'));
    await ok(await chat(r.url, 'alpha')); // beta is now the LRU
    await ok(await chat(r.url, 'gamma'));
    expect(await statusOf(r.url, 'beta')).toBe('unloaded');
    expect(await statusOf(r.url, 'alpha')).toBe('loaded');
    expect(await statusOf(r.url, 'gamma')).toBe('loaded');
  });

  test('a queued request does not evict a busy model; a client leaving the queue keeps it', async () => {
    await ok(await chat(r.url, 'alpha'));
    await ok(await chat(r.url, 'gamma'));
    const a = await holdSlot(r.url, 'alpha');
    const g = await holdSlot(r.url, 'gamma');
    const ac = new AbortController();
    const queued = chat(r.url, 'beta', {}, { signal: ac.signal }).catch((e: Error) => e);
    await waitFor('beta queued', async () => (await modelEntry(r.url, 'beta'))?.queued === 1);
    expect(await statusOf(r.url, 'alpha')).toBe('loaded');
    expect(await statusOf(r.url, 'gamma')).toBe('loaded');
    ac.abort();
    expect(String(await queued)).toMatch(/abort/i);
    await waitFor('beta left the queue', async () => (await modelEntry(r.url, 'beta'))?.queued === 0);
    // Nothing was evicted for the departed client, and the busy models still serve.
    expect(await statusOf(r.url, 'alpha')).toBe('loaded');
    expect(await statusOf(r.url, 'gamma')).toBe('loaded');
    await ok(await chat(r.url, 'alpha'));
    await Promise.all([a.release(), g.release()]);
    await waitFor('references back to zero', async () => (await models(r.url)).every((m) => m.in_flight === 0));
  });

  test('six concurrent requests to one model all succeed', async () => {
    const all = await Promise.all(Array.from({ length: 6 }, () => chat(r.url, 'alpha')));
    for (const res of all) await ok(res);
  });

  test('three models, two requests each, models-max 2: all succeed', async () => {
    const all = await Promise.all(['alpha', 'beta', 'gamma'].flatMap((m) => [chat(r.url, m), chat(r.url, m)]));
    for (const res of all) await ok(res);
  });

  test('three alternating rounds across three models succeed', async () => {
    for (let i = 0; i < 3; i++) {
      for (const m of ['alpha', 'beta', 'gamma']) await ok(await chat(r.url, m));
    }
    // Nine loads one after another: on a loaded 2-core machine each takes seconds.
  }, 240_000);

  test('every reference is back to zero when the traffic stops', async () => {
    await waitFor('references back to zero', async () => (await models(r.url)).every((m) => m.in_flight === 0 && m.queued === 0));
  });
});

describe('router core (models-max 1, no drain window)', () => {
  let r: RunningRouter;
  let dir: string;

  beforeAll(async () => {
    dir = await modelsDir(['alpha', 'beta']);
    // --drain-window 0: a busy model drains as soon as a request waits for its room, so the FIFO test need not
    // outwait the default window (15 s) (the window itself: test/router/starvation.test.ts, test/scheduler).
    r = await startRouter(['--models-dir', dir, '--models-max', '1', '--models-memory-margin', '0', '--drain-window', '0', '--', '--ctx-size', '4096', '--parallel', '2']);
  });
  afterAll(async () => {
    expect(await r.stop()).toBe(0);
    expect(processesMentioning(dir)).toEqual([]);
  });

  test('three concurrent requests to each of two models all succeed', async () => {
    const all = await Promise.all(['alpha', 'beta'].flatMap((m) => [chat(r.url, m), chat(r.url, m), chat(r.url, m)]));
    for (const res of all) await ok(res);
  });

  test('requests for one model coalesce into one load; two waiters share one eviction', async () => {
    await ok(await chat(r.url, 'alpha'));
    const before = r.logs().filter((l) => l.msg === 'beta ready').length;
    const evictionsBefore = r.logs().filter((l) => l.msg === 'alpha: loaded -> unloading').length;
    const all = await Promise.all([chat(r.url, 'beta'), chat(r.url, 'beta'), chat(r.url, 'beta')]);
    for (const res of all) await ok(res);
    expect(r.logs().filter((l) => l.msg === 'beta ready').length).toBe(before + 1);
    expect(r.logs().filter((l) => l.msg === 'alpha: loaded -> unloading').length).toBe(evictionsBefore + 1);
  });

  test('the queue is FIFO across models', async () => {
    await ok(await chat(r.url, 'alpha'));
    const a = await holdSlot(r.url, 'alpha');
    const order: string[] = [];
    const b = chat(r.url, 'beta').then(async (res) => (await ok(res), order.push('beta')));
    await waitFor('beta queued', async () => (await modelEntry(r.url, 'beta'))?.queued === 1);
    // With no batching window busy alpha drains for beta at once: a new request for it queues behind beta.
    const a2 = chat(r.url, 'alpha').then(async (res) => (await ok(res), order.push('alpha')));
    await waitFor('alpha queued behind beta', async () => (await modelEntry(r.url, 'alpha'))?.queued === 1);
    await a.release();
    await Promise.all([b, a2]);
    expect(order).toEqual(['beta', 'alpha']);
  }, 120_000);

  test('a steady stream of requests for A cannot starve one for B', async () => {
    await ok(await chat(r.url, 'alpha'));
    let stop = false;
    let served = 0;
    // Two clients keep alpha busy back to back.
    const stream = async () => {
      while (!stop) {
        const res = await chat(r.url, 'alpha', { max_tokens: 16 });
        if (res.status === 200) served++;
        await res.text();
      }
    };
    const clients = [stream(), stream()];
    await waitFor('alpha busy', () => served > 2);
    const started = Date.now();
    const b = await chat(r.url, 'beta');
    const waited = Date.now() - started;
    stop = true;
    await Promise.all(clients);
    await ok(b);
    // Bounded by the drain of alpha's in-flight requests plus a load, not by the stream.
    expect(waited).toBeLessThan(30_000);
  });
});
