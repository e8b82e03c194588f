/**
 * Forwards the kept request bytes to a child and streams its answer back unbuffered.
 * http-proxy-3 sends the request (and destroys it when our client goes away); the response
 * side is ours, so a child that dies mid-answer ends an SSE stream with an error event
 * rather than a clean-looking end, and the lease is released exactly once either way.
 * A child that goes silent (stopped, deadlocked) for the idle timeout gets a 504 (or an SSE
 * error event) to its client instead of a hang; time the client spends not reading is not
 * counted, since then the proxy itself holds the child back (backpressure through pipe()).
 */
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { Request, Response } from 'express';
import { createProxyServer } from 'http-proxy-3';
import { RouterError, sendError } from './errors.js';
import { tapUsage } from './usage-tap.js';

export interface ProxyTarget {
  target: string;
  headers: Record<string, string>;
  /** The model served (for onIdleTimeout). */
  model?: string;
}

export interface ProxyOptions {
  /** Longest time the child may send nothing while the proxy waits on it (0 = no limit). */
  idleTimeoutMs?: number;
  /** The child of `to` stayed silent for idleTimeoutMs: the owner may check whether it is hung. */
  onIdleTimeout?(to: ProxyTarget): void;
}

/** The idle watch of one forwarded request. */
interface Watch {
  to: ProxyTarget;
  timer?: NodeJS.Timeout;
  proxyReq?: http.ClientRequest;
  proxyRes?: http.IncomingMessage;
  /** Set once the timeout fired: the error the client is told. */
  timedOut?: RouterError;
}

const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export class ModelProxy {
  // Keep-alive to children: a fresh TCP connection per request would dominate the overhead.
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, keepAliveMsecs: 1000 });
  /** For external backends (`url = https://…`); children are always plain http on loopback. */
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: Infinity, keepAliveMsecs: 1000 });
  private readonly proxy = createProxyServer({ agent: this.agent, xfwd: false, selfHandleResponse: true });
  private readonly watches = new WeakMap<object, Watch>();

  constructor(private readonly opts: ProxyOptions = {}) {
    this.proxy.on('proxyReq', (proxyReq, req, res) => {
      const len = (req as Request & { rawBody?: Buffer }).rawBody?.length ?? 0;
      // Hop-by-hop: the client's `Connection: close` is about its socket to us. Sent on to a node child over
      // our kept-alive socket, the child closes after answering while we pool the socket (its SSE answers say
      // `keep-alive`), and the next request on it gets node's bare 400 ("data after Connection: close").
      for (const h of hopByHop) proxyReq.removeHeader(h);
      proxyReq.removeHeader('x-api-key');
      // body-parser has already inflated a gzip/deflate/br body: the kept bytes are plain.
      proxyReq.removeHeader('content-encoding');
      proxyReq.setHeader('content-length', String(len));
      const watch = this.watches.get(req);
      if (watch) {
        watch.proxyReq = proxyReq;
        if (this.opts.idleTimeoutMs) this.arm(watch, res as unknown as Response);
      }
    });
    this.proxy.on('proxyRes', (proxyRes, req, res) => {
      const watch = this.watches.get(req);
      if (watch) watch.proxyRes = proxyRes;
      this.relay(proxyRes, res as unknown as Response, watch);
    });
  }

  /**
   * Proxy `req` (whose body bytes are `body`) to the target; resolves when the client's response is closed.
   * `retried`: this is the one retry after a kept-alive connection turned out closed (staleConnection).
   */
  forward(req: Request, res: Response, body: Buffer, to: ProxyTarget, retried = false): Promise<void> {
    (req as Request & { rawBody?: Buffer }).rawBody = body;
    // The client's Authorization is the router's own key: the upstream sees only the key `to` gives it, or none.
    if (!to.headers.authorization) delete req.headers.authorization;
    const watch: Watch = { to };
    this.watches.set(req, watch);
    return new Promise((resolve) => {
      res.once('close', () => {
        disarm(watch);
        this.watches.delete(req);
        resolve();
      });
      this.proxy.web(
        req,
        res,
        {
          target: to.target,
          headers: to.headers,
          buffer: keptBody(body),
          // An external backend may sit behind a virtual host: it gets its own Host, not the router's.
          changeOrigin: true,
          ...(to.target.startsWith('https:') ? { agent: this.httpsAgent } : {}),
        },
        (err: Error) => {
          disarm(watch);
          if (!retried && staleConnection(err, watch)) return void this.forward(req, res, body, to, true);
          const told = watch.timedOut ?? err;
          if (res.headersSent) return this.breakStream(res, told);
          sendError(
            res,
            watch.timedOut ?? upstreamError(err, to.target),
          );
        },
      );
    });
  }

  close(): void {
    this.proxy.close();
    this.agent.destroy();
    this.httpsAgent.destroy();
  }

  /** (Re)start the idle clock: the child has this long to send its next byte. */
  private arm(watch: Watch, res: Response): void {
    // refresh(): the same timer pushed back, cheap enough to call on every chunk.
    if (watch.timer) {
      watch.timer.refresh();
      return;
    }
    const ms = this.opts.idleTimeoutMs!;
    watch.timer = setTimeout(() => {
      watch.timer = undefined;
      // The client is not reading and pipe() paused the child: the silence is ours, not the child's.
      if (res.writableNeedDrain) {
        res.once('drain', () => this.arm(watch, res));
        return;
      }
      const s = ms / 1000;
      watch.timedOut = new RouterError('upstream_timeout', `the model server sent nothing for ${s} s (--upstream-timeout)`);
      this.opts.onIdleTimeout?.(watch.to);
      if (watch.proxyRes) {
        watch.proxyRes.destroy();
        this.breakStream(res, watch.timedOut);
      } else {
        watch.proxyReq?.destroy(watch.timedOut);
      }
    }, ms);
  }

  private relay(proxyRes: http.IncomingMessage, res: Response, watch?: Watch): void {
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(proxyRes.headers)) if (!hopByHop.has(k) && v !== undefined) headers[k] = v;
    res.writeHead(proxyRes.statusCode ?? 502, headers);
    const sse = String(proxyRes.headers['content-type'] ?? '').includes('text/event-stream');
    res.locals.sse = sse;
    if (sse) res.flushHeaders();
    let ended = false;
    if (watch && this.opts.idleTimeoutMs) {
      this.arm(watch, res);
      proxyRes.on('data', () => this.arm(watch, res));
    }
    proxyRes.on('end', () => {
      ended = true;
      if (watch) disarm(watch);
      res.end();
    });
    proxyRes.on('close', () => {
      if (watch) disarm(watch);
      if (!ended && !proxyRes.complete) this.breakStream(res, new Error('the model server closed the connection mid-answer'));
    });
    proxyRes.on('error', (err) => {
      if (!ended) this.breakStream(res, err);
    });
    tapUsage(proxyRes, res.locals); // token counts for /metrics: keeps chunk references, parses once at the end
    proxyRes.pipe(res, { end: false });
  }

  /** The child failed after the answer began: say so in-band for SSE, else cut the response. */
  private breakStream(res: Response, err: Error): void {
    if (res.writableEnded || res.destroyed) return;
    if (!res.locals.sse) {
      res.destroy(err);
      return;
    }
    const body = (
      err instanceof RouterError ? err : new RouterError('upstream_failed', `the model server failed mid-stream: ${err.message}`)
    ).toJSON();
    res.end(`event: error\ndata: ${JSON.stringify(body)}\n\n`);
  }
}

/** Errors that mean no connection was made: the server is down or not there (yet). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT']);

/**
 * What a client is told when the upstream failed before answering: OpenAI error JSON saying it may retry (a
 * connection refused or reset left nothing half done on our side), 502 backend_unreachable when no connection
 * could be made at all.
 */
export function upstreamError(err: Error, target: string): RouterError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code && UNREACHABLE.has(code)) {
    return new RouterError('backend_unreachable', `the model server at ${target} could not be reached (${code})`, { retryable: true, cause: err });
  }
  return new RouterError('upstream_failed', `the model server failed: ${err.message}`, { retryable: true, cause: err });
}

/**
 * The kept body as http-proxy-3's `buffer`, which it only ever `.pipe()`s into the child's request: one
 * `end(body)` sends the headers and the body in one write, without a Readable and a pipe per request
 * (a measurable share of the router's CPU per request in the proxy-overhead benchmark). It waits for
 * 'socket': http-proxy-3 emits 'proxyReq' from its own earlier 'socket' listener, and our handler of
 * that still edits the headers.
 */
function keptBody(body: Buffer): Readable {
  return {
    pipe<T extends NodeJS.WritableStream>(dest: T): T {
      (dest as unknown as http.ClientRequest).once('socket', () => dest.end(body));
      return dest;
    },
  } as unknown as Readable;
}

/**
 * The child closed an idle kept-alive connection (its keep-alive timeout) just as this request was sent on it:
 * nothing reached the child, so the request may be sent again, once, on a fresh connection.
 */
function staleConnection(err: Error, watch: Watch): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return (code === 'ECONNRESET' || code === 'EPIPE') && !!watch.proxyReq?.reusedSocket && !watch.proxyRes && !watch.timedOut;
}

function disarm(watch: Watch): void {
  clearTimeout(watch.timer);
  watch.timer = undefined;
}
