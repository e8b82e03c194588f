/**
 * The proxy benchmark's client and the verdict on llama.cpp's router: a new connection per request when asked (and
 * one kept-alive connection otherwise), through the bare and the raw-socket relays too, whose own connections upstream
 * stay kept alive;
 * and the target judged per good answer, with the per-request-sent figure still reported.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from '@jest/globals';
import { load } from '../../bench/client.js';
import { BARE_RELAY, NET_RELAY, startProcess, stopAll, untilHealthy } from '../../bench/processes.js';
import type { OverheadRow, SideResult } from '../../bench/proxy-overhead.js';
import { overheadTargets } from '../../bench/report.js';

/** A server answering `{}` that counts the connections it was given. */
async function counting(): Promise<{ url: string; connections: () => number; port: number; close: () => Promise<void> }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(req.url === '/health' ? '{"status":"ok"}' : '{}'));
  });
  server.on('connection', () => n++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connections: () => n,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

describe('the benchmark client', () => {
  afterAll(async () => {
    await stopAll();
  });

  it('keeps one connection alive, or opens a new one per request when asked', async () => {
    const s = await counting();
    try {
      const kept = await load(`${s.url}/x`, '{}', 1, 0.3);
      expect(kept.failures).toBe(0);
      expect(kept.latencies.length).toBeGreaterThan(5);
      expect(s.connections()).toBe(1);
      const before = s.connections();
      const fresh = await load(`${s.url}/x`, '{}', 1, 0.3, { fresh: true });
      expect(fresh.failures).toBe(0);
      expect(s.connections() - before).toBe(fresh.latencies.length);
    } finally {
      await s.close();
    }
  });

  it.each([
    ['bare relay', BARE_RELAY],
    ['net relay', NET_RELAY],
  ])("through the %s, every answer arrives and a client's Connection: close does not close the connection upstream", async (_name, bin) => {
    const s = await counting();
    const relay = await startProcess([bin, '${PORT}', String(s.port)]);
    try {
      await untilHealthy(relay, 10_000);
      const kept = await load(`${relay.url}/x`, '{"a":1}', 2, 0.3);
      expect(kept.failures).toBe(0);
      expect(kept.latencies.length).toBeGreaterThan(5);
      const before = s.connections();
      const r = await load(`${relay.url}/x`, '{}', 1, 0.3, { fresh: true });
      expect(r.failures).toBe(0);
      expect(r.latencies.length).toBeGreaterThan(5);
      expect(s.connections() - before).toBeLessThanOrEqual(1);
      // Several at a time, each closing: the relay says it closes, so node's client never sends a request on a
      // connection the relay is closing.
      const many = await load(`${relay.url}/x`, '{}', 8, 0.5, { fresh: true });
      expect(many.failureKinds).toEqual({});
      expect(many.latencies.length).toBeGreaterThan(20);
    } finally {
      await relay.stop();
      await s.close();
    }
  }, 30_000);
});

describe("the verdict against llama.cpp's router", () => {
  const side = (name: SideResult['name'], cpuMsPerReq: number, cpuMsPerOk: number, failures = 0): SideResult => ({
    name, p50: 1, p99: 2, rps: 100, addedP50: 0.1, addedP99: 0.2, rpsRatio: 0.9, cpuMsPerReq, cpuMsPerOk, failures, failureKinds: {},
  });
  const row = (fresh: boolean, ours: [number, number], peer: [number, number, number]): OverheadRow => ({
    upstream: 'llama-server', request: '/tokenize', stream: false, connections: 1, chunks: 1, rounds: 1, ...(fresh ? { fresh } : {}),
    sides: [side('bare relay', 0.2, 0.2), side('router', ...ours), side('llama.cpp router', ...peer)],
  });
  const line = (rows: OverheadRow[]) => overheadTargets(rows).find((l) => l.includes("llama.cpp's router's"))!;

  it("names, under a row where ours loses, what the raw-socket relay costs there against llama.cpp's router", () => {
    const lost = row(true, [0.4, 0.4], [0.36, 0.36, 0]);
    lost.sides.splice(1, 0, side('net relay', 0.38, 0.38));
    const won = row(false, [0.2, 0.2], [0.17, 0.34, 500]);
    won.sides.splice(1, 0, side('net relay', 0.1, 0.1));
    const lines = overheadTargets([won, lost]);
    expect(lines.filter((l) => l.includes('raw-socket relay'))).toEqual([
      "  - /tokenize at 1, a new connection per request: the raw-socket relay is 1.06x llama.cpp's router's there",
    ]);
  });

  it.each([
    // Kept alive, half its requests dropped: cheaper per request sent, dearer per answer; new connections agree.
    ['met', [row(false, [0.2, 0.2], [0.17, 0.34, 500]), row(true, [0.3, 0.3], [0.36, 0.36, 0])], /0\.83x \(kept-alive connections 0\.59x, a new connection per request 0\.83x\), met; per request sent .*: 1\.18x/],
    ['not met on new connections', [row(false, [0.2, 0.2], [0.17, 0.34, 500]), row(true, [0.4, 0.4], [0.36, 0.36, 0])], /1\.11x .*\*\*not met\*\*/],
    ['not met per answer', [row(false, [0.4, 0.4], [0.17, 0.34, 500])], /1\.18x \(kept-alive connections 1\.18x\), \*\*not met\*\*; per request sent .*: 2\.35x/],
  ])('%s', (_what, rows, expected) => {
    expect(line(rows)).toMatch(expected);
  });
});
