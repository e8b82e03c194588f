/**
 * An external backend (`url = http://host:port`): a server the router did not start and does not own. It is "loaded"
 * by calling its load route (if the preset gives one) and waiting for its health path to answer 200, "unloaded" by
 * calling its unload route (if any). There is no process: no pid (memory is the preset's `memory =`, never measured),
 * nothing to kill, and it never exits on its own. It implements the supervisor's Backend, as a Child does, so the
 * router starts, stops and leases both alike, and shares the supervisor's pieces: polling with backoff (poll.ts),
 * the log of last lines (line-log.ts) and start, stop and exit once (once.ts).
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { HttpRoute, ModelSpec } from '../catalog/model-spec.js';
import type { Backend } from '../supervisor/backend.js';
import { LineLog } from '../supervisor/line-log.js';
import { ExitOnce, Once } from '../supervisor/once.js';
import { pollUntil } from '../supervisor/poll.js';
import type { ExitInfo } from '../supervisor/types.js';
import type { ModelErrorKind } from './errors.js';

export type { Backend } from '../supervisor/backend.js';

/**
 * A backend that refuses connections for this long while being loaded is down, not starting: the load fails as
 * unreachable instead of holding its waiters until the load timeout. One that answers anything (e.g. 503 while
 * loading) is there and gets the whole load timeout.
 */
export const UNREACHABLE_MS = 5_000;
/** Lines kept for lastLines() and the ExitInfo. */
const LOG_LINES = 50;
/** How much of a failing answer's body goes into the error. */
const SNIPPET_CHARS = 300;
/** What the router sends as the external backend's key: never the client's own Authorization. */
export const API_KEY_ENV = 'API_KEY';

export type ExternalFailure = 'unreachable' | 'refused' | 'timeout' | 'stopped';

export class ExternalBackendError extends Error {
  constructor(
    message: string,
    /** unreachable: no connection; refused: the load route answered non-2xx; timeout: never healthy in time. */
    readonly reason: ExternalFailure,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ExternalBackendError';
  }
}

/**
 * The error a waiter gets when an external backend's load fails: the backend's trouble, not the router's, so the
 * client is told it may retry; 'unreachable' when no connection could be made. Undefined: not the backend's
 * (queue full, shutting down…), answered as for any model.
 */
export function externalRejection(kind: string, failure: ExternalFailure | undefined): { kind: ModelErrorKind; retryable: true } | undefined {
  if (kind === 'load_failed') return { kind: failure === 'unreachable' ? 'unreachable' : 'load_failed', retryable: true };
  if (kind === 'load_timeout') return { kind: 'load_timeout', retryable: true };
  if (kind === 'backoff') return { kind: 'backoff', retryable: true };
  return undefined;
}

export interface ExternalOptions {
  name: string;
  /** Base URL (no trailing slash; may carry a path prefix). */
  url: string;
  healthPath: string;
  loadRoute?: HttpRoute;
  unloadRoute?: HttpRoute;
  /** Sent with every call and every proxied request (the backend's own key, if it has one). */
  headers: Record<string, string>;
  loadTimeoutMs: number;
  /** Longest wait for the unload route's answer. */
  stopTimeoutMs: number;
  unreachableMs?: number;
  /** What happened, line by line (for `GET /logs/:model` and failure reports). */
  onLog?: (line: string) => void;
}

export function externalOptions(
  spec: ModelSpec,
  opts: { loadTimeoutMs: number; stopTimeoutMs: number; onLog?: (line: string) => void },
): ExternalOptions {
  const key = spec.env[API_KEY_ENV];
  return {
    name: spec.name,
    url: spec.url!,
    healthPath: spec.healthPath,
    loadRoute: spec.loadRoute,
    unloadRoute: spec.unloadRoute,
    headers: key ? { authorization: `Bearer ${key}` } : {},
    loadTimeoutMs: opts.loadTimeoutMs,
    stopTimeoutMs: opts.stopTimeoutMs,
    onLog: opts.onLog,
  };
}

interface Answer {
  status: number;
  body: string;
}

/** One backend's "life" in the router: from a start() to the stop() after it. Like a Child, used once. */
export class ExternalBackend extends EventEmitter implements Backend {
  readonly name: string;
  readonly pid = undefined;
  readonly port: number | undefined;
  readonly #opts: ExternalOptions;
  readonly #lines: LineLog;
  readonly #abort = new AbortController();
  readonly #starting = new Once(() => this.#startOrUnload());
  readonly #stopping = new Once(() => this.#stop());
  #ready = false;
  /** The load route was sent and may have been carried out: an unload is owed even if the load did not finish. */
  #loadAsked = false;
  readonly #exit = new ExitOnce(this);

  constructor(opts: ExternalOptions) {
    super();
    this.name = opts.name;
    this.#opts = opts;
    this.#lines = new LineLog(LOG_LINES, opts.onLog);
    const u = new URL(opts.url);
    this.port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  }

  get url(): string {
    return this.#opts.url;
  }

  /** Headers the proxy adds to every request to this backend. */
  get headers(): Record<string, string> {
    return this.#opts.headers;
  }

  /** The newest n lines (all kept lines if n is omitted), oldest first. */
  lastLines(n?: number): string[] {
    return this.#lines.last(n);
  }

  /** Call the load route (if any), then wait for health 200. Rejects with an ExternalBackendError. */
  start(): Promise<void> {
    return this.#starting.run();
  }

  /** Call the unload route (once loaded, if there is one); nothing to kill. Never rejects. */
  stop(): Promise<ExitInfo> {
    return this.#stopping.run();
  }

  /** #start; a load that fails on its own (not by stop()) ends this backend's life here. */
  async #startOrUnload(): Promise<void> {
    try {
      await this.#start();
    } catch (err) {
      // stop() ends a stopped load itself (unloading first if needed).
      if (!this.#abort.signal.aborted) {
        // Never healthy after a load route it accepted: the router counts it unloaded, so ask it to let go.
        if (this.#loadAsked) await this.#unload();
        this.#finish(false);
      }
      throw err;
    }
  }

  async #start(): Promise<void> {
    const deadline = Date.now() + this.#opts.loadTimeoutMs;
    const route = this.#opts.loadRoute;
    if (route) {
      this.#loadAsked = true;
      let answer: Answer;
      try {
        answer = await this.#call(route, deadline, 'load');
      } catch (err) {
        if ((err as ExternalBackendError).reason === 'unreachable') this.#loadAsked = false; // it never got there
        throw err;
      }
      if (answer.status < 200 || answer.status > 299) {
        this.#loadAsked = false;
        throw new ExternalBackendError(
          `${this.#describe(route)} answered ${answer.status}: ${snippet(answer.body)}`,
          'refused',
          answer.status,
        );
      }
    }
    await this.#waitHealthy(deadline);
    if (this.#abort.signal.aborted) throw this.#stopped();
    this.#ready = true;
    this.#log(`ready: GET ${this.#opts.healthPath} answered 200`);
  }

  async #stop(): Promise<ExitInfo> {
    const wasReady = this.#ready;
    this.#abort.abort();
    if (this.#starting.promise && !wasReady) await this.#starting.promise.catch(() => undefined);
    if (wasReady || this.#loadAsked) await this.#unload();
    return this.#finish(true);
  }

  /** The unload route, if any; a failure is logged, never thrown. */
  async #unload(): Promise<void> {
    const route = this.#opts.unloadRoute;
    if (!route) return;
    this.#loadAsked = false;
    try {
      const answer = await this.#call(route, Date.now() + this.#opts.stopTimeoutMs, 'unload', false);
      if (answer.status < 200 || answer.status > 299) this.#log(`unload failed: ${this.#describe(route)} answered ${answer.status}: ${snippet(answer.body)}`);
    } catch (err) {
      // The router forgets it anyway: it cannot make a server it does not own let go of its memory.
      this.#log(`unload failed: ${(err as Error).message}`);
    }
  }

  /** Poll health with backoff until 200, the deadline, stop(), or UNREACHABLE_MS without any answer. */
  async #waitHealthy(deadline: number): Promise<void> {
    const started = Date.now();
    const unreachableMs = this.#opts.unreachableMs ?? UNREACHABLE_MS;
    const route: HttpRoute = { method: 'GET', path: this.#opts.healthPath };
    let answered = false;
    let last = '';
    const healthy = async (): Promise<boolean> => {
      try {
        const a = await this.#request(route, Math.min(deadline, Date.now() + 5_000));
        if (a.status === 200) return true;
        answered = true;
        last = `answered ${a.status}: ${snippet(a.body)}`;
      } catch (err) {
        if (this.#abort.signal.aborted) throw this.#stopped();
        // Cut off by the deadline: the answer before says more than "no answer in time".
        if (!answered || Date.now() < deadline) last = errorText(err);
        if (!answered && Date.now() - started >= Math.min(unreachableMs, this.#opts.loadTimeoutMs)) {
          throw new ExternalBackendError(`GET ${this.#opts.url}${route.path} failed: ${last}`, 'unreachable', undefined, { cause: err });
        }
      }
      if (Date.now() >= deadline) {
        throw new ExternalBackendError(
          `not healthy within ${this.#opts.loadTimeoutMs} ms (GET ${this.#opts.url}${route.path} ${last || 'never answered'})`,
          'timeout',
        );
      }
      return false;
    };
    try {
      // First poll at once (a server already up answers now), then 50 ms doubling to 500 ms, never past the deadline.
      await pollUntil(healthy, this.#abort.signal, { initialDelayMs: 50, factor: 2, maxDelayMs: 500, until: deadline });
    } catch (err) {
      if (this.#abort.signal.aborted) throw this.#stopped();
      throw err;
    }
  }

  async #call(route: HttpRoute, deadline: number, what: 'load' | 'unload', abortable = true): Promise<Answer> {
    this.#log(`${what}: ${this.#describe(route)}`);
    try {
      const answer = await this.#request(route, deadline, abortable);
      this.#log(`${what}: ${answer.status}`);
      return answer;
    } catch (err) {
      if (abortable && this.#abort.signal.aborted) throw this.#stopped();
      const reason = Date.now() >= deadline ? 'timeout' : 'unreachable';
      throw new ExternalBackendError(`${this.#describe(route)} failed: ${errorText(err)}`, reason, undefined, { cause: err });
    }
  }

  /** One HTTP exchange, no connection pooling (nothing of ours lingers after stop), at most until `deadline`. */
  #request(route: HttpRoute, deadline: number, abortable = true): Promise<Answer> {
    const target = new URL(this.#opts.url + route.path);
    const client = target.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = { ...this.#opts.headers };
    if (route.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(route.body));
    }
    return new Promise<Answer>((resolve, reject) => {
      const signals = [AbortSignal.timeout(Math.max(1, deadline - Date.now()))];
      if (abortable) signals.push(this.#abort.signal);
      const req = client.request(target, { method: route.method, headers, agent: false, signal: AbortSignal.any(signals) }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (body.length < 64 * 1024) body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(route.body);
    });
  }

  #describe(route: HttpRoute): string {
    return `${route.method} ${this.#opts.url}${route.path}`;
  }

  #stopped(): ExternalBackendError {
    return new ExternalBackendError(`${this.name} was stopped before it was ready`, 'stopped');
  }

  #log(line: string): void {
    this.#lines.add(line);
  }

  #finish(expected: boolean): ExitInfo {
    return this.#exit.settle({ code: null, signal: null, expected, lastLines: this.lastLines() });
  }
}

function snippet(body: string): string {
  const s = body.replace(/\s+/g, ' ').trim();
  return s.length > SNIPPET_CHARS ? `${s.slice(0, SNIPPET_CHARS)}…` : s || '(empty body)';
}

function errorText(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'no answer in time';
  return e?.code ? `${e.code} (${e.message})` : String(e?.message ?? err);
}
