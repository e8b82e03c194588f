/**
 * A router as the README starts it (no --api-key, 127.0.0.1), driven the way a web page the user opens would
 * drive it: DNS rebinding (a foreign Host), cross-origin simple requests (CSRF: text/plain and form POSTs, an
 * `<img>` GET), and CORS preflights. Each refusal is a 403 OpenAI error naming the flag that would allow it, and
 * nothing the request asked for happens.
 */
import http from 'node:http';
import { proxiedRoutes } from '../../src/http/app.js';
import { json, models, serversOf, startRouter, type RunningRouter } from '../helpers/router.js';
import { modelsDir } from '../router/fixtures.js';

const MODEL = 'alpha';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** node:http, not fetch: fetch will not send a Host or Sec-Fetch-* of our choosing. */
function send(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function expectRefusal(r: Reply, code: 'host_not_allowed' | 'origin_not_allowed', flag: string): void {
  expect({ status: r.status, type: r.headers['content-type'] }).toEqual({ status: 403, type: 'application/json; charset=utf-8' });
  const e = JSON.parse(r.body).error;
  expect(e).toEqual({ message: expect.stringContaining(flag), type: 'permission_error', code });
}

/** Nothing was loaded, queued or started. */
async function nothingHappened(r: RunningRouter, dir: string, key?: string): Promise<void> {
  const list = await models(r.url, key);
  expect(list.map((m) => [m.id, m.status.value, m.in_flight, m.queued])).toEqual([[MODEL, 'unloaded', 0, 0]]);
  expect(serversOf(r, dir)).toEqual([]);
  expect((await fetch(`${r.url}/health`)).status).toBe(200);
}

const LOAD = JSON.stringify({ model: MODEL });
const CHAT = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1 });

describe('a keyless router on 127.0.0.1', () => {
  let r: RunningRouter;
  let dir: string;
  beforeAll(async () => {
    dir = await modelsDir([MODEL]);
    r = await startRouter(['--models-dir', dir]);
  });
  afterAll(async () => {
    expect(await r.stop()).toBe(0);
  });

  test('DNS rebinding: a foreign Host gets 403 naming --allowed-hosts on every route, nothing loads', async () => {
    for (const host of ['evil.example.com:8080', 'evil.example.com', `attacker.test:${r.port}`, '192.168.1.20:8080', 'localhost.evil.com', '127.0.0.1.nip.io', '[::2]:80', 'x y']) {
      expectRefusal(await send(r.port, 'GET', '/models', { host }), 'host_not_allowed', '--allowed-hosts');
      expectRefusal(await send(r.port, 'GET', '/health', { host }), 'host_not_allowed', '--allowed-hosts');
      expectRefusal(await send(r.port, 'POST', '/models/load', { host, 'content-type': 'application/json' }, LOAD), 'host_not_allowed', '--allowed-hosts');
      expectRefusal(await send(r.port, 'POST', '/models/unload', { host }, LOAD), 'host_not_allowed', '--allowed-hosts');
      expectRefusal(await send(r.port, 'POST', '/v1/chat/completions', { host, 'content-type': 'application/json' }, CHAT), 'host_not_allowed', '--allowed-hosts');
    }
    await nothingHappened(r, dir);
  });

  test('loopback names and addresses are served', async () => {
    for (const host of [`127.0.0.1:${r.port}`, `localhost:${r.port}`, 'LOCALHOST', `[::1]:${r.port}`, '127.5.6.7', `dash.localhost:${r.port}`]) {
      const res = await send(r.port, 'GET', '/v1/models', { host });
      expect({ host, status: res.status }).toEqual({ host, status: 200 });
      expect(JSON.parse(res.body).data.map((m: { id: string }) => m.id)).toEqual([MODEL]);
    }
  });

  test('CSRF: cross-origin simple requests (text/plain, a form, no-cors) to load, unload, reload and every proxied route get 403', async () => {
    const evil = { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' };
    expectRefusal(await send(r.port, 'POST', '/models/load', { ...evil, 'content-type': 'text/plain' }, LOAD), 'origin_not_allowed', '--cors-origin');
    expectRefusal(await send(r.port, 'POST', '/models/load', { ...evil, 'content-type': 'application/x-www-form-urlencoded' }, `${LOAD}=`), 'origin_not_allowed', '--cors-origin');
    expectRefusal(await send(r.port, 'POST', '/models/unload', { ...evil, 'content-type': 'text/plain' }, LOAD), 'origin_not_allowed', '--cors-origin');
    expectRefusal(await send(r.port, 'POST', '/models/reload', evil), 'origin_not_allowed', '--cors-origin');
    // Another port of localhost is another origin too (a dev server the user runs, a page it serves).
    expectRefusal(await send(r.port, 'POST', '/models/load', { origin: 'http://localhost:3000', 'content-type': 'text/plain' }, LOAD), 'origin_not_allowed', '--cors-origin');
    // A sandboxed iframe or a file:// page says `null`.
    expectRefusal(await send(r.port, 'POST', '/models/load', { origin: 'null', 'content-type': 'text/plain' }, LOAD), 'origin_not_allowed', '--cors-origin');
    for (const path of proxiedRoutes) {
      expectRefusal(await send(r.port, 'POST', path, { ...evil, 'content-type': 'text/plain' }, CHAT), 'origin_not_allowed', '--cors-origin');
    }
    // An <img src> GET carries no Origin, only Sec-Fetch-Site; ?reload=1 changes state.
    expectRefusal(await send(r.port, 'GET', '/models?reload=1', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' }), 'origin_not_allowed', '--cors-origin');
    // A preflight from a foreign origin is refused too, so the browser never sends the real request.
    expectRefusal(await send(r.port, 'OPTIONS', '/v1/chat/completions', { origin: 'http://evil.example', 'access-control-request-method': 'POST' }), 'origin_not_allowed', '--cors-origin');
    await nothingHappened(r, dir);
  });

  test('same-origin requests (the dashboard), navigations from other sites, and non-browser clients are served', async () => {
    const self = `http://127.0.0.1:${r.port}`;
    const same = await send(r.port, 'POST', '/models/unload', { origin: self, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' }, LOAD);
    expect([same.status, JSON.parse(same.body)]).toEqual([200, { success: true, model: MODEL }]);
    expect(same.headers['access-control-allow-origin']).toBeUndefined();
    const nav = await send(r.port, 'GET', '/', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' });
    expect(nav.status).toBe(200);
    expect(nav.headers['content-type']).toMatch(/^text\/html/);
    const cli = await send(r.port, 'GET', '/v1/models', {});
    expect(cli.status).toBe(200);
    // /health stays open to any page (nothing to read, no effect).
    expect((await send(r.port, 'GET', '/health', { origin: 'http://evil.example' })).status).toBe(200);
    await nothingHappened(r, dir);
  });
});

describe('--allowed-hosts and --cors-origin', () => {
  const APP = 'http://app.example:3000';
  const KEY = 'cors-test-key';
  let r: RunningRouter;
  let dir: string;
  beforeAll(async () => {
    dir = await modelsDir([MODEL]);
    r = await startRouter(['--models-dir', dir, '--allowed-hosts', 'gpu-box.lan,.corp.example', '--cors-origin', APP, '--api-key', KEY]);
  });
  afterAll(async () => {
    expect(await r.stop()).toBe(0);
  });
  const auth = { authorization: `Bearer ${KEY}` };

  test('a listed name and a listed domain are served; others still get 403', async () => {
    for (const host of ['gpu-box.lan:8080', 'GPU-BOX.LAN', 'corp.example', 'llm.corp.example:443']) {
      expect({ host, status: (await send(r.port, 'GET', '/v1/models', { host, ...auth })).status }).toEqual({ host, status: 200 });
    }
    for (const host of ['gpu-box.lan.evil.com', 'evilcorp.example', 'box.lan']) {
      expectRefusal(await send(r.port, 'GET', '/v1/models', { host, ...auth }), 'host_not_allowed', '--allowed-hosts');
    }
  });

  test('a preflight from the allowed origin: 204, methods, headers incl. Authorization, Max-Age, without the key', async () => {
    const res = await send(r.port, 'OPTIONS', '/v1/chat/completions', {
      origin: APP,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type,x-stainless-os',
    });
    expect(res.status).toBe(204);
    expect(res.body).toBe('');
    expect(res.headers['access-control-allow-origin']).toBe(APP);
    expect(res.headers.vary).toMatch(/Origin/);
    expect(res.headers['access-control-allow-methods']).toMatch(/\bPOST\b/);
    const allowed = String(res.headers['access-control-allow-headers']).toLowerCase().split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type', 'x-stainless-os']));
    expect(Number(res.headers['access-control-max-age'])).toBeGreaterThan(0);
  });

  test('the allowed origin gets its answers with CORS headers; the key is still required; another origin is refused', async () => {
    const ok = await send(r.port, 'GET', '/v1/models', { origin: APP, ...auth });
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe(APP);
    const nokey = await send(r.port, 'POST', '/models/load', { origin: APP, 'content-type': 'application/json' }, LOAD);
    expect(nokey.status).toBe(401);
    // The browser lets the app read why.
    expect(nokey.headers['access-control-allow-origin']).toBe(APP);
    expectRefusal(await send(r.port, 'POST', '/models/load', { origin: 'http://app.example:3001', 'content-type': 'text/plain', ...auth }, LOAD), 'origin_not_allowed', '--cors-origin');
    await nothingHappened(r, dir, KEY);
  });
});

test('a non-loopback bind skips the Host check (the operator exposed it; --api-key protects it)', async () => {
  const dir = await modelsDir([MODEL]);
  const KEY = 'exposed-key';
  const r = await startRouter(['--models-dir', dir, '--host', '0.0.0.0', '--api-key', KEY]);
  try {
    const res = await send(r.port, 'GET', '/v1/models', { host: 'gpu-box.example.net:8080', authorization: `Bearer ${KEY}` });
    expect(res.status).toBe(200);
    expect((await send(r.port, 'GET', '/v1/models', { host: 'gpu-box.example.net:8080' })).status).toBe(401);
  } finally {
    expect(await r.stop()).toBe(0);
  }
  // Without a key, the router says at start that anyone who can reach it can use it.
  const open = await startRouter(['--models-dir', dir, '--host', '0.0.0.0']);
  try {
    expect(open.logs().some((l) => l.level === 40 && /without --api-key/.test(String(l.msg)))).toBe(true);
    expect(await json(await fetch(`${open.url}/health`))).toEqual({ status: 'ok' });
  } finally {
    expect(await open.stop()).toBe(0);
  }
});
