/**
 * The proxy benchmark's load generator: N keep-alive connections (or N at a time, a new one per request), each
 * sending the next request when the last answer has ended, for a fixed time. Every answer's status is checked (and a stream's end, when asked):
 * autocannon miscounts llama-server's answers, and a proxy that answers fast with errors must not look fast.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface LoadResult {
  /** Response times of good answers, ms (to the last byte of the body). */
  latencies: number[];
  /** Good answers per second. */
  rps: number;
  /** Requests that failed: a connection error, a non-200 status, a stream cut short. */
  failures: number;
  /** What the failures were, by kind (first seen first). */
  failureKinds: Record<string, number>;
}

export interface LoadOptions {
  /** The last bytes of a good answer must contain this (a stream's `[DONE]`). */
  tail?: string;
  /**
   * A new connection for every request (`Connection: close`): what a client of llama.cpp's router gets anyway, as
   * it closes each connection after one answer though it announces keep-alive; here no side fails, and every side
   * pays for a connection per answer.
   */
  fresh?: boolean;
}

export async function load(url: string, body: string, connections: number, durationS: number, opts: LoadOptions = {}): Promise<LoadResult> {
  const u = new URL(url);
  const payload = Buffer.from(body);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(payload.length) };
  if (opts.fresh) headers.connection = 'close';
  const agent = new http.Agent({ keepAlive: !opts.fresh, maxSockets: connections });
  const latencies: number[] = [];
  const failureKinds: Record<string, number> = {};
  let failures = 0;
  const fail = (kind: string) => {
    failures++;
    failureKinds[kind] = (failureKinds[kind] ?? 0) + 1;
  };
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      let settled = false;
      const settle = (kind?: string) => {
        if (settled) return;
        settled = true;
        if (kind === undefined) latencies.push(performance.now() - t0);
        else fail(kind);
        resolve();
      };
      const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers, agent }, (res) => {
        let last = '';
        res.on('data', (d: Buffer) => {
          if (opts.tail) last = (last + d.toString('latin1')).slice(-64);
        });
        res.on('end', () => {
          if (res.statusCode !== 200) settle(`status ${res.statusCode}`);
          else if (opts.tail && !last.includes(opts.tail)) settle(`no ${opts.tail} at the end`);
          else settle();
        });
        res.on('error', (err: NodeJS.ErrnoException) => settle(err.code ?? err.message));
        res.on('close', () => settle(res.complete ? undefined : 'cut mid-answer'));
      });
      req.on('error', (err: NodeJS.ErrnoException) => settle(`${err.code ?? ''} ${err.message}`.trim()));
      req.end(payload);
    });
  const started = performance.now();
  const end = started + durationS * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) await one();
    }),
  );
  const elapsedS = (performance.now() - started) / 1000;
  agent.destroy();
  return { latencies, rps: latencies.length / elapsedS, failures, failureKinds };
}
