/**
 * The router in front of REAL llama-server children (LLAMA_SERVER = path to the binary; LLAMA_FIT_PARAMS likewise
 * for the probe): load, evict by count and by memory, stream, a child killed mid-stream, the memory figure
 * measured, and llama-server's command line and routes through the router. Skipped, saying so, when unset.
 */
import { execa } from 'execa';
import OpenAI from 'openai';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModel } from '../helpers/models.js';
import { childPid, modelEntry } from '../helpers/api.js';
import { alive, models, rssBytes, startRouter, waitFor, type RunningRouter } from '../helpers/router.js';

const LLAMA_SERVER = process.env.LLAMA_SERVER;
const LLAMA_FIT_PARAMS = process.env.LLAMA_FIT_PARAMS;
const MiB = 2 ** 20;

if (!LLAMA_SERVER) {
  // eslint-disable-next-line no-console
  console.log('test/llama-server: skipped, LLAMA_SERVER is not set (path to a llama-server binary, e.g. ../shared/llama.cpp/llama-server)');
}
const describeReal = LLAMA_SERVER ? describe : describe.skip;

/** A models folder of copies of tiny models under the given names (each file made once per machine). */
async function modelsDir(names: Record<string, string>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'router-llama-'));
  for (const [n, file] of Object.entries(names)) copyFileSync(file, join(dir, `${n}.gguf`));
  return dir;
}

describeReal('llama-server children, llama-server command line (models-max 1)', () => {
  let dir: string;
  let r: RunningRouter;
  let client: OpenAI;
  beforeAll(async () => {
    // beta is larger (20 MB): generating from it takes long enough to kill its child mid-stream.
    dir = await modelsDir({ alpha: await tinyModel(), beta: await tinyModel({ sizeMb: 20 }) });
    // As a llama-server user writes it: child flags without `--`, and llama-server's --metrics.
    r = await startRouter(['--server-bin', LLAMA_SERVER!, '--models-dir', dir, '--models-max', '1', '-c', '4096', '-t', '1', '-np', '2', '--metrics']);
    client = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'none', maxRetries: 0 });
  });
  afterAll(async () => {
    await r?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('loads on the first request and answers; the flags written without -- reached the child', async () => {
    const res = await client.chat.completions.create({ model: 'alpha', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 });
    expect(res.choices[0]!.message.role).toBe('assistant');
    expect(res.usage!.completion_tokens).toBeGreaterThan(0);
    const a = await modelEntry(r.url, 'alpha');
    expect(a.status.value).toBe('loaded');
    expect(a.status.args).toEqual(expect.arrayContaining(['--ctx-size', '4096', '--threads', '1', '--parallel', '2', '--metrics']));
    // llama-server's own view, through the router: /props?model= is the child's answer.
    const props = (await (await fetch(`${r.url}/props?model=alpha`)).json()) as { default_generation_settings: { n_ctx: number } };
    // llama-server reports the context of one slot: 4096 over -np 2.
    expect(props.default_generation_settings.n_ctx).toBe(2048);
    const slots = (await (await fetch(`${r.url}/slots?model=alpha`)).json()) as unknown[];
    expect(slots).toHaveLength(2);
    const metrics = await (await fetch(`${r.url}/metrics?model=alpha`)).text();
    expect(metrics).toMatch(/llamacpp:prompt_tokens_total/);
    // The router's own /metrics is still the router's.
    expect(await (await fetch(`${r.url}/metrics`)).text()).not.toMatch(/llamacpp:/);
  });

  test('llama-server and llama-swap routes: models.retrieve, /upstream, /apply-template, count_tokens', async () => {
    const m = await client.models.retrieve('alpha');
    expect(m).toMatchObject({ id: 'alpha', object: 'model' });
    await expect(client.models.retrieve('nope')).rejects.toMatchObject({ status: 404 });
    const up = await fetch(`${r.url}/upstream/alpha/health`);
    expect(await up.json()).toEqual({ status: 'ok' });
    const tpl = await fetch(`${r.url}/apply-template`, {
      method: 'POST',
      body: JSON.stringify({ model: 'alpha', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(((await tpl.json()) as { prompt: string }).prompt).toContain('hi');
    const count = await fetch(`${r.url}/v1/messages/count_tokens`, {
      method: 'POST',
      body: JSON.stringify({ model: 'alpha', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(((await count.json()) as { input_tokens: number }).input_tokens).toBeGreaterThan(0);
  });

  test('the memory figure is measured from the running child', async () => {
    const a = await waitFor('alpha measured', async () => {
      const e = await modelEntry(r.url, 'alpha');
      return e.memory?.source === 'measured' ? e : undefined;
    });
    const rss = rssBytes(a.pid!);
    // What the router measured is this child's own memory (same order as its RSS), not an estimate.
    expect(a.memory!.devices.CPU).toBeGreaterThan(rss * 0.3);
    expect(a.memory!.devices.CPU).toBeLessThan(rss * 2);
  });

  test('evicts by count: a request for another model stops the idle one (models-max 1)', async () => {
    const pid = await childPid(r.url, 'alpha');
    const stream = await client.chat.completions.create({ model: 'beta', messages: [{ role: 'user', content: 'hi' }], max_tokens: 16, stream: true });
    let text = '';
    let finish: string | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(chunks).toBeGreaterThan(2);
    expect(text.length).toBeGreaterThan(0);
    expect(['stop', 'length']).toContain(finish);
    expect(alive(pid)).toBe(false);
    const list = await models(r.url);
    expect(list.find((m) => m.id === 'alpha')!.status.value).toBe('unloaded');
    expect(list.find((m) => m.id === 'beta')!.status.value).toBe('loaded');
  });

  test('a child killed mid-stream: the stream ends with an error event, the next request starts a new child', async () => {
    const res = await fetch(`${r.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // ignore_eos: the child keeps generating until the context is full, long enough to be killed mid-way.
      body: JSON.stringify({ model: 'beta', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1500, ignore_eos: true, stream: true }),
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('data:');
    const pid = await childPid(r.url, 'beta');
    process.kill(pid, 'SIGKILL');
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += new TextDecoder().decode(value);
    }
    expect(rest).toMatch(/event: error\ndata: \{"error":\{"message":"[^"]*","type":"server_error"/);
    expect(rest).not.toContain('data: [DONE]');
    const again = await client.chat.completions.create({ model: 'beta', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
    expect(again.choices).toHaveLength(1);
    const beta = await modelEntry(r.url, 'beta');
    expect(beta.status.value).toBe('loaded');
    expect(beta.pid).not.toBe(pid);
  });
});

describeReal('llama-server children, evicted by memory', () => {
  let dir: string;
  let r: RunningRouter;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'router-llama-mem-'));
    const file = await tinyModel();
    // Each model declares 30 MiB; the cap (40 MiB) holds one: the second load must evict the first for memory.
    // Once running, the first is accounted at what it measurably uses (~22 MiB for this model with -c 256), which
    // may arrive before the second load is planned: the cap still cannot hold that and another 30 MiB.
    const preset = join(dir, 'presets.ini');
    writeFileSync(preset, ['one', 'two'].map((n) => `[${n}]\nmodel = ${file}\nmemory = CPU:30MiB\n`).join('\n'));
    r = await startRouter([
      '--server-bin', LLAMA_SERVER!, '--models-preset', preset, '--models-max', '0',
      '--models-memory-max', 'CPU=40MiB', '--models-memory-margin', '0', '-c', '256', '-t', '1',
    ]);
  });
  afterAll(async () => {
    await r?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('loading the second model evicts the first for memory', async () => {
    const events: string[] = [];
    const ac = new AbortController();
    const sse = fetch(`${r.url}/models/sse`, { signal: ac.signal }).then(async (res) => {
      const reader = res.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        events.push(new TextDecoder().decode(value));
      }
    }).catch(() => undefined);
    for (const model of ['one', 'two']) {
      const res = await fetch(`${r.url}/models/load`, { method: 'POST', body: JSON.stringify({ model }) });
      expect(res.status).toBe(200);
    }
    const list = await models(r.url);
    expect(list.find((m) => m.id === 'one')!.status.value).toBe('unloaded');
    expect(list.find((m) => m.id === 'two')!.status.value).toBe('loaded');
    await waitFor('eviction event', () => events.join('').includes('event: eviction'));
    const text = events.join('');
    expect(text).toMatch(/event: eviction\ndata: \{"model":"one","reason":"memory"/);
    // llama-server's shape of the same story, for clients written against it.
    expect(text).toContain('data: {"model":"one","event":"status_change","data":{"status":"unloaded","exit_code":');
    expect(text).toContain('data: {"model":"two","event":"status_change","data":{"status":"loaded"');
    ac.abort();
    await sse;
  });
});

describe('llama-fit-params', () => {
  if (!LLAMA_FIT_PARAMS || !LLAMA_SERVER) {
    test.skip('skipped: LLAMA_FIT_PARAMS or LLAMA_SERVER is not set (paths to llama-fit-params and llama-server)', () => undefined);
    return;
  }
  test('reads the generated models the router serves, and is the probe of a llama-server model before its first load', async () => {
    const file = await tinyModel();
    const res = await execa(LLAMA_FIT_PARAMS, ['-m', file, '-c', '512'], { reject: false, timeout: 30_000 });
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toMatch(/-c \d+ -ngl -?\d+/);
    const dir = await modelsDir({ fitted: file });
    const r = await startRouter(['--server-bin', LLAMA_SERVER, '--fit-params-bin', LLAMA_FIT_PARAMS, '--models-dir', dir, '-c', '512']);
    try {
      const e = await waitFor('a probed figure', async () => {
        const m = await modelEntry(r.url, 'fitted');
        return m.memory?.source === 'probe' ? m : undefined;
      });
      expect(e.memory!.devices.CPU).toBeGreaterThan(MiB);
    } finally {
      await r.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
