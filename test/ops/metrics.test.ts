/** GET /metrics against a real router: values move as requests flow, behind the API key. */
import { chat, json, startRouter, waitFor, type RunningRouter } from '../helpers/router.js';
import { LONG, modelsDir } from '../router/fixtures.js';
import { scrape } from './helpers.js';

const KEY = 'metrics-test-key';
const auth = { authorization: `Bearer ${KEY}` };

describe('/metrics (models-max 1, API key)', () => {
  let r: RunningRouter;
  const metrics = () => scrape(r.url, auth);

  beforeAll(async () => {
    const dir = await modelsDir(['alpha', 'beta']);
    r = await startRouter(['--models-dir', dir, '--models-max', '1', '--api-key', KEY]);
  });
  afterAll(async () => {
    expect(await r.stop()).toBe(0);
  });

  test('needs the API key like everything but /health; Prometheus text with it', async () => {
    const denied = await fetch(`${r.url}/metrics`);
    expect(denied.status).toBe(401);
    expect((await json(denied)).error.code).toBe('invalid_api_key');
    expect((await fetch(`${r.url}/health`)).status).toBe(200);
    const res = await fetch(`${r.url}/metrics`, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const name of ['router_requests_total', 'router_requests_in_flight', 'router_queue_length', 'router_queue_wait_seconds', 'router_load_duration_seconds', 'router_loads_total', 'router_evictions_total', 'router_failures_total', 'router_model_memory_bytes', 'router_device_memory_total_bytes', 'router_device_memory_free_bytes']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    const m = await metrics();
    expect(m('router_loads_total', { model: 'alpha' })).toBe(0);
    expect(m('router_queue_length')).toBe(0);
    expect(m('router_model_state', { model: 'alpha', state: 'unloaded' })).toBe(1);
  });

  test('a request counts once by model and code, and its load and wait are timed', async () => {
    const res = await chat(r.url, 'alpha', {}, { headers: auth });
    expect(res.status).toBe(200);
    await res.text();
    const m = await metrics();
    expect(m('router_requests_total', { model: 'alpha', code: '200' })).toBe(1);
    expect(m('router_loads_total', { model: 'alpha' })).toBe(1);
    expect(m('router_load_duration_seconds_count', { model: 'alpha' })).toBe(1);
    expect(m('router_load_duration_seconds_sum', { model: 'alpha' })).toBeGreaterThan(0);
    expect(m('router_queue_wait_seconds_count', { model: 'alpha' })).toBe(1);
    expect(m('router_model_state', { model: 'alpha', state: 'loaded' })).toBe(1);
    expect(m('router_requests_in_flight', { model: 'alpha' })).toBe(0);

    const again = await chat(r.url, 'alpha', {}, { headers: auth });
    await again.text();
    expect((await metrics())('router_requests_total', { model: 'alpha', code: '200' })).toBe(2);
  });

  test('in flight rises during a request and is back to 0 when its client leaves', async () => {
    const ac = new AbortController();
    const res = await chat(r.url, 'alpha', LONG, { headers: auth, signal: ac.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    expect((await metrics())('router_requests_in_flight', { model: 'alpha' })).toBe(1);
    ac.abort();
    await reader.read().catch(() => undefined);
    await waitFor('in flight back to 0', async () => (await metrics())('router_requests_in_flight', { model: 'alpha' }) === 0);
    // Counted once, with the status it had already sent.
    await waitFor('the aborted request counted', async () => (await metrics())('router_requests_total', { model: 'alpha', code: '200' }) === 3);
  });

  test('an unknown model is counted without its name as a label', async () => {
    const res = await chat(r.url, 'no-such-model', {}, { headers: auth });
    expect(res.status).toBe(404);
    await res.text();
    const m = await metrics();
    expect(m('router_requests_total', { model: '(unknown)', code: '404' })).toBe(1);
    expect(m('router_requests_total', { model: 'no-such-model' })).toBeUndefined();
  });

  test('memory per model and device while loaded', async () => {
    const m = await waitFor('a memory figure for alpha', async () => {
      const m = await metrics();
      return m('router_model_memory_bytes', { model: 'alpha' }) ? m : undefined;
    });
    expect(m('router_model_memory_bytes', { model: 'alpha' })).toBeGreaterThan(1024 * 1024);
    expect(m('router_device_memory_total_bytes', { device: 'CPU' })).toBeGreaterThan(0);
    expect(m('router_device_memory_free_bytes', { device: 'CPU' })).toBeGreaterThan(0);
  });

  test('an eviction forced by models-max is counted with its reason', async () => {
    const res = await chat(r.url, 'beta', {}, { headers: auth });
    expect(res.status).toBe(200);
    await res.text();
    const m = await metrics();
    expect(m('router_evictions_total', { model: 'alpha', reason: 'lru' })).toBe(1);
    expect(m('router_loads_total', { model: 'beta' })).toBe(1);
    expect(m('router_model_state', { model: 'alpha', state: 'unloaded' })).toBe(1);
    expect(m('router_requests_total', { model: 'beta', code: '200' })).toBe(1);
  });
});
