/**
 * Cross-origin use of the router from a real headless Chromium: a page on an origin that is not allowed cannot
 * load a model with a form POST (CSRF, no preflight) nor read /v1/models; a page on the origin given with
 * --cors-origin can, preflight and all. The browser, not the test, decides what is sent and what may be read.
 *
 * Needs Debian's chromium at /usr/bin/chromium (or CHROMIUM_PATH), as the dashboard test; without it this fails.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { models, serversOf, startRouter, type RunningRouter } from '../helpers/router.js';
import { modelsDir } from '../router/fixtures.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A site on its own origin (another port of 127.0.0.1) serving one empty page. */
async function site(): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>a site</title><body></body>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

let browser: Browser;
let r: RunningRouter;
let dir: string;
let good: Awaited<ReturnType<typeof site>>;
let evil: Awaited<ReturnType<typeof site>>;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM_PATH. This test does not skip.`);
  [good, evil] = await Promise.all([site(), site()]);
  dir = await modelsDir(['alpha']);
  r = await startRouter(['--models-dir', dir, '--cors-origin', good.origin]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 30_000 });
});

afterAll(async () => {
  await browser?.close();
  if (r) expect(await r.stop()).toBe(0);
  await Promise.all([good?.close(), evil?.close()]);
});

async function alphaUnloaded(): Promise<void> {
  expect((await models(r.url)).map((m) => [m.id, m.status.value, m.in_flight, m.queued])).toEqual([['alpha', 'unloaded', 0, 0]]);
  expect(serversOf(r, dir)).toEqual([]);
}

test('a page on another origin: its form POST to /models/load is refused (403) and nothing loads; it cannot read /v1/models', async () => {
  const page = await browser.newPage();
  try {
    await page.goto(`${evil.origin}/`);
    // A text/plain form: the classic CSRF body `{"model":"alpha","x":"="}`, sent by the browser with no preflight.
    await page.setContent(
      `<form id="f" method="POST" enctype="text/plain" action="${r.url}/models/load"><input name='{"model":"alpha","x":"' value='"}'></form>`,
    );
    await Promise.all([page.waitForURL(`${r.url}/models/load`), page.evaluate('document.getElementById("f").submit()')]);
    const shown = JSON.parse((await page.textContent('body')) ?? '');
    expect(shown.error).toMatchObject({ type: 'permission_error', code: 'origin_not_allowed' });
    await alphaUnloaded();

    await page.goto(`${evil.origin}/`);
    const read = await page.evaluate(async (url) => {
      try {
        const res = await fetch(`${url}/v1/models`);
        return `read ${res.status}`;
      } catch (err) {
        return `blocked: ${(err as Error).name}`;
      }
    }, r.url);
    expect(read).toBe('blocked: TypeError');
    // A no-cors fetch is sent, but refused before anything happens.
    await page.evaluate(async (url) => {
      await fetch(`${url}/models/load`, { method: 'POST', mode: 'no-cors', body: JSON.stringify({ model: 'alpha' }) });
    }, r.url);
    await alphaUnloaded();
  } finally {
    await page.close();
  }
});

test('a page on the --cors-origin origin reads the models and unloads with JSON (preflighted), over CORS', async () => {
  const page = await browser.newPage();
  try {
    await page.goto(`${good.origin}/`);
    const got = await page.evaluate(async (url) => {
      const list = await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer anything' } });
      const unload = await fetch(`${url}/models/unload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'alpha' }) });
      return { list: [list.status, ((await list.json()) as { data: { id: string }[] }).data.map((m) => m.id)], unload: [unload.status, await unload.json()] };
    }, r.url);
    expect(got).toEqual({ list: [200, ['alpha']], unload: [200, { success: true, model: 'alpha' }] });
    await alphaUnloaded();
  } finally {
    await page.close();
  }
});
