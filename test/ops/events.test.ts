/**
 * GET /models/sse against a real router and real children: the snapshot first, the state
 * changes a request causes, an eviction with its reason, and no stream left behind.
 */
import { chat, startRouter, waitFor, type RunningRouter } from '../helpers/router.js';
import { modelsDir } from '../router/fixtures.js';
import { openEvents, scrape, type EventStream } from './helpers.js';

describe('/models/sse (models-max 1, two models)', () => {
  let r: RunningRouter;
  let sse: EventStream;

  beforeAll(async () => {
    const dir = await modelsDir(['alpha', 'beta']);
    r = await startRouter(['--models-dir', dir, '--models-max', '1']);
    sse = await openEvents(`${r.url}/models/sse`);
  });
  afterAll(async () => {
    sse?.close();
    expect(await r.stop()).toBe(0);
  });

  test('is an event stream that starts with a snapshot of /models', async () => {
    expect(sse.status).toBe(200);
    expect(sse.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const first = await sse.next(() => true, 'first event');
    expect(first.event).toBe('snapshot');
    expect(first.data.object).toBe('list');
    expect(first.data.data.map((m: any) => [m.id, m.status.value])).toEqual([
      ['alpha', 'unloaded'],
      ['beta', 'unloaded'],
    ]);
    expect(first.data.devices).toEqual(expect.objectContaining({ data: expect.any(Array) }));
  });

  test('a request that loads a model: status_change unloaded -> loading -> loaded, load and ready', async () => {
    const res = await chat(r.url, 'alpha');
    expect(res.status).toBe(200);
    await res.text();
    const loading = await sse.next((e) => e.event === 'status_change' && e.data.model === 'alpha' && e.data.to === 'loading', 'alpha loading');
    expect(loading.data).toMatchObject({ model: 'alpha', from: 'unloaded', to: 'loading', at: expect.any(Number) });
    const loaded = await sse.next((e) => e.event === 'status_change' && e.data.model === 'alpha' && e.data.to === 'loaded', 'alpha loaded');
    expect(loaded.data.from).toBe('loading');
    const load = await sse.next((e) => e.event === 'load' && e.data.model === 'alpha', 'load event');
    // The load detail is the child's command line; its private key is not in it (it travels in the environment).
    expect(load.data.detail).toContain('--model');
    expect(load.data.detail).not.toMatch(/--api-key|[0-9a-f]{32,}/);
    await sse.next((e) => e.event === 'ready' && e.data.model === 'alpha', 'ready event');
    expect(sse.events.indexOf(loading)).toBeLessThan(sse.events.indexOf(loaded));
    // A fresh snapshot follows with alpha loaded.
    await sse.next((e) => e.event === 'snapshot' && e.data.data.find((m: any) => m.id === 'alpha').status.value === 'loaded', 'snapshot with alpha loaded');
  });

  test('models-max 1: a request for beta evicts alpha, with the reason', async () => {
    const res = await chat(r.url, 'beta');
    expect(res.status).toBe(200);
    await res.text();
    const ev = await sse.next((e) => e.event === 'eviction', 'eviction');
    expect(ev.data).toMatchObject({ model: 'alpha', reason: 'lru', at: expect.any(Number) });
    await sse.next((e) => e.event === 'status_change' && e.data.model === 'alpha' && e.data.to === 'unloaded', 'alpha unloaded');
    await sse.next((e) => e.event === 'status_change' && e.data.model === 'beta' && e.data.to === 'loaded', 'beta loaded');
  });

  test('an explicit unload is an unload event, not an eviction', async () => {
    const res = await fetch(`${r.url}/models/unload`, { method: 'POST', body: JSON.stringify({ model: 'beta' }) });
    expect(res.status).toBe(200);
    const ev = await sse.next((e) => e.event === 'unload' && e.data.model === 'beta', 'unload');
    expect(ev.data.reason).toBe('unload');
    expect(sse.events.filter((e) => e.event === 'eviction' && e.data.model === 'beta')).toEqual([]);
  });

  test('clients that leave are dropped (no listener leak)', async () => {
    const metric = async () => (await scrape(r.url))('router_sse_clients');
    expect(await metric()).toBe(1);
    const more = await Promise.all(Array.from({ length: 12 }, () => openEvents(`${r.url}/models/sse`)));
    await Promise.all(more.map((s) => s.next((e) => e.event === 'snapshot', 'snapshot')));
    expect(await metric()).toBe(13);
    for (const s of more) s.close();
    await waitFor('streams to be dropped', async () => (await metric()) === 1);
    // Twelve clients at once did not trip EventEmitter's leak warning (one hub listener).
    expect(r.output()).not.toMatch(/MaxListenersExceeded/);
  });
});
