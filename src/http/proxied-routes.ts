/**
 * The proxied inference routes, served on node:http without express: a POST to one of `proxiedRoutes` (exact
 * path) is handled here directly; everything else (control routes, the dashboard, and unusual spellings of the
 * proxied paths, which express's routing still matches and sends here) goes to the express app.
 *
 * Why: the proxy-overhead benchmark's profile of the router under load showed express's routing and
 * middleware chain, body-parser and http-proxy-3's per-request passes as the router's CPU per request beyond
 * a bare node:http relay's; on 2 cores that CPU is taken from inference.
 *
 * The checks are the express path's, in the same order: the guards (Host, cross-origin), the API key, then the request is
 * counted (metrics), its body read under --max-body, its model named, a lease taken (queue, references) and
 * the request forwarded (src/http/proxy.ts); the lease is released when the answer is closed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Cancel, Router } from '../router/router.js';
import { keyOf } from './auth.js';
import type { Answer, RequestHead } from './edge.js';
import type { LaneRequest } from './fast-lane.js';
import type { LaneResponse } from './lane-response.js';
import { retryOnNewChild } from './forward-lease.js';
import { RouterError, sendError } from './errors.js';
import type { RouterMetrics } from './metrics.js';
import { modelOf } from './model-field.js';
import type { ModelProxy } from './proxy.js';

export interface ProxiedOptions {
  router: Router;
  proxy: ModelProxy;
  metrics: RouterMetrics;
  apiKey?: string | readonly string[];
  /** The express path's edge checks (Host, cross-origin), run first, in order; one that answers stops the request. */
  guards: readonly Guard[];
  /** The whole request body under --max-body; throws the error the client is told. */
  readBody(req: IncomingMessage, res: ServerResponse): Promise<Buffer>;
}

export type Guard = (req: RequestHead, res: Answer, next: () => void) => void;

const sha256 = (s: string) => createHash('sha256').update(s).digest();

export class ProxiedRoutes {
  /** The proxied paths (the fast lane serves the same: app.ts). */
  readonly paths: ReadonlySet<string>;
  /** The API keys' hashes, computed once (the comparison hashes only the key given). */
  private readonly keyHashes: Buffer[];

  constructor(
    routes: readonly string[],
    private readonly o: ProxiedOptions,
  ) {
    this.paths = new Set(routes);
    this.keyHashes = (typeof o.apiKey === 'string' ? [o.apiKey] : (o.apiKey ?? [])).filter(Boolean).map(sha256);
  }

  /** A POST to one of the proxied paths, spelled exactly (a query string aside). */
  matches(req: IncomingMessage): boolean {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    return this.paths.has(q === -1 ? url : url.slice(0, q));
  }

  /** Set by `next` while the guards run (they call it synchronously): one function for every request. */
  private passed = false;
  private readonly next = (): void => {
    this.passed = true;
  };

  /** A request read by node's server: its body is read here. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.admits(req, res)) void this.serve(req, res, this.o.readBody(req, res));
  };

  /** A request the fast lane read whole (fast-lane.ts). */
  readonly handleLane = (req: LaneRequest, res: LaneResponse): void => {
    if (this.admits(req, res)) void this.serve(req, res, req.body);
  };

  /** The guards and the key: false when one of them answered. */
  private admits(req: RequestHead, res: Answer): boolean {
    for (const guard of this.o.guards) {
      this.passed = false;
      guard(req, res, this.next);
      if (!this.passed) return false;
    }
    if (this.keyHashes.length) {
      const given = keyOf(req);
      // Every key is compared (no early exit), so timing tells nothing about which one nearly matched.
      const hash = given === undefined ? undefined : sha256(given);
      let ok = false;
      for (const k of this.keyHashes) if (hash && timingSafeEqual(hash, k)) ok = true;
      if (!ok) {
        sendError(res, new RouterError('invalid_api_key', given === undefined ? 'missing API key' : 'invalid API key'));
        return false;
      }
    }
    return true;
  }

  /** `body`: the request's, or its reading (node's server). */
  private async serve(req: RequestHead, res: Answer, body: Buffer | Promise<Buffer>): Promise<void> {
    const { router, proxy } = this.o;
    const call = new Call(this.o.metrics, res);
    res.on('close', call.onClose);
    let release: (() => void) | undefined;
    try {
      if (!Buffer.isBuffer(body)) body = await body;
      const spec = router.require(modelOf(req, body));
      call.model = spec.name;
      const lease = await router.acquire(spec.name, call);
      release = lease.release;
      if (call.aborted) return;
      // A child that died a moment ago (exit not yet handled) costs a wait for a new one, not a 502 (forward-lease.ts).
      const failed = await proxy.forward(req, res, body, lease, true);
      if (failed) await retryOnNewChild(router, proxy, req, res, body, lease, call, failed);
    } catch (err) {
      if (!call.aborted) sendError(res, err);
    } finally {
      release?.();
    }
  }
}

/**
 * One proxied request's own state, and the cancellation its wait in the queue listens to (router.acquire):
 * lighter than an AbortController per request, which was a measurable share of the path's CPU.
 */
class Call implements Cancel {
  /** The model named, once known: the request counter's label. */
  model?: string;
  /** When the request came (latency metrics). */
  readonly started = performance.now();
  aborted = false;
  private listener?: () => void;

  constructor(
    private readonly metrics: RouterMetrics,
    private readonly res: Answer,
  ) {}

  /** Counted once, when the answer is closed (or the client left: 499). Only a client gone before its answer was sent aborts. */
  readonly onClose = (): void => {
    this.metrics.countAnswered(this.model, this.res, this.started);
    if (this.res.writableFinished || this.aborted) return;
    this.aborted = true;
    const listener = this.listener;
    this.listener = undefined;
    listener?.();
  };

  addEventListener(_type: 'abort', listener: () => void): void {
    this.listener = listener;
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    if (this.listener === listener) this.listener = undefined;
  }
}
