/**
 * ModelProxy.dropIdle: a child about to be stopped first loses the router's idle kept-alive connections to it
 * (llama-server's workers notice a shutdown on an open keep-alive connection only every 10 ms, which delayed its
 * exit and so every model swap). Connections to other children stay open and keep being reused.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ModelProxy } from '../../src/http/proxy.js';

interface Upstream {
  port: number;
  /** Connections accepted so far, and those of them closed. */
  opened: number;
  closed: number;
  closedOnce(): Promise<void>;
  close(): Promise<void>;
}

function upstream(): Promise<Upstream> {
  const sockets = new Set<Socket>();
  let onClosed: (() => void) | undefined;
  const up: Upstream = {
    port: 0,
    opened: 0,
    closed: 0,
    closedOnce: () => new Promise<void>((resolve) => (onClosed = resolve)),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on('end', () => res.end('{"ok":true}'));
  });
  server.on('connection', (s: Socket) => {
    up.opened++;
    sockets.add(s);
    s.on('close', () => {
      sockets.delete(s);
      up.closed++;
      onClosed?.();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      up.port = (server.address() as AddressInfo).port;
      resolve(up);
    }),
  );
}

test('dropIdle closes the idle kept-alive connections to one port and leaves the others reused', async () => {
  const a = await upstream();
  const b = await upstream();
  const proxy = new ModelProxy();
  let target = '';
  const front = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => void proxy.forward(req, res, Buffer.from('{}'), { target, headers: {} }));
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}/v1/chat/completions`;
  const call = async (up: Upstream) => {
    target = `http://127.0.0.1:${up.port}`;
    const res = await fetch(url, { method: 'POST', body: '{}' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  };
  try {
    await call(a);
    await call(b);
    expect([a.opened, a.closed, b.opened, b.closed]).toEqual([1, 0, 1, 0]);

    const aClosed = a.closedOnce();
    proxy.dropIdle(a.port);
    await aClosed;
    expect(a.closed).toBe(1);

    // The other child's connection is still the one in use; the dropped child gets a new one if asked again.
    await call(b);
    await call(a);
    expect([a.opened, b.opened, b.closed]).toEqual([2, 1, 0]);
  } finally {
    proxy.close();
    front.closeAllConnections();
    await new Promise((r) => front.close(r));
    await a.close();
    await b.close();
  }
});
