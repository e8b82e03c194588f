import http from 'node:http';
import { pollUntil, type Nudge } from './poll.js';

export interface HealthTarget {
  host: string;
  port: number;
  path: string;
  headers?: Record<string, string>;
}

/**
 * One GET of the health endpoint. Resolves with the status code, or undefined when there was no answer
 * (connection refused while the child is still starting, reset, per-request timeout). Rejects only when `signal`
 * aborts. No agent: each poll gets its own socket, closed when the answer ends (`Connection: close`), so nothing
 * lingers after the child is ready or gone.
 */
export function probeHealth(target: HealthTarget, signal: AbortSignal, timeoutMs: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    let settled = false;
    const finish = (status: number | undefined, err?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (err !== undefined) reject(err);
      else resolve(status);
    };
    const req = http.get({
      hostname: target.host,
      port: target.port,
      path: target.path,
      headers: target.headers,
      agent: false,
    });
    const onAbort = () => {
      req.destroy();
      finish(undefined, signal.reason);
    };
    // A child that accepts the connection but never answers (stuck loading) must not stall polling.
    const timer = setTimeout(() => {
      req.destroy();
      finish(undefined);
    }, timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    req.on('response', (res) => {
      const status = res.statusCode;
      // Drain the body so the socket closes; we only want the status.
      res.resume();
      res.on('end', () => finish(status));
      res.on('error', () => finish(status));
      res.on('close', () => finish(status));
    });
    req.on('error', () => finish(undefined));
  });
}

export interface ReadinessOptions {
  /** First wait before polling, then each wait grows by `factor` up to maxDelayMs. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  factor?: number;
  /** Per-request timeout. */
  requestTimeoutMs?: number;
  /** Set by the caller to cut the current wait short: the child said it is ready (see Child). */
  nudge?: Nudge;
}

/**
 * Polls until the health endpoint answers 200. Resolves then; rejects with `signal.reason` when the caller aborts
 * (child exited, load timeout, stop). The backoff starts small because a small model is ready in well under a
 * second, and caps at 100 ms: a request waits for the load, so a readiness seen late is added to its first byte
 * (up to the cap), while a poll costs a local GET (a 2-minute load costs ~1,200 of them).
 */
export function waitUntilHealthy(target: HealthTarget, signal: AbortSignal, opts: ReadinessOptions = {}): Promise<void> {
  const requestTimeoutMs = opts.requestTimeoutMs ?? 2000;
  return pollUntil(async () => (await probeHealth(target, signal, requestTimeoutMs)) === 200, signal, {
    initialDelayMs: opts.initialDelayMs ?? 25,
    maxDelayMs: opts.maxDelayMs ?? 100,
    factor: opts.factor ?? 1.5,
    waitFirst: true,
    nudge: opts.nudge,
  });
}
