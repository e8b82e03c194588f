/**
 * The proxy benchmark's client and the verdict on llama.cpp's router: a new connection per request when asked (and
 * one kept-alive connection otherwise), through the bare and the raw-socket relays too, whose own connections upstream
 * stay kept alive;
 * and the target judged per good answer, with the per-request-sent figure still reported.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from '@jest/globals';
import { load } from '../../bench/client.js';
import { describeProbe, probeKeepAlive } from '../../bench/keepalive-probe.js';
import { BARE_RELAY, CLIENT_RELAY, NET_RELAY, startProcess, stopAll, untilHealthy } from '../../bench/processes.js';
import type { OverheadRow, SideResult } from '../../bench/proxy-overhead.js';
import { overheadTargets } from '../../bench/report.js';

/**
 * The upstream of these tests: it echoes each request's body, its head and body in two writes a moment apart (as
 * llama-server writes them), or with no Content-Length at all (chunked) when the path is /chunked; and it counts the
 * connections it was given.
 */
async function upstream(): Promise<{ url: string; port: number; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      if (req.url === '/health') return res.end('{"status":"ok"}');
      if (req.url === '/chunked') {
        res.write(body);
        return setTimeout(() => res.end(), 5);
      }
      res.writeHead(200, { 'content-length': body.length });
      res.flushHeaders();
      setTimeout(() => res.end(body), 2);
    });
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
    const s = await upstream();
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
    ['client relay', CLIENT_RELAY],
  ])("through the %s, every answer arrives and a client's Connection: close does not close the connection upstream", async (_name, bin) => {
    const s = await upstream();
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

/** POST body to url; the answer's body, or the error's code. */
function post(url: string, body: string, agent: http.Agent, close: boolean): Promise<string> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'content-length': String(Buffer.byteLength(body)), ...(close ? { connection: 'close' } : {}) };
    const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
      let got = '';
      res.on('data', (d: Buffer) => (got += d.toString()));
      res.on('end', () => resolve(got));
      res.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    req.end(body);
  });
}

describe('the relays', () => {
  afterAll(async () => {
    await stopAll();
  });

  it.each([
    ['bare relay', false, BARE_RELAY],
    ['bare relay', true, BARE_RELAY],
    ['net relay', false, NET_RELAY],
    ['net relay', true, NET_RELAY],
    ['client relay', false, CLIENT_RELAY],
    ['client relay', true, CLIENT_RELAY],
  ])('the %s gives each of 4 clients at a time its own answer, split over reads (a new connection each: %s)', async (_name, fresh, bin) => {
    const up = await upstream();
    const relay = await startProcess([bin, '${PORT}', String(up.port)]);
    const agent = new http.Agent({ keepAlive: !fresh, maxSockets: 4 });
    try {
      await untilHealthy(relay, 10_000);
      const sent: string[] = [];
      const got: string[] = [];
      await Promise.all(
        Array.from({ length: 4 }, async (_, c) => {
          for (let i = 0; i < 15; i++) {
            const body = JSON.stringify({ client: c, i, pad: 'x'.repeat(100 * i) });
            sent.push(body);
            got.push(await post(`${relay.url}/x`, body, agent, fresh));
          }
        }),
      );
      expect(got.sort()).toEqual(sent.sort());
    } finally {
      agent.destroy();
      await relay.stop();
      await up.close();
    }
  }, 30_000);

  it('the net relay closes an answer it cannot frame (no Content-Length) rather than pass a wrong one, and goes on', async () => {
    const up = await upstream();
    const relay = await startProcess([NET_RELAY, '${PORT}', String(up.port)]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await untilHealthy(relay, 10_000);
      expect(await post(`${relay.url}/chunked`, '{"a":1}', agent, false)).toMatch(/^error /);
      expect(await post(`${relay.url}/x`, '{"b":2}', agent, false)).toBe('{"b":2}');
    } finally {
      agent.destroy();
      await relay.stop();
      await up.close();
    }
  }, 30_000);
});

describe('the keep-alive probe', () => {
  it('tells a server that keeps its connection from one that says so and closes it (as llama.cpp\'s router does)', async () => {
    const up = await upstream();
    // Says keep-alive, as llama.cpp's router does, and closes once the answer is written.
    const closer = net.createServer((s) => {
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 2\r\n\r\nok'));
    });
    await new Promise<void>((r) => closer.listen(0, '127.0.0.1', r));
    try {
      const kept = await probeKeepAlive(`${up.url}/x`, '{"a":1}', 200);
      expect(kept).toEqual({ status: 200, connection: 'keep-alive', keepAlive: 'timeout=5' });
      expect(describeProbe(kept, 200)).toMatch(/still open 200 ms after the answer$/);
      const closed = await probeKeepAlive(`http://127.0.0.1:${(closer.address() as AddressInfo).port}/x`, '{}', 2_000);
      expect(closed).toMatchObject({ status: 200, connection: undefined, keepAlive: 'timeout=5, max=100' });
      expect(closed.closedAfterMs).toBeLessThan(1_000);
      expect(describeProbe(closed)).toMatch(/Connection: \(none\), Keep-Alive: timeout=5, max=100; it closed the connection \d+ ms after the answer$/);
    } finally {
      await up.close();
      await new Promise<void>((r) => closer.close(() => r()));
    }
  });
});

describe("the verdict against llama.cpp's router", () => {
  const side = (name: SideResult['name'], cpuMsPerReq: number, cpuMsPerOk: number | undefined, failures = 0): SideResult => ({
    name, p50: 1, p99: 2, rps: 100, addedP50: 0.1, addedP99: 0.2, rpsRatio: 0.9, cpuMsPerReq, ...(cpuMsPerOk === undefined ? {} : { cpuMsPerOk }), failures, failureKinds: {},
  });
  const row = (fresh: boolean, ours: [number, number | undefined, number?], peer: [number, number, number]): OverheadRow => ({
    upstream: 'llama-server', request: '/tokenize', stream: false, connections: 1, chunks: 1, rounds: 1, ...(fresh ? { fresh } : {}),
    sides: [side('bare relay', 0.2, 0.2), side('router', ours[0], ours[1], ours[2]), side('llama.cpp router', ...peer)],
  });
  const line = (rows: OverheadRow[]) => overheadTargets(rows).find((l) => l.includes("llama.cpp's router's"))!;

  it("names, under a row where ours loses, what the raw-socket relay costs there against llama.cpp's router", () => {
    const lost = row(true, [0.4, 0.4], [0.36, 0.36, 0]);
    lost.sides.splice(1, 0, side('net relay', 0.38, 0.38));
    const won = row(false, [0.2, 0.2], [0.17, 0.34, 500]);
    won.sides.splice(1, 0, side('net relay', 0.1, 0.1));
    const lines = overheadTargets([won, lost]);
    expect(lines.filter((l) => l.includes('raw-socket relay'))).toEqual([
      "  - /tokenize at 1, a new connection per request: the raw-socket relay (forwarding bytes, no routing) is 1.06x llama.cpp's router's there",
    ]);
  });

  it('adds the client relay (our server and client) under a row we lose, when the row has one', () => {
    const lost = row(true, [0.4, 0.4], [0.36, 0.36, 0]);
    lost.sides.splice(1, 0, side('net relay', 0.27, 0.27), side('client relay', 0.3, 0.3));
    expect(overheadTargets([lost]).filter((l) => l.includes('raw-socket relay'))).toEqual([
      "  - /tokenize at 1, a new connection per request: the raw-socket relay (forwarding bytes, no routing) is 0.75x llama.cpp's router's there, the client relay (our server and client, no routing) 0.83x",
    ]);
  });

  it.each([
    // Kept alive, half its requests dropped: cheaper per request sent, dearer per answer; new connections agree.
    ['met', [row(false, [0.2, 0.2], [0.17, 0.34, 500]), row(true, [0.3, 0.3], [0.36, 0.36, 0])], /0\.83x \(a new connection per request 0\.83x, kept-alive connections 0\.59x\), met; per request sent .*: 1\.18x/],
    ['not met on new connections', [row(false, [0.2, 0.2], [0.17, 0.34, 500]), row(true, [0.4, 0.4], [0.36, 0.36, 0])], /1\.11x .*\*\*not met\*\*/],
    ['not met per answer', [row(false, [0.4, 0.4], [0.17, 0.34, 500])], /1\.18x \(kept-alive connections 1\.18x\), \*\*not met\*\*; per request sent .*: 2\.35x/],
    // Ours answered nothing on a row (all failed): no figure there is no win.
    ['not met when ours answered nothing on a row', [row(false, [0.2, 0.2], [0.17, 0.34, 500]), row(true, [0.01, undefined, 300], [0.36, 0.36, 0])], /no figure on a row .*300 of the router's requests failed, \*\*not met\*\*/],
    // Cheap failures flatter: any failed request of ours fails the target.
    ['not met when some of ours failed', [row(true, [0.2, 0.25, 5], [0.36, 0.36, 0])], /0\.69x .*5 of the router's requests failed, \*\*not met\*\*/],
  ])('%s', (_what, rows, expected) => {
    expect(line(rows)).toMatch(expected);
  });
});
