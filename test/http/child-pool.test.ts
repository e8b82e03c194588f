/**
 * The proxy's own keep-alive pool for children (src/http/child-pool.ts, in place of node's http.Agent): what node's
 * agent did is still done. A connection is reused; one the child's answer says not to keep (Connection: close, a
 * Keep-Alive hint of 1 s) is not; a free one idle for the upstream timeout is closed; close() ends them all.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ModelProxy } from '../../src/http/proxy.js';

interface Child {
  port: number;
  opened: number;
  closed: number;
  whenClosed(n: number): Promise<void>;
  /** The child closes every idle kept-alive connection at once (its keep-alive timers ran out together). */
  closeIdle(): void;
  /** /slow is answered once this resolves (`open`). */
  gate: Promise<void>;
  open(): void;
  close(): Promise<void>;
}

/** Answers `{"ok":true}`; the request path picks extra answer headers: /close, /hint1, /hint5. */
function child(): Promise<Child> {
  const sockets = new Set<Socket>();
  const waits: [number, () => void][] = [];
  let opened!: () => void;
  const c: Child = {
    port: 0,
    opened: 0,
    closed: 0,
    whenClosed: (n) => new Promise<void>((resolve) => (c.closed >= n ? resolve() : waits.push([n, resolve]))),
    closeIdle: () => server.closeIdleConnections(),
    gate: new Promise<void>((r) => (opened = r)),
    open: () => opened(),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (req.url === '/close') headers.connection = 'close';
      if (req.url === '/hint1') headers['keep-alive'] = 'timeout=1';
      if (req.url === '/hint5') headers['keep-alive'] = 'timeout=5';
      const answer = () => res.writeHead(200, headers).end('{"ok":true}');
      if (req.url === '/slow') void c.gate.then(answer);
      else answer();
    });
  });
  server.on('connection', (s: Socket) => {
    c.opened++;
    sockets.add(s);
    s.on('close', () => {
      sockets.delete(s);
      c.closed++;
      for (const w of waits.filter(([n]) => c.closed >= n)) w[1]();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      c.port = (server.address() as AddressInfo).port;
      resolve(c);
    }),
  );
}

/**
 * The router's side: forwards every request to `target` (or to the target `target(path)` names).
 * `beforeForward`: run in the same turn as the forward (no event between them).
 */
async function front(
  proxy: ModelProxy,
  target: string | ((path: string) => string),
  beforeForward?: () => void,
): Promise<{ call(path: string): Promise<void>; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      beforeForward?.();
      const to = typeof target === 'string' ? target : target(req.url!);
      void proxy.forward(req, res, Buffer.from('{}'), { target: to, headers: {} });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    call: async (path) => {
      const res = await fetch(`${base}${path}`, { method: 'POST', body: '{}' });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true });
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test('reused while the answers allow it; not kept after Connection: close or a 1 s Keep-Alive hint', async () => {
  const c = await child();
  const proxy = new ModelProxy();
  const f = await front(proxy, `http://127.0.0.1:${c.port}`);
  try {
    for (let i = 0; i < 3; i++) await f.call('/');
    expect([c.opened, c.closed]).toEqual([1, 0]);
    await f.call('/hint5');
    await f.call('/');
    expect([c.opened, c.closed]).toEqual([1, 0]);
    await f.call('/close');
    await c.whenClosed(1);
    await f.call('/hint1');
    await c.whenClosed(2);
    await f.call('/');
    await f.call('/');
    expect([c.opened, c.closed]).toEqual([3, 2]);
  } finally {
    proxy.close();
    await f.close();
    await c.close();
  }
});

test('a free connection idle for the upstream timeout is closed; close() ends the ones left', async () => {
  const c = await child();
  const proxy = new ModelProxy({ idleTimeoutMs: 300 });
  const f = await front(proxy, `http://127.0.0.1:${c.port}`);
  try {
    // Taken before the call: the idle clock cannot start before the request, and a slow read of the answer here
    // does not eat into the margin.
    const t0 = performance.now();
    await f.call('/');
    await c.whenClosed(1);
    // Closed by the router's idle clock (the child keeps connections 60 s), not before it ran out.
    expect(performance.now() - t0).toBeGreaterThan(200);
    await f.call('/');
    expect(c.opened).toBe(2);
    proxy.close();
    await c.whenClosed(2);
  } finally {
    proxy.close();
    await f.close();
    await c.close();
  }
});

test('the one retry after a stale kept-alive connection goes out on a new connection, not on another stale one', async () => {
  const c = await child();
  const proxy = new ModelProxy();
  let stale = false;
  const f = await front(proxy, `http://127.0.0.1:${c.port}`, () => {
    if (stale) c.closeIdle();
  });
  try {
    // Three connections in the pool, then the child closes all three just as the next request is sent.
    await Promise.all([f.call('/'), f.call('/'), f.call('/')]);
    expect(c.opened).toBe(3);
    stale = true;
    await f.call('/');
    expect(c.opened).toBe(4);
  } finally {
    proxy.close();
    await f.close();
    await c.close();
  }
});

test('a connection whose target left the proxy\'s cache while it answered is closed when its answer ends, not kept where nothing looks', async () => {
  const c = await child();
  const proxy = new ModelProxy();
  const base = `http://127.0.0.1:${c.port}`;
  // /slow goes to `base`, /t/N to `base/?N` (another entry in the proxy's cache, the same child).
  const f = await front(proxy, (path) => (path.startsWith('/t/') ? `${base}/?${path.slice(3)}` : base));
  const call = f.call;
  try {
    const slow = call('/slow');
    // While /slow is answered, 257 other targets overflow the cache (256), which drops every entry.
    for (let i = 0; i < 257; i++) await call(`/t/${i}`);
    const closedBefore = c.closed;
    c.open();
    await slow;
    // /slow's connection closes when its answer ends (its entry is gone); the others were closed with the cache.
    await c.whenClosed(closedBefore + 1);
    expect(c.opened - c.closed).toBeLessThanOrEqual(1);
  } finally {
    proxy.close();
    await f.close();
    await c.close();
  }
});
