/**
 * Forwards the kept request bytes to a child and streams its answer back unbuffered, with node:http alone:
 * one `http.request` on a keep-alive agent, headers passed as flat raw arrays both ways, the answer forwarded by
 * one 'data' handler (each chunk written to the client and kept by the usage tap; backpressure by pause and the
 * client's 'drain', as pipe() does, without pipe()'s listeners set up and torn down on both streams per answer).
 * (It replaced http-proxy-3: the proxy-overhead benchmark's profile showed its per-request set-up, its
 * listeners and header passes as a share of the router's CPU that a plain relay does not spend; see
 * docs/BENCHMARKS.md.)
 *
 * What it keeps on top of a bare relay, each without work per streamed chunk:
 * - a child that dies mid-answer ends an SSE stream with an error event rather than a clean-looking end;
 * - a child silent for the idle timeout (stopped, deadlocked) gets its client a 504 (or an SSE error event)
 *   instead of a hang. The clock is the upstream socket's own idle timeout, armed once when the socket is made
 *   and refreshed by node on every read and write (no timer set and cleared per request); time the client spends
 *   not reading is not counted (the forwarder then holds the child back);
 * - a client gone before its answer ends destroys the request to the child, which stops generating;
 * - the one retry of a request sent on a kept-alive socket the child had just closed;
 * - with `handBack`, a request whose connection failed before any byte of answer (refused, reset, broken pipe) is
 *   handed back to the caller unanswered, so it can check whether the child died and send it to a new one
 *   (forward-lease.ts);
 * - hop-by-hop headers are not forwarded either way; the client's key never reaches the child.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ChildPool, type PooledSocket } from './child-pool.js';
import { RouterError, sendError } from './errors.js';
import { newTap, tapChunk, type UsageTap } from './usage-tap.js';

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

/** Hop-by-hop headers (RFC 9110 7.6.1), and what the router itself owns: never forwarded. */
const requestDropped = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // The body was read (and inflated) by the router: its length is the kept bytes', its encoding none.
  'content-length',
  'content-encoding',
  // The router's own key; the child gets the key of `to`, or none.
  'x-api-key',
  'authorization',
  // An external backend may sit behind a virtual host: it gets its own Host, not the router's.
  'host',
]);
const responseDropped = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/** By length: the names of responseDropped and content-type (what the answer's header loop looks at). */
const RESPONSE_CHECKED_LENGTHS: boolean[] = new Array<boolean>(32).fill(false);
for (const name of [...responseDropped, 'content-type']) RESPONSE_CHECKED_LENGTHS[name.length] = true;

interface Upstream {
  module: typeof http | typeof https;
  agent: http.Agent;
  /** Free kept-alive connections to this child (ChildPool; plain http only). */
  free: PooledSocket[];
  secure: boolean;
  hostname: string;
  port: number;
  /** Host header value. */
  host: string;
  /** `to.headers` as flat raw pairs. */
  extra: string[];
}

/** The exchange a ClientRequest to a child belongs to (the agent's hooks and the socket's timeout find it). */
const EXCHANGE = Symbol('exchange');
type ProxyRequest = http.ClientRequest & { [EXCHANGE]?: Exchange };
/** `_httpMessage` is the request node's client has on the socket (set while a request uses it, null when free). */
type UpstreamSocket = Socket & { _httpMessage?: ProxyRequest | null };

/** One forwarded request: its state lives here, not in closures. */
class Exchange {
  proxyReq?: ProxyRequest;
  proxyRes?: http.IncomingMessage;
  tap?: UsageTap;
  /** Set once the idle timeout fired: the error the client is told. */
  timedOut?: RouterError;
  /** The child's Keep-Alive header (its idle timeout for kept-alive connections), for the agent. */
  keepAliveHint?: string;
  sse = false;
  retried = false;
  done = false;
  /** The idle clock counts for this exchange (from the send to the answer's end or failure). */
  watching = false;
  /** The client's 'drain' is listened to (added on the first write the client could not take at once). */
  drainWatched = false;
  /** The caller takes back a request that failed before any answer (forward's handBack). */
  handBack = false;
  constructor(
    readonly owner: ModelProxy,
    readonly req: http.IncomingMessage,
    readonly res: http.ServerResponse,
    readonly body: Buffer,
    readonly to: ProxyTarget,
    readonly up: Upstream,
    readonly resolve: (failed?: Error) => void,
  ) {}

  /** The client's response closed (answer sent, or the client left): stop the child's work if it left. */
  readonly onClientClose = (): void => {
    this.done = true;
    this.watching = false;
    if (!this.res.writableFinished) this.proxyReq?.destroy();
    this.resolve();
  };

  /** The upstream socket saw no byte for the idle timeout (onSocketIdle). */
  onIdle(): void {
    if (this.done || this.timedOut || !this.watching) return;
    // The client is not reading and the forwarder paused the child: the silence is ours, not the child's.
    if (this.res.writableNeedDrain) {
      this.res.once('drain', () => this.proxyReq?.socket?.setTimeout(this.owner.idleTimeoutMs));
      return;
    }
    this.watching = false;
    const s = this.owner.idleTimeoutMs / 1000;
    this.timedOut = new RouterError('upstream_timeout', `the model server sent nothing for ${s} s (--upstream-timeout)`);
    this.owner.opts.onIdleTimeout?.(this.to);
    if (this.proxyRes) {
      this.proxyRes.destroy();
      breakStream(this, this.timedOut);
    } else {
      this.proxyReq?.destroy(this.timedOut);
    }
  }

  readonly onResponse = (proxyRes: http.IncomingMessage): void => {
    this.proxyRes = proxyRes;
    const raw = proxyRes.rawHeaders;
    const headers: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      // Only names as long as a dropped one or Content-Type are lowered and looked up (most are not).
      if (RESPONSE_CHECKED_LENGTHS[name.length]) {
        const lower = name.toLowerCase();
        if (responseDropped.has(lower)) {
          if (lower === 'keep-alive') this.keepAliveHint = raw[i + 1];
          continue;
        }
        if (lower === 'content-type' && raw[i + 1]!.includes('text/event-stream')) this.sse = true;
      }
      headers.push(name, raw[i + 1]!);
    }
    const res = this.res as http.ServerResponse & { locals?: Record<string, unknown> };
    res.writeHead(proxyRes.statusCode ?? 502, headers);
    // Token counts for /metrics (usage-tap.ts): keeps chunk references, parses once at the end. On the proxied
    // path `locals` is the router's own (express's res.locals on the compat routes).
    this.tap = newTap(this.sse);
    (res.locals ??= {}).usageTap = this.tap;
    // An SSE client sees the headers at once, even before the child's first event.
    if (this.sse) res.flushHeaders();
    proxyRes.on('data', this.onData);
    proxyRes.on('end', this.onUpstreamEnd);
    proxyRes.on('close', this.onUpstreamClose);
  };

  /** A chunk of the answer: to the client, and to the usage tap. A client that cannot take it holds the child back. */
  readonly onData = (chunk: Buffer): void => {
    tapChunk(this.tap!, chunk);
    if (this.res.write(chunk)) return;
    this.proxyRes!.pause();
    if (!this.drainWatched) {
      this.drainWatched = true;
      this.res.on('drain', this.onDrain);
    }
  };

  readonly onDrain = (): void => {
    this.proxyRes?.resume();
  };

  readonly onUpstreamEnd = (): void => {
    this.watching = false;
    if (!this.res.writableEnded) this.res.end();
  };

  readonly onUpstreamClose = (): void => {
    this.watching = false;
    const proxyRes = this.proxyRes!;
    if (!proxyRes.complete && !this.res.writableEnded) breakStream(this, this.timedOut ?? new Error('the model server closed the connection mid-answer'));
  };

  readonly onError = (err: Error): void => {
    this.watching = false;
    if (this.done) return;
    const code = (err as NodeJS.ErrnoException).code;
    // The child closed an idle kept-alive connection (its keep-alive timeout) just as this request was sent on it:
    // nothing reached the child, so the request may be sent again, once, on a fresh connection.
    if (!this.retried && (code === 'ECONNRESET' || code === 'EPIPE') && this.proxyReq?.reusedSocket && !this.proxyRes && !this.timedOut) {
      this.retried = true;
      this.owner.send(this);
      return;
    }
    // No byte of answer came and the connection failed: the caller decides (its child may be dead, a new one due).
    if (this.handBack && code !== undefined && HANDED_BACK.has(code) && !this.proxyRes && !this.timedOut && !this.res.headersSent) {
      this.done = true;
      this.res.removeListener('close', this.onClientClose);
      this.resolve(err);
      return;
    }
    const told = this.timedOut ?? err;
    if (this.res.headersSent) return breakStream(this, told);
    sendError(this.res, this.timedOut ?? upstreamError(err, this.to.target));
  };
}

/** The 'timeout' listener of every upstream socket, added once when it is made: tells the exchange using it. */
function onSocketIdle(this: UpstreamSocket): void {
  this._httpMessage?.[EXCHANGE]?.onIdle();
}

/**
 * For external https backends (node's https.Agent; children are ChildPool's), its two per-socket hooks (node's
 * documented overridables), so that no timer is set and cleared per request: the idle timeout is armed once, when
 * the socket is made, and stays armed while the socket is free too (node's agent then closes a free socket idle
 * that long); the default keepSocketAlive would reset it to the agent's 0 on every return to the pool, and read
 * the response's headers object (built for it) for a Keep-Alive hint the exchange already has from the raw headers.
 */
function armIdle(socket: Duplex, idleMs: number): void {
  if (idleMs > 0) {
    (socket as Socket).setTimeout(idleMs);
    socket.on('timeout', onSocketIdle);
  }
}

/** As node's Agent.keepSocketAlive, less the timeout reset: a child that keeps idle connections 1 s or less gets none kept. */
function keepAlive(socket: Duplex): boolean {
  (socket as Socket).unref();
  const hint = (socket as UpstreamSocket)._httpMessage?.[EXCHANGE]?.keepAliveHint;
  if (hint === undefined) return true;
  // A child sends the same hint on every answer: the last one's verdict is kept.
  if (hint !== lastHint) {
    const seconds = /^timeout=(\d+)/.exec(hint)?.[1];
    // node keeps a connection 1 s less than the child says (HTTP_AGENT_KEEP_ALIVE_TIMEOUT_BUFFER): nothing is left of 1 s.
    lastHintKeeps = seconds === undefined || Number(seconds) > 1;
    lastHint = hint;
  }
  return lastHintKeeps;
}
let lastHint: string | undefined;
let lastHintKeeps = true;

type Connect = (options: http.ClientRequestArgs, cb?: (err: Error | null, socket: Duplex) => void) => Duplex;

class SecureUpstreamAgent extends https.Agent {
  constructor(
    opts: https.AgentOptions,
    private readonly idleMs: number,
  ) {
    super(opts);
  }
  override createConnection(options: http.ClientRequestArgs, cb?: (err: Error | null, socket: Duplex) => void): Duplex {
    const socket = (https.Agent.prototype as unknown as { createConnection: Connect }).createConnection.call(this, options, cb);
    armIdle(socket, this.idleMs);
    return socket;
  }
  override keepSocketAlive(socket: Duplex): boolean {
    return keepAlive(socket);
  }
}

export class ModelProxy {
  // Keep-alive to children: a fresh TCP connection per request would dominate the overhead.
  private readonly pool: ChildPool;
  /** For external backends (`url = https://…`); children are always plain http on loopback. */
  private readonly httpsAgent: https.Agent;
  private readonly upstreams = new Map<string, Upstream>();
  readonly idleTimeoutMs: number;

  constructor(readonly opts: ProxyOptions = {}) {
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 0;
    this.pool = new ChildPool({
      idleMs: this.idleTimeoutMs,
      onIdle: (socket) => onSocketIdle.call(socket as UpstreamSocket),
      keep: keepAlive,
    });
    this.httpsAgent = new SecureUpstreamAgent({ keepAlive: true, maxSockets: Infinity, keepAliveMsecs: 1000 }, this.idleTimeoutMs);
  }

  /**
   * Proxy `req` (whose body bytes are `body`) to the target; resolves when the client's response is closed
   * (answered, or the client left). With `handBack`, a connection refused, reset or broken before any byte of
   * answer (after the stale-socket retry) resolves at once with that error and the client's response untouched:
   * the caller answers it (or forwards again).
   */
  forward(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, to: ProxyTarget, handBack = false): Promise<Error | undefined> {
    return new Promise((resolve) => {
      const x = new Exchange(this, req, res, body, to, this.upstream(to), resolve);
      x.handBack = handBack;
      res.on('close', x.onClientClose);
      this.send(x);
    });
  }

  /** (Re)send the exchange's request to its child. */
  send(x: Exchange): void {
    const up = x.up;
    const raw = x.req.rawHeaders;
    const headers: string[] = ['Host', up.host];
    for (let i = 0; i < raw.length; i += 2) {
      if (!requestDropped.has(raw[i]!.toLowerCase())) headers.push(raw[i]!, raw[i + 1]!);
    }
    headers.push(...up.extra, 'Content-Length', String(x.body.length));
    // `pool`: the child's entry, for ChildPool.addRequest (node's client hands the options to its agent).
    // `fresh`: the retry after a stale connection takes a new one (ChildPool.addRequest).
    const options = { hostname: up.hostname, port: up.port, method: x.req.method, path: x.req.url, headers, agent: up.agent, pool: up, fresh: x.retried };
    const proxyReq: ProxyRequest = up.module.request(options);
    proxyReq[EXCHANGE] = x;
    x.proxyReq = proxyReq;
    x.proxyRes = undefined;
    x.watching = true;
    proxyReq.on('response', x.onResponse);
    proxyReq.on('error', x.onError);
    // Headers and body in one write.
    proxyReq.end(x.body);
  }

  /**
   * Close the idle kept-alive connections to a child on `port` that is about to be stopped. llama-server's HTTP
   * workers look at an open keep-alive connection for shutdown only every 10 ms, so one left open delayed its exit
   * on SIGTERM (~2 ms without one, ~12 ms with), and a model swap waits for that exit. Connections in use are left
   * alone. (By port alone: every child is on loopback with a port of its own; closing an idle connection of another
   * target costs that target one new connection.)
   */
  dropIdle(port: number): void {
    for (const up of this.upstreams.values()) if (!up.secure && up.port === port) this.pool.dropFree(up);
  }

  close(): void {
    this.pool.destroy();
    this.httpsAgent.destroy();
  }

  /** The last target's address: requests come in runs for one child (no key string built and hashed then). */
  private last?: { target: string; up: Upstream };

  /** A target's parsed address, kept: a child's URL is asked for on every request. */
  private upstream(to: ProxyTarget): Upstream {
    const last = this.last;
    if (last && last.target === to.target && sameHeaders(last.up.extra, to.headers)) return last.up;
    const key = `${to.target} ${to.headers.authorization ?? ''}`;
    let up = this.upstreams.get(key);
    if (!up || !sameHeaders(up.extra, to.headers)) {
      if (up && !up.secure) this.pool.retire(up);
      const u = new URL(to.target);
      const secure = u.protocol === 'https:';
      up = {
        module: secure ? https : http,
        agent: secure ? this.httpsAgent : (this.pool as unknown as http.Agent),
        free: [],
        secure,
        hostname: u.hostname.replace(/^\[|\]$/g, ''),
        port: Number(u.port) || (secure ? 443 : 80),
        host: u.host,
        extra: Object.entries(to.headers).flat(),
      };
      // A child's port changes with each load: old entries are dropped rather than kept for ever.
      if (this.upstreams.size > 256) {
        for (const old of this.upstreams.values()) if (!old.secure) this.pool.retire(old);
        this.upstreams.clear();
      }
      this.upstreams.set(key, up);
    }
    this.last = { target: to.target, up };
    return up;
  }
}

function sameHeaders(extra: string[], headers: Record<string, string>): boolean {
  let i = 0;
  for (const k in headers) {
    if (extra[i] !== k || extra[i + 1] !== headers[k]) return false;
    i += 2;
  }
  return i === extra.length;
}

/** The child failed after the answer began: say so in-band for SSE, else cut the response. */
function breakStream(x: Exchange, err: Error): void {
  const res = x.res;
  if (res.writableEnded || res.destroyed) return;
  if (!x.sse) {
    res.destroy(err);
    return;
  }
  x.proxyRes?.removeListener('data', x.onData);
  const body = (
    err instanceof RouterError ? err : new RouterError('upstream_failed', `the model server failed mid-stream: ${err.message}`)
  ).toJSON();
  res.end(`event: error\ndata: ${JSON.stringify(body)}\n\n`);
}

/**
 * Connection failures before any answer that forward's handBack returns to the caller: refused (nothing was sent),
 * or reset / broken pipe (a child dying with the connection accepted, the request unread or its work lost with it).
 */
const HANDED_BACK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']);

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
