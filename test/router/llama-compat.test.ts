/**
 * A llama-server user's command lines, presets and routes, with the bundled engine as the child (so a fresh clone
 * tests them; test/llama-server/ runs the same kind of things against real llama-server children).
 */
import { execa } from 'execa';
import OpenAI from 'openai';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModel } from '../helpers/models.js';
import { ROOT, ROUTER_BIN, startRouter, waitFor, type RunningRouter } from '../helpers/router.js';

const run = (args: string[]) => execa(process.execPath, [ROUTER_BIN, ...args], { reject: false, timeout: 20_000 });

test('router --version and router-engine --version print the package version', async () => {
  const { version } = (await import(join(ROOT, 'package.json'), { with: { type: 'json' } })).default as { version: string };
  const r = await run(['--version']);
  expect(r.exitCode).toBe(0);
  expect(r.stdout.trim()).toBe(version);
  const e = await execa(process.execPath, [join(ROOT, 'bin', 'router-engine.js'), '--version'], { reject: false });
  expect(e.exitCode).toBe(0);
  expect(e.stdout).toContain(version);
});

test('--help says which flags are the router\'s and that the others go to every child', async () => {
  const r = await run(['--help']);
  const flat = r.stdout.replace(/\s+/g, ' ');
  expect(flat).toContain("The options below are the router's own. Any other llama-server flag is passed to every child");
  for (const flag of ['--models-autoload', '--api-key-file', '--metrics', '--strict-presets', '--version']) expect(r.stdout).toContain(flag);
});

test.each([
  [['--models-dir', '/tmp', '-c'], /option '-c' needs a value/],
  [['--models-dir', '/tmp', '--frobnicate'], /unknown option '--frobnicate' \(neither a router flag nor a llama-server flag\)/],
])('a child flag that cannot be taken exits 2: %j', async (args, message) => {
  const r = await run(args as string[]);
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toMatch(message);
});

describe('a llama-server command line and preset, as written', () => {
  let dir: string;
  let r: RunningRouter;
  let preset: string;
  const KEYS = ['key-one', 'key-two'];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'router-compat-'));
    const file = await tinyModel();
    copyFileSync(file, join(dir, 'tiny.gguf'));
    preset = join(dir, 'models.ini');
    // llama.cpp's README style: router keys in [*], and one section llama-server could serve but this router cannot.
    writeFileSync(preset, `[*]\nmodels-max = 1\nmodels-autoload = 0\n\n[broken]\nhf-repo = ggml-org/some-model-GGUF\n`);
    const keyFile = join(dir, 'keys');
    writeFileSync(keyFile, `${KEYS[0]}\n\n# a comment\n${KEYS[1]}\n`);
    r = await startRouter(['--models-dir', dir, '--models-preset', preset, '-c', '512', '--threads', '1', '--metrics', '--api-key-file', keyFile, '--', '--temp', '0.5']);
  });
  afterAll(async () => {
    await r?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const get = (path: string, key = KEYS[0]) => fetch(`${r.url}${path}`, { headers: { authorization: `Bearer ${key}` } });

  test('every key of --api-key-file is accepted, any other is refused', async () => {
    expect((await get('/v1/models', KEYS[0])).status).toBe(200);
    expect((await get('/v1/models', KEYS[1])).status).toBe(200);
    const bad = await get('/v1/models', 'nope');
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error: { code: 'invalid_api_key' } });
  });

  test('flags without -- and after -- both reach every child; [*] models-max and models-autoload configure the router', async () => {
    const list = (await (await get('/models')).json()) as { data: any[] };
    const tiny = list.data.find((m) => m.id === 'tiny');
    expect(tiny.status.args).toEqual(['--ctx-size', '512', '--threads', '1', '--temp', '0.5', '--metrics']);
    // llama-server's fields beside ours.
    expect(tiny).toMatchObject({ object: 'model', tags: [], in_cache: false, source: 'models_dir', can_remove: false });
    expect(tiny.created).toBeGreaterThan(1_700_000_000);
    expect(tiny.status.preset).toBe(`[tiny]\nmodel = ${join(dir, 'tiny.gguf')}\nctx-size = 512\nthreads = 1\ntemp = 0.5\nmetrics = true\n\n`);
    const props = await (await get('/props')).json();
    expect(props).toMatchObject({ role: 'router', max_instances: 1, models_autoload: false });
  });

  test('a bad section marks only its model: listed failed with file, section and key; its requests get the reason', async () => {
    const list = (await (await get('/models')).json()) as { data: any[] };
    const broken = list.data.find((m) => m.id === 'broken');
    expect(broken.status).toMatchObject({ value: 'unloaded', failed: true, invalid: true });
    expect(broken.status.error).toContain(`${preset} [broken]`);
    const res = await fetch(`${r.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEYS[0]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'broken', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { message: string; code: string } };
    expect(body.error.code).toBe('model_invalid');
    expect(body.error.message).toContain(`${preset} [broken]`);
    expect(r.logs().some((l) => l.level === 50 && String(l.msg).includes("model 'broken' is not served"))).toBe(true);
  });

  test('routes: models.retrieve, /slots?model=, /upstream/{model}/..., and llama-server\'s event shape on /models/sse', async () => {
    const client = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: KEYS[1], maxRetries: 0 });
    expect(await client.models.retrieve('tiny')).toMatchObject({ id: 'tiny', object: 'model', owned_by: 'router' });
    await expect(client.models.retrieve('absent')).rejects.toMatchObject({ status: 404, code: 'model_not_found' });

    const ac = new AbortController();
    let sse = '';
    const reading = fetch(`${r.url}/models/sse`, { headers: { authorization: `Bearer ${KEYS[0]}` }, signal: ac.signal })
      .then(async (res) => {
        for await (const chunk of res.body!) sse += Buffer.from(chunk).toString();
      })
      .catch(() => undefined);
    // models-autoload = 0: an explicit load first.
    const load = await fetch(`${r.url}/models/load`, { method: 'POST', headers: { authorization: `Bearer ${KEYS[0]}` }, body: JSON.stringify({ model: 'tiny' }) });
    expect(load.status).toBe(200);
    const slots = await get('/slots?model=tiny');
    expect(slots.status).toBe(200);
    expect(Array.isArray(await slots.json())).toBe(true);
    const health = await get('/upstream/tiny/health');
    expect(await health.json()).toEqual({ status: 'ok' });
    const none = await get('/upstream/absent/health');
    expect(none.status).toBe(404);
    expect(await none.json()).toMatchObject({ error: { code: 'model_not_found' } });
    await waitFor('llama-server loaded event', () => sse.includes('data: {"model":"tiny","event":"status_change","data":{"status":"loaded"'));
    expect(sse).toContain('data: {"model":"tiny","event":"status_change","data":{"status":"loading"}}');
    ac.abort();
    await reading;
  });
});
