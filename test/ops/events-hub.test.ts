/**
 * The /models/sse hub in-process with a fake router: heartbeats, fresh snapshots when
 * counters change, and listeners and timers gone once the last client leaves.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { ModelEvents } from '../../src/http/events-routes.js';
import { waitFor } from '../helpers/wait.js';
import { openEvents } from './helpers.js';

class FakeRouter extends EventEmitter {
  refs = 0;
  list() {
    const spec = { name: 'm', aliases: [], modelPath: '/m.gguf', args: [], priority: 0, pin: false };
    return [{ spec, status: 'loaded', refs: this.refs, queued: 0, lastUsed: 0, failures: 0 }] as any;
  }
  devices() {
    return { readings: [{ name: 'CPU', total: 100, free: 60 }], at: 1, marginBytes: 10, caps: {} };
  }
}

let server: http.Server;
let url: string;
const router = new FakeRouter();
const hub = new ModelEvents(router as any, { heartbeatMs: 50, pollMs: 30 });

beforeAll(async () => {
  const app = express();
  app.get('/models/sse', hub.handler);
  server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/models/sse`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

test('heartbeat comments keep an idle stream alive', async () => {
  const s = await openEvents(url);
  const pings = () => s.comments.filter((c) => c.trim() === 'ping').length;
  await waitFor('two heartbeats (every 50 ms)', () => pings() >= 2, 5_000, 10);
  s.close();
  expect(pings()).toBeGreaterThanOrEqual(2);
});

test('the snapshot carries models and devices; a change in counters sends a fresh one', async () => {
  const s = await openEvents(url);
  const first = await s.next((e) => e.event === 'snapshot', 'snapshot');
  expect(first.data.data[0]).toMatchObject({ id: 'm', in_flight: 0 });
  expect(first.data.devices).toEqual({ data: [{ name: 'CPU', total: 100, free: 60 }], at: 1, memory_margin: 10, memory_max: {} });
  router.refs = 2;
  const next = await s.next((e) => e.event === 'snapshot' && e.data.data[0].in_flight === 2, 'snapshot with in_flight 2');
  expect(next).toBeDefined();
  router.refs = 0;
  s.close();
});

test('router events become named SSE events with model, from/to, reason, at', async () => {
  const s = await openEvents(url);
  await s.next((e) => e.event === 'snapshot', 'snapshot');
  router.emit('event', { type: 'eviction', model: 'm', reason: 'memory', detail: 'needs room', at: 42 });
  router.emit('event', { type: 'status_change', model: 'm', from: 'loaded', to: 'unloading', at: 43 });
  expect((await s.next((e) => e.event === 'eviction', 'eviction')).data).toEqual({ model: 'm', reason: 'memory', detail: 'needs room', at: 42 });
  expect((await s.next((e) => e.event === 'status_change', 'status_change')).data).toEqual({ model: 'm', from: 'loaded', to: 'unloading', at: 43 });
  s.close();
});

/** Every client of the hub gone (the server notices a closed stream a moment later). */
async function drained(): Promise<void> {
  await waitFor('the hub without clients', () => hub.size === 0, 5_000, 20);
}

test('no listener or client is left once every client has gone', async () => {
  await drained(); // streams of earlier tests
  const before = router.listenerCount('event');
  const streams = await Promise.all(Array.from({ length: 20 }, () => openEvents(url)));
  await Promise.all(streams.map((s) => s.next((e) => e.event === 'snapshot', 'snapshot')));
  expect(hub.size).toBe(20);
  // One listener for all clients, however many.
  expect(router.listenerCount('event')).toBe(1);
  for (const s of streams) s.close();
  await drained();
  expect(hub.size).toBe(0);
  expect(router.listenerCount('event')).toBe(before);
  expect(before).toBe(0);
});
