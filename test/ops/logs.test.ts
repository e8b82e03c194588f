/** GET /logs/:model against a real router: the child's own lines, as text or JSON, and followed. */
import { chat, json, startRouter, waitFor, type RunningRouter } from '../helpers/router.js';
import { modelsDir, presetFile } from '../router/fixtures.js';
import { scrape } from './helpers.js';

/** Read a followed log until `pred` holds for the text so far. */
async function follow(url: string): Promise<{ text(): string; close(): void; status: number; type: string | null }> {
  const ac = new AbortController();
  const res = await fetch(url, { signal: ac.signal });
  let text = '';
  void (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body!) text += decoder.decode(chunk as Uint8Array, { stream: true });
    } catch {
      /* aborted */
    }
  })();
  return { text: () => text, close: () => ac.abort(), status: res.status, type: res.headers.get('content-type') };
}

describe('/logs/:model', () => {
  let r: RunningRouter;

  beforeAll(async () => {
    const dir = await modelsDir(['alpha', 'beta']);
    const preset = presetFile(dir, '[alpha]\nalias = first\n');
    r = await startRouter(['--models-dir', dir, '--models-preset', preset, '--models-max', '2']);
    const res = await fetch(`${r.url}/models/load`, { method: 'POST', body: JSON.stringify({ model: 'alpha' }) });
    expect(res.status).toBe(200);
  });
  afterAll(async () => {
    expect(await r.stop()).toBe(0);
  });

  test("the child's startup lines, as text/plain, one per line", async () => {
    const res = await fetch(`${r.url}/logs/alpha`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const text = await res.text();
    expect(text).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(text).toMatch(/model ready/);
    expect(text.endsWith('\n')).toBe(true);
    // The child's private key never shows, even if a line had it.
    expect(text).not.toMatch(/--api-key [0-9a-f]{16,}/);
  });

  test('?format=json gives {model, lines}; ?n= the last lines; an alias names the model', async () => {
    const all = await json(await fetch(`${r.url}/logs/alpha?format=json`));
    expect(all.model).toBe('alpha');
    expect(all.lines.length).toBeGreaterThan(1);
    // Each line after its time; none is the router's own health polling (the engine logs every request).
    for (const line of all.lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S/);
    expect(all.lines.join('\n')).not.toMatch(/GET \/health/);
    const tail = await json(await fetch(`${r.url}/logs/first?format=json&n=1`));
    expect(tail).toEqual({ model: 'alpha', lines: [all.lines.at(-1)] });
    expect((await json(await fetch(`${r.url}/logs/alpha?format=json&n=0`))).lines).toEqual([]);
    expect((await fetch(`${r.url}/logs/alpha?n=lots`)).status).toBe(400);
  });

  test('an unknown model is a 404 OpenAI error', async () => {
    const res = await fetch(`${r.url}/logs/nope`);
    expect(res.status).toBe(404);
    expect((await json(res)).error).toMatchObject({ code: 'model_not_found', type: 'invalid_request_error' });
  });

  test('a model never loaded has an empty log', async () => {
    const res = await fetch(`${r.url}/logs/beta`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  test('?follow=1 streams new lines as the child prints them, until the client leaves', async () => {
    const f = await follow(`${r.url}/logs/alpha?follow=1`);
    expect(f.status).toBe(200);
    expect(f.type).toBe('text/plain; charset=utf-8');
    await waitFor('the buffered lines', () => /model ready/.test(f.text()));
    expect(f.text()).not.toMatch(/POST \/v1\/chat\/completions/);
    const res = await chat(r.url, 'alpha');
    await res.text();
    // The engine logs each request it serves: a new line, streamed.
    await waitFor('the request line', () => /POST \/v1\/chat\/completions 200/.test(f.text()));
    // Followed lines carry their time too.
    expect(f.text()).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z router-engine: POST \/v1\/chat\/completions 200/m);

    // Following a model that is not loaded yet: its startup lines arrive as it loads.
    const g = await follow(`${r.url}/logs/beta?follow=1`);
    expect((await scrape(r.url))('router_log_followers')).toBe(2);
    const load = fetch(`${r.url}/models/load`, { method: 'POST', body: JSON.stringify({ model: 'beta' }) });
    await waitFor('beta startup lines', () => /listening on/.test(g.text()) && /model ready/.test(g.text()), 30_000);
    expect((await load).status).toBe(200);

    f.close();
    g.close();
    await waitFor('followers dropped', async () => (await scrape(r.url))('router_log_followers') === 0);
  });
});
