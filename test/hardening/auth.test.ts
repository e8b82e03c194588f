/**
 * --api-key on every route the router serves: a missing, wrong or malformed key is a 401
 * OpenAI error everywhere but /health and the dashboard's data-free files; the comparison
 * hashes both sides so it is constant-time whatever the lengths.
 */
import { join } from 'node:path';
import { proxiedRoutes } from '../../src/http/app.js';
import { sameKey } from '../../src/http/auth.js';
import { chat, json, models, processesMentioning, serversOf, startRouter, type RunningRouter } from '../helpers/router.js';
import { modelsDir } from '../router/fixtures.js';

describe('sameKey', () => {
  test('only the exact key matches', () => {
    expect(sameKey('s3cret-key', 's3cret-key')).toBe(true);
    expect(sameKey('', '')).toBe(true);
    for (const other of ['S3CRET-KEY', 's3cret-ke', 's3cret-keyy', ' s3cret-key', 's3cret-key\u0000', '', 's3cret_key']) {
      expect(sameKey(other, 's3cret-key')).toBe(false);
    }
    expect(sameKey('clé-🔑', 'clé-🔑')).toBe(true);
    expect(sameKey('cle-🔑', 'clé-🔑')).toBe(false);
  });

  test('keys of any length are compared without throwing (both sides are hashed to 32 bytes)', () => {
    // timingSafeEqual on the raw keys would throw on unequal lengths, and an early length check would leak the length.
    expect(sameKey('x'.repeat(1_000_000), 'short')).toBe(false);
    expect(sameKey('', 'x'.repeat(64))).toBe(false);
  });
});

const KEY = 'Router-Key-0123456789abcdef';
/** A name that must not show in anything served without the key. */
const MODEL = 'privatemodel';

/** Every credential that is not the key, in each place a client may put one. */
const refused: [string, Record<string, string>][] = [
  ['no key', {}],
  ['a wrong key', { authorization: 'Bearer wrong' }],
  ['the key in another case', { authorization: `Bearer ${KEY.toUpperCase()}` }],
  ['the key in lower case', { authorization: `Bearer ${KEY.toLowerCase()}` }],
  ['the key one character short', { authorization: `Bearer ${KEY.slice(0, -1)}` }],
  ['the key one character long', { authorization: `Bearer ${KEY}x` }],
  ['the key with %00 appended', { authorization: `Bearer ${KEY}%00` }],
  ['an empty Bearer', { authorization: 'Bearer ' }],
  ['Bearer alone', { authorization: 'Bearer' }],
  ['no space after Bearer', { authorization: `Bearer${KEY}` }],
  ['Bearer: KEY', { authorization: `Bearer: ${KEY}` }],
  ['Bearer twice', { authorization: `Bearer Bearer ${KEY}` }],
  ['a trailing word', { authorization: `Bearer ${KEY} extra` }],
  ['the key without a scheme', { authorization: KEY }],
  ['Basic with the key', { authorization: `Basic ${Buffer.from(`user:${KEY}`).toString('base64')}` }],
  ['Token scheme', { authorization: `Token ${KEY}` }],
  ['a wrong X-Api-Key', { 'x-api-key': 'wrong' }],
  ['X-Api-Key in another case', { 'x-api-key': KEY.toUpperCase() }],
  ['the key in the query string', {}],
];

let r: RunningRouter;
let dir: string;
const routes: { method: string; path: string }[] = [];

beforeAll(async () => {
  dir = await modelsDir([MODEL]);
  r = await startRouter(['--models-dir', dir, '--api-key', KEY]);
  // Read from app.ts and the route files; proxied ones come from the list the app mounts.
  for (const path of ['/models', '/v1/models', '/models?reload=1', '/models/sse', '/metrics', '/history', `/logs/${MODEL}`, `/logs/${MODEL}?follow=1`, '/devices', '/nope', '/ui/other']) {
    routes.push({ method: 'GET', path });
  }
  for (const path of ['/models/load', '/models/unload', '/models/reload', '/nope', ...proxiedRoutes]) routes.push({ method: 'POST', path });
  routes.push({ method: 'PUT', path: '/models' }, { method: 'DELETE', path: '/v1/chat/completions' }, { method: 'OPTIONS', path: '/v1/models' });
});

afterAll(async () => {
  expect(await r.stop()).toBe(0);
  expect(processesMentioning(dir).filter((p) => p !== r.proc.pid)).toEqual([]);
});

function send(method: string, path: string, headers: Record<string, string>): Promise<Response> {
  const body = method === 'POST' ? JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1, input: 'x', prompt: 'x' }) : undefined;
  return fetch(`${r.url}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body });
}

test('every route but /health refuses every credential that is not the key: 401 OpenAI JSON, nothing loaded', async () => {
  expect(routes.length).toBeGreaterThan(25);
  const wrong: string[] = [];
  for (const { method, path } of routes) {
    for (const [what, headers] of refused) {
      const target = what === 'the key in the query string' ? `${path}${path.includes('?') ? '&' : '?'}api_key=${KEY}&key=${KEY}` : path;
      const res = await send(method, target, headers);
      const text = await res.text();
      let body: any;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      const ok =
        res.status === 401 &&
        res.headers.get('content-type')?.startsWith('application/json') &&
        body?.error?.type === 'authentication_error' &&
        body?.error?.code === 'invalid_api_key' &&
        typeof body?.error?.message === 'string';
      if (!ok) wrong.push(`${method} ${target} with ${what}: ${res.status} ${text.slice(0, 200)}`);
    }
  }
  expect(wrong).toEqual([]);
  // Nothing a refused request asked for happened.
  const list = await models(r.url, KEY);
  expect(list.map((m) => [m.id, m.status.value, m.in_flight, m.queued])).toEqual([[MODEL, 'unloaded', 0, 0]]);
  // A memory probe (--dry-run) may be running: the router estimates every model from its start.
  expect(serversOf(r, dir)).toEqual([]);
});

test('/health is open, with or without a key', async () => {
  for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Bearer ${KEY}` }] as Record<string, string>[]) {
    const res = await fetch(`${r.url}/health`, { headers });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ status: 'ok' });
  }
});

test('the dashboard shell is served without the key and holds no data: no model name, path or key', async () => {
  const shell = ['/', '/ui', '/ui/dashboard.js', '/ui/dashboard.css'];
  for (const path of shell) {
    const res = await fetch(`${r.url}${path}`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.length).toBeGreaterThan(100);
    for (const secret of [MODEL, dir, KEY, 'alpha']) expect(text).not.toContain(secret);
  }
  // The page's data comes from routes that need the key.
  expect((await fetch(`${r.url}/models/sse`)).status).toBe(401);
});

test('the key is accepted as Bearer (any case of the scheme) or X-Api-Key, on a router route and a proxied one', async () => {
  const accepted: Record<string, string>[] = [{ authorization: `Bearer ${KEY}` }, { authorization: `bearer ${KEY}` }, { authorization: `BEARER  ${KEY}` }, { 'x-api-key': KEY }];
  for (const headers of accepted) {
    const res = await fetch(`${r.url}/v1/models`, { headers });
    expect(res.status).toBe(200);
    expect((await json(res)).data.map((m: { id: string }) => m.id)).toEqual([MODEL]);
  }
  const res = await chat(r.url, MODEL, { max_tokens: 1 }, { headers: { authorization: `Bearer ${KEY}` } });
  expect(res.status).toBe(200);
  expect((await json(res)).choices).toHaveLength(1);
  // The child was started for it; the refusals above started none.
  const m = (await models(r.url, KEY))[0];
  expect(m.status.value).toBe('loaded');
  expect(m.in_flight).toBe(0);
  expect(processesMentioning(join(dir, `${MODEL}.gguf`))).toEqual([m.pid]);
});
