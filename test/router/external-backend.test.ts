/**
 * ExternalBackend against a small real HTTP server in this process: what start() waits for and when it gives up
 * (a 503 is "loading", silence is "down", a deadline is a timeout), that stop() during a load ends it at once, that
 * the unload route is called once the load route was accepted (even if the load then failed or was stopped), and
 * that the backend's key and JSON bodies are sent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ExternalBackend, ExternalBackendError, type ExternalOptions } from '../../src/router/external.js';
import { waitFor } from '../helpers/wait.js';

interface Seen {
  method: string;
  url: string;
  auth?: string;
  type?: string;
  body: string;
}

const open = new Set<http.Server>();
afterEach(async () => {
  // A failed test must not leave its server listening.
  await Promise.all([...open].map((srv) => new Promise((r) => srv.close(r))));
  open.clear();
});

/** A server whose health answers `health()`; every request is recorded. */
async function server(health: () => number) {
  const seen: Seen[] = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, type: req.headers['content-type'], body });
      if (req.url === '/health') {
        const status = health();
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ status: status === 200 ? 'ok' : 'loading' }));
      } else if (req.url === '/refuse') {
        res.writeHead(409, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'busy doing something else' }));
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":true}');
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  open.add(srv);
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  const close = () => {
    open.delete(srv);
    return new Promise<void>((r) => srv.close(() => r()));
  };
  return { url, seen, close };
}

const base = (url: string, extra: Partial<ExternalOptions> = {}): ExternalOptions => ({
  name: 'ext',
  url,
  healthPath: '/health',
  headers: {},
  loadTimeoutMs: 10_000,
  stopTimeoutMs: 2_000,
  ...extra,
});

async function failure(p: Promise<unknown>): Promise<ExternalBackendError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ExternalBackendError);
    return err as ExternalBackendError;
  }
  throw new Error('expected a failure');
}

describe('ExternalBackend', () => {
  test('load route (JSON body, its own key), then health until 200; stop calls the unload route', async () => {
    let polls = 0;
    const s = await server(() => (++polls < 3 ? 503 : 200));
    const b = new ExternalBackend(
      base(s.url, {
        loadRoute: { method: 'POST', path: '/load', body: '{"model":"ext"}' },
        unloadRoute: { method: 'POST', path: '/unload' },
        headers: { authorization: 'Bearer backend-key' },
      }),
    );
    const exits: unknown[] = [];
    b.on('exit', (e) => exits.push(e));
    expect(b.pid).toBeUndefined();
    expect(b.port).toBe(Number(new URL(s.url).port));
    await b.start();
    expect(s.seen.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /load', 'GET /health', 'GET /health', 'GET /health']);
    expect(s.seen[0]).toMatchObject({ type: 'application/json', body: '{"model":"ext"}', auth: 'Bearer backend-key' });
    expect(s.seen.every((r) => r.auth === 'Bearer backend-key')).toBe(true);
    const info = await b.stop();
    expect(info).toMatchObject({ code: null, signal: null, expected: true });
    expect(s.seen.at(-1)).toMatchObject({ method: 'POST', url: '/unload', type: undefined, body: '' });
    expect(exits).toHaveLength(1);
    expect(await b.stop()).toBe(info); // once
    await s.close();
  });

  test('a load route that answers non-2xx fails with its status and body; no health poll, no unload', async () => {
    const s = await server(() => 200);
    const b = new ExternalBackend(base(s.url, { loadRoute: { method: 'POST', path: '/refuse' }, unloadRoute: { method: 'POST', path: '/unload' } }));
    const err = await failure(b.start());
    expect(err.reason).toBe('refused');
    expect(err.status).toBe(409);
    expect(err.message).toBe(`POST ${s.url}/refuse answered 409: {"error":"busy doing something else"}`);
    await b.stop();
    expect(s.seen.map((r) => r.url)).toEqual(['/refuse']);
    await s.close();
  });

  test('a server that answers 503 is loading: it gets the whole load timeout, then fails as a timeout', async () => {
    const s = await server(() => 503);
    const b = new ExternalBackend(base(s.url, { loadTimeoutMs: 1_500, unreachableMs: 200 }));
    const err = await failure(b.start());
    expect(err.reason).toBe('timeout');
    expect(err.message).toMatch(/not healthy within 1500 ms \(GET .*\/health answered 503: \{"status":"loading"\}\)/);
    expect(s.seen.length).toBeGreaterThan(1);
    await s.close();
  });

  test('nothing listening: down after unreachableMs, not after the load timeout', async () => {
    const s = await server(() => 200);
    const url = s.url;
    await s.close(); // the port is free now: connections are refused
    const b = new ExternalBackend(base(url, { loadTimeoutMs: 60_000, unreachableMs: 300 }));
    const err = await failure(b.start());
    expect(err.reason).toBe('unreachable');
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  test('stop() during a health-only load ends it at once; nothing was asked, so nothing is unloaded', async () => {
    const s = await server(() => 503);
    const b = new ExternalBackend(base(s.url, { loadTimeoutMs: 60_000, unloadRoute: { method: 'POST', path: '/unload' } }));
    const starting = b.start();
    await waitFor('two health polls', () => s.seen.length >= 2, 15_000, 10);
    const info = await b.stop();
    expect(info.expected).toBe(true);
    expect((await failure(starting)).reason).toBe('stopped');
    expect(s.seen.some((r) => r.url === '/unload')).toBe(false);
    await s.close();
  });

  test('a load it asked for but that never became healthy is unloaded: on timeout, and on stop()', async () => {
    const s = await server(() => 503);
    const routes = { loadRoute: { method: 'POST', path: '/load' }, unloadRoute: { method: 'POST', path: '/unload' } };
    const timedOut = new ExternalBackend(base(s.url, { ...routes, loadTimeoutMs: 500 }));
    expect((await failure(timedOut.start())).reason).toBe('timeout');
    expect(s.seen.at(-1)).toMatchObject({ method: 'POST', url: '/unload' });

    s.seen.length = 0;
    const stopped = new ExternalBackend(base(s.url, { ...routes, loadTimeoutMs: 60_000 }));
    const starting = stopped.start();
    await waitFor('a health poll', () => s.seen.some((r) => r.url === '/health'), 15_000, 10);
    await stopped.stop();
    expect((await failure(starting)).reason).toBe('stopped');
    expect(s.seen.map((r) => r.url).filter((u) => u !== '/health')).toEqual(['/load', '/unload']);
  });

  test('an unload route that cannot be reached is logged, and stop() still resolves', async () => {
    const s = await server(() => 200);
    const lines: string[] = [];
    const b = new ExternalBackend(base(s.url, { unloadRoute: { method: 'POST', path: '/unload' }, onLog: (l) => lines.push(l) }));
    await b.start();
    await s.close();
    const info = await b.stop();
    expect(info.expected).toBe(true);
    expect(lines.at(-1)).toMatch(/^unload failed: POST .*\/unload failed: ECONNREFUSED/);
  });
});
