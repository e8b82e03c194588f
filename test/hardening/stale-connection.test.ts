/**
 * The keep-alive race: a child closes an idle kept-alive connection (its keep-alive timeout) just as the router
 * sends the next request on it. Found by the 10,000-request load test as rare 502 "socket hang up"s; the proxy
 * now sends such a request again, once, on a fresh connection. Here the upstream closes every reused connection
 * without answering, so the race happens every time.
 */
import express from 'express';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { ModelProxy } from '../../src/http/proxy.js';

/** Answers the first request on each connection, then drops the connection when a second one arrives on it. */
function closingUpstream(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    let requests = 0;
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      buf = buf.slice(end + 4 + length);
      if (++requests > 1) return void sock.destroy();
      const body = '{"ok":true}';
      sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        connections: () => connections,
        close: () => {
          for (const s of sockets) s.destroy();
          return new Promise((r) => server.close(() => r()));
        },
      }),
    ),
  );
}

test('a request sent on a kept-alive connection the child just closed is sent again on a new one', async () => {
  const upstream = await closingUpstream();
  const proxy = new ModelProxy({ idleTimeoutMs: 60_000 });
  const app = express();
  app.post('/v1/chat/completions', express.raw({ type: () => true }), async (req, res) => {
    await proxy.forward(req, res, req.body as Buffer, { target: `http://127.0.0.1:${upstream.port}`, headers: {}, model: 'm' });
  });
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`;
  try {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(url, { method: 'POST', body: JSON.stringify({ model: 'm', i }), headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true });
    }
    // The 2nd and 3rd requests each met a dropped connection and were sent again on a new one.
    expect(upstream.connections()).toBe(3);
  } finally {
    proxy.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await upstream.close();
  }
});
