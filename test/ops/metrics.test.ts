/** GET /metrics against a real router: values move as requests flow, behind the API key. */
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { chat, json, startRouter, waitFor, type RunningRouter } from '../helpers/router.js';
import { LONG, modelsDir } from '../router/fixtures.js';
import { promtool, scrape } from './helpers.js';

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

  test("token counters, speed and latency per model from real chats (JSON usage, the stream's usage chunk, llama-server timings)", async () => {
    const client = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const before = await metrics();
    const prompt0 = before('router_prompt_tokens_total', { model: 'beta' }) ?? 0;
    const completion0 = before('router_completion_tokens_total', { model: 'beta' }) ?? 0;
    const ttfb0 = before('router_time_to_first_byte_seconds_count', { model: 'beta' }) ?? 0;
    const duration0 = before('router_request_duration_seconds_count', { model: 'beta' }) ?? 0;
    const speed0 = before('router_generation_tokens_per_second_count', { model: 'beta' }) ?? 0;
    type Point = { completion_tokens: number; tokens_per_second: number; latency_ms: number };
    const historyTokens = async () => {
      const hist = await json(await fetch(`${r.url}/history`, { headers: auth }));
      return { hist, tokens: ((hist.models.beta ?? []) as Point[]).reduce((n, p) => n + p.completion_tokens, 0) };
    };
    const history0 = (await historyTokens()).tokens;
    const messages = [{ role: 'user' as const, content: 'Count to five' }];

    // 1. A JSON answer: its `usage`.
    const plain = await client.chat.completions.create({ model: 'beta', messages, max_tokens: 6 });
    expect(plain.usage!.completion_tokens).toBeGreaterThan(0);
    let prompt = plain.usage!.prompt_tokens;
    let completion = plain.usage!.completion_tokens;

    // 2. A stream with stream_options.include_usage: its last chunk's `usage`.
    const withUsage = await client.chat.completions.create({ model: 'beta', messages, max_tokens: 9, ignore_eos: true, stream: true, stream_options: { include_usage: true } } as OpenAI.ChatCompletionCreateParamsStreaming);
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of withUsage) if (chunk.usage) usage = chunk.usage;
    expect(usage!.completion_tokens).toBe(9);
    prompt += usage!.prompt_tokens;
    completion += usage!.completion_tokens;

    // 3. A stream without usage: llama-server's `timings` on its last chunk.
    const bare = await client.chat.completions.create({ model: 'beta', messages, max_tokens: 4, ignore_eos: true, stream: true } as OpenAI.ChatCompletionCreateParamsStreaming);
    let timings: { prompt_n: number; predicted_n: number; predicted_per_second: number } | undefined;
    for await (const chunk of bare) timings = (chunk as unknown as { timings?: typeof timings }).timings ?? timings;
    expect(timings!.predicted_n).toBe(4);
    prompt += timings!.prompt_n;
    completion += timings!.predicted_n;

    const m = await metrics();
    expect(m('router_prompt_tokens_total', { model: 'beta' })! - prompt0).toBe(prompt);
    expect(m('router_completion_tokens_total', { model: 'beta' })! - completion0).toBe(completion);
    expect(m('router_time_to_first_byte_seconds_count', { model: 'beta' })! - ttfb0).toBe(3);
    expect(m('router_request_duration_seconds_count', { model: 'beta' })! - duration0).toBe(3);
    // Every answer carried the child's timings, so each gave a speed.
    expect(m('router_generation_tokens_per_second_count', { model: 'beta' })! - speed0).toBe(3);
    expect(m('router_generation_tokens_per_second_sum', { model: 'beta' })).toBeGreaterThan(0);
    // First byte before the end of the answer.
    expect(m('router_time_to_first_byte_seconds_sum', { model: 'beta' })).toBeLessThan(m('router_request_duration_seconds_sum', { model: 'beta' })!);
    // A model without traffic has zero series, so rate() sees its first tokens.
    expect(m('router_completion_tokens_total', { model: 'alpha' })).toBeGreaterThan(0);

    // The dashboard's history saw the same tokens, and the load/evict events on its time axis.
    const { hist, tokens } = await historyTokens();
    expect(tokens - history0).toBe(completion);
    const points: Point[] = hist.models.beta;
    expect(points.some((p) => p.tokens_per_second > 0 && p.latency_ms > 0)).toBe(true);
    expect(hist.events.map((e: { type: string; model: string }) => `${e.type} ${e.model}`)).toEqual(
      expect.arrayContaining(['load alpha', 'ready alpha', 'eviction alpha', 'load beta', 'ready beta']),
    );
    expect((await fetch(`${r.url}/history`)).status).toBe(401);
  });

  test('the exposition follows Prometheus conventions: promtool check metrics, _total counters, no doubled prefix', async () => {
    const text = await (await fetch(`${r.url}/metrics`, { headers: auth })).text();
    expect(text).not.toMatch(/process_process|router_router/);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      if (type === 'counter') expect(name).toMatch(/_total$/);
    }
    const tool = promtool();
    if (!tool) {
      console.warn('promtool not found (Debian package prometheus): the exposition was checked by the parser only');
      return;
    }
    const lint = await execa(tool, ['check', 'metrics'], { input: text, reject: false });
    expect({ code: lint.exitCode, out: `${lint.stdout}${lint.stderr}`.trim() }).toEqual({ code: 0, out: '' });
  });
});

describe('an idle router', () => {
  test('wakes about a dozen times a second, not a hundred: the event-loop lag is sampled every 100 ms (prom-client samples every 10)', async () => {
    const dir = await modelsDir(['alpha']);
    const r = await startRouter(['--models-dir', dir]);
    try {
      // The lag figures are still there.
      const text = await (await fetch(`${r.url}/metrics`)).text();
      expect(text).toContain('# TYPE nodejs_eventloop_lag_p99_seconds gauge');
      // Voluntary context switches of the main thread (/proc/PID/status): each is the event loop going to sleep.
      const switches = () => Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${r.proc.pid}/status`, 'utf8'))![1]);
      await new Promise((res) => setTimeout(res, 500));
      // The quieter of two seconds (a GC helper's wait or a page fault on a busy machine also counts): ~10 lag ticks,
      // 2 scheduler ticks and a timeout check of node's server; ~100 lag ticks at 10 ms.
      const counts: number[] = [];
      for (let i = 0; i < 2; i++) {
        const before = switches();
        await new Promise((res) => setTimeout(res, 1_000));
        counts.push(switches() - before);
      }
      expect(Math.min(...counts)).toBeLessThan(50);
    } finally {
      expect(await r.stop()).toBe(0);
    }
  });
});
