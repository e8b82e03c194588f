/**
 * Forwards the kept request bytes to a child and streams its answer back unbuffered, with an HTTP/1.1 client of
 * its own: the request's head and body written in one corked write on a kept-alive connection (child-pool.ts),
 * the answer read by a parser fed the connection's bytes (response-parser.ts), its head passed on as flat raw
 * pairs and each piece of its body written to the client and kept by the usage tap (backpressure: the connection
 * paused until the client's 'drain'). No ClientRequest, IncomingMessage or stream between the child's socket and
 * the client's response.
 * Why: in front of llama-server under 1-token chats, node's http client was the largest share of the router's CPU
 * per request beyond a bare node:http relay's (bench/profile-chats.ts; docs/BENCHMARKS.md, issue 14). (Before it,
 * http-proxy-3 was replaced for the same reason: its per-request set-up, listeners and header passes.)
 *
 * What it keeps on top of a bare relay, each without work per streamed chunk:
 * - a child that dies mid-answer ends an SSE stream with an error event rather than a clean-looking end;
 * - a client that takes none of its answer for the send timeout has it cut, so it cannot hold the child (held back
 *   by backpressure) for ever; one timer per answer that ever stalls, none otherwise;
 * - a child silent for the idle timeout (stopped, deadlocked) gets its client a 504 (or an SSE error event)
 *   instead of a hang. The clock is the upstream socket's own idle timeout, armed once when the socket is made
 *   and refreshed by node on every read and write (no timer set and cleared per request); time the client spends
 *   not reading is not counted (the forwarder then holds the child back);
 * - a client gone before its answer ends closes the connection to the child, which stops generating;
 * - the one retry of a request sent on a kept-alive connection the child had just closed (no byte of answer came);
 * - with `handBack`, a request whose connection failed before any byte of answer (refused, reset, broken pipe) is
 *   handed back to the caller unanswered, so it can check whether the child died and send it to a new one
 *   (forward-lease.ts);
 * - hop-by-hop headers are not forwarded either way; the client's key never reaches the child;
 * - a malformed answer (response-parser.ts) is a 502 in OpenAI JSON, or a cut answer once its head was sent.
 */
import { validateHeaderName, validateHeaderValue } from 'node:http';
import type { Answer, RequestHead } from './edge.js';
import { ChildPool, type PoolEntry, type PooledSocket, type SocketUser } from './child-pool.js';
import { RouterError, sendError } from './errors.js';
import { ResponseParser, type ResponseHead, type ResponseSink } from './response-parser.js';
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
  /**
   * Longest time a client may take none of its answer (its socket full, no 'drain') before the answer is cut and the
   * child's connection closed (0 = no limit). Without it a client that stops reading holds the child (and a slot of
   * its --parallel) for as long as its connection stays open; llama-server's own --timeout does the same to it.
   */
  sendTimeoutMs?: number;
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
  // The body was read (and inflated) by the router: its length is the kept bytes', its encoding none, and it is
  // sent whole with the head (no 100 Continue to wait for).
  'content-length',
  'content-encoding',
  'expect',
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

interface Upstream extends PoolEntry {
  /** Host header value. */
  host: string;
  /** The base URL's path, without its last slash ('' for none): the request's path goes after it. */
  base: string;
  /** `to.headers` as flat raw pairs (to compare), and as header lines (to send). */
  extra: string[];
  extraLines: string;
}

/** One forwarded request: its state lives here, not in closures. It uses one connection at a time (SocketUser). */
class Exchange implements SocketUser, ResponseSink {
  /** The connection the request went out on, until the answer ended or failed. */
  socket?: PooledSocket;
  /** It had carried an earlier answer (a failure before any byte of answer may then be retried, once). */
  reused = false;
  parser!: ResponseParser;
  /** The request's head, built once (a retry sends it again). */
  requestHead?: string;
  tap?: UsageTap;
  /** Set once the idle timeout fired: the error the client is told. */
  timedOut?: RouterError;
  /** The answer lets its connection carry another request (HTTP/1.1 keep-alive, and the child's Keep-Alive hint). */
  keep = false;
  sse = false;
  retried = false;
  done = false;
  /** The client's 'drain' is listened to (added on the first write the client could not take at once). */
  drainWatched = false;
  /**
   * The client cannot take more (waiting for its 'drain'), and the clock on that wait (--send-timeout). Not
   * res.writableNeedDrain: that turns false once the answer is ended, though a client that reads nothing still
   * holds the request (and its lease) until the rest is taken.
   */
  stalled = false;
  stallTimer?: NodeJS.Timeout;
  /** The caller takes back a request that failed before any answer (forward's handBack). */
  handBack = false;
  constructor(
    readonly owner: ModelProxy,
    readonly req: RequestHead,
    readonly res: Answer,
    readonly body: Buffer,
    readonly to: ProxyTarget,
    readonly up: Upstream,
    readonly resolve: (failed?: Error) => void,
  ) {}

  /** Stop using the connection (its later events are not this exchange's): it is returned for the caller to keep or close. */
  detach(): PooledSocket | undefined {
    const s = this.socket;
    this.socket = undefined;
    if (s && s.user === this) s.user = undefined;
    return s;
  }

  /** The client's response closed (answer sent, or the client left): stop the child's work if it left. */
  readonly onClientClose = (): void => {
    this.done = true;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    // The answer is still coming: closing the connection stops the child generating it.
    if (!this.res.writableFinished) this.detach()?.destroy();
    this.resolve();
  };

  // The connection's events (child-pool.ts passes them while this exchange uses it).

  onData(chunk: Buffer): void {
    try {
      this.parser.feed(chunk);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  onEnd(): void {
    // A body that runs to the connection's end has ended; else the child closed the connection early.
    if (!this.parser.close()) this.fail(cutShort(this.parser));
  }

  onError(err: Error): void {
    this.fail(err);
  }

  onClose(): void {
    this.fail(cutShort(this.parser));
  }

  /** The connection saw no byte for the idle timeout. */
  onIdle(): void {
    if (this.done || this.timedOut) return;
    // The client is not reading and the forwarder paused the child: the silence is ours, not the child's.
    if (this.res.writableNeedDrain) {
      this.res.once('drain', () => this.socket?.setTimeout(this.owner.idleTimeoutMs));
      return;
    }
    const s = this.owner.idleTimeoutMs / 1000;
    this.timedOut = new RouterError('upstream_timeout', `the model server sent nothing for ${s} s (--upstream-timeout)`);
    this.owner.opts.onIdleTimeout?.(this.to);
    this.fail(this.timedOut);
  }

  // The answer, as the parser reads it (ResponseSink).

  onHead(head: ResponseHead): void {
    const raw = head.rawHeaders;
    const headers: string[] = [];
    let hint: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      // Only names as long as a dropped one or Content-Type are lowered and looked up (most are not).
      if (RESPONSE_CHECKED_LENGTHS[name.length]) {
        const lower = name.toLowerCase();
        if (responseDropped.has(lower)) {
          if (lower === 'keep-alive') hint = raw[i + 1];
          continue;
        }
        if (lower === 'content-type' && raw[i + 1]!.includes('text/event-stream')) this.sse = true;
      }
      headers.push(name, raw[i + 1]!);
    }
    this.keep = head.keepAlive && keepsAlive(hint);
    const res = this.res;
    res.writeHead(head.status, headers);
    // Token counts for /metrics (usage-tap.ts): keeps chunk references, parses once at the end. On the proxied
    // path `locals` is the router's own (express's res.locals on the compat routes).
    this.tap = newTap(this.sse);
    (res.locals ??= {}).usageTap = this.tap;
    // An SSE client sees the headers at once, even before the child's first event.
    if (this.sse) res.flushHeaders();
  }

  /** A piece of the answer: to the client, and to the usage tap. A client that cannot take it holds the child back. */
  onBody(chunk: Buffer): void {
    tapChunk(this.tap!, chunk);
    if (this.res.write(chunk)) return;
    this.socket?.pause();
    if (!this.drainWatched) {
      this.drainWatched = true;
      this.res.on('drain', this.onDrain);
    }
    // One timer per answer, made at its first stall and re-armed at the next (not per chunk, nor per drain).
    const limit = this.owner.sendTimeoutMs;
    if (limit > 0 && !this.stalled) {
      this.stalled = true;
      if (this.stallTimer) this.stallTimer.refresh();
      else this.stallTimer = setTimeout(this.onStall, limit);
    }
  }

  readonly onDrain = (): void => {
    this.stalled = false;
    this.socket?.resume();
  };

  /** --send-timeout: the client took nothing for that long. Its answer is cut (it cannot be told otherwise). */
  readonly onStall = (): void => {
    if (!this.stalled || this.done) return;
    this.res.destroy(); // 'close': onClientClose closes the child's connection, which stops its work
  };

  /** The answer is whole: the connection goes back to the pool (if it may carry another), the client's answer ends. */
  onComplete(extra: boolean): void {
    const s = this.detach();
    if (s) this.owner.pool.give(s, this.keep && !extra);
    if (!this.res.writableEnded) this.res.end();
  }

  /** The request or its answer failed (`err`): the connection is closed, the client told (or the request sent again). */
  fail(err: Error): void {
    const s = this.detach();
    if (!s) return; // the answer had ended, or this failure was handled
    s.destroy();
    if (this.done) return;
    const started = this.parser.started;
    const code = (err as NodeJS.ErrnoException).code;
    // The child closed an idle kept-alive connection (its keep-alive timeout) just as this request was sent on it:
    // nothing came back, so the request may be sent again, once, on a fresh connection.
    if (!this.retried && this.reused && !started && !this.timedOut && (code === 'ECONNRESET' || code === 'EPIPE')) {
      this.retried = true;
      this.owner.send(this);
      return;
    }
    // No byte of answer came and the connection failed: the caller decides (its child may be dead, a new one due).
    if (this.handBack && code !== undefined && HANDED_BACK.has(code) && !started && !this.timedOut && !this.res.headersSent) {
      this.done = true;
      this.res.removeListener('close', this.onClientClose);
      this.resolve(err);
      return;
    }
    const told = this.timedOut ?? err;
    // Once the client has the answer's head, the failure can only be said in-band (SSE) or by cutting the answer.
    if (this.res.headersSent) return breakStream(this, told);
    sendError(this.res, this.timedOut ?? upstreamError(err, this.to.target));
  }
}

/**
 * The connection closed before the answer ended: before any byte of it, in node's client's words (ECONNRESET: the
 * retry and handBack rules apply); after, mid-answer.
 */
function cutShort(parser: ResponseParser): Error {
  if (parser.started) return new Error('the model server closed the connection mid-answer');
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
}

/**
 * The child's Keep-Alive hint (its idle timeout for kept-alive connections) leaves time to reuse the connection?
 * node's agent keeps a connection 1 s less than the child says (HTTP_AGENT_KEEP_ALIVE_TIMEOUT_BUFFER), so nothing
 * is left of 1 s; the same rule here. A child sends the same hint on every answer: the last one's verdict is kept.
 */
function keepsAlive(hint: string | undefined): boolean {
  if (hint === undefined) return true;
  if (hint !== lastHint) {
    const seconds = /^timeout=(\d+)/.exec(hint)?.[1];
    lastHintKeeps = seconds === undefined || Number(seconds) > 1;
    lastHint = hint;
  }
  return lastHintKeeps;
}
let lastHint: string | undefined;
let lastHintKeeps = true;

export class ModelProxy {
  // Keep-alive to children and backends: a fresh TCP connection per request would dominate the overhead.
  readonly pool: ChildPool;
  private readonly upstreams = new Map<string, Upstream>();
  readonly idleTimeoutMs: number;
  readonly sendTimeoutMs: number;

  constructor(readonly opts: ProxyOptions = {}) {
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 0;
    // setTimeout takes at most 2^31-1 ms (~24.8 days); a longer one would fire after 1 ms.
    this.sendTimeoutMs = Math.min(opts.sendTimeoutMs ?? 0, 2 ** 31 - 1);
    this.pool = new ChildPool({ idleMs: this.idleTimeoutMs });
  }

  /**
   * Proxy `req` (whose body bytes are `body`) to the target; resolves when the client's response is closed
   * (answered, or the client left). With `handBack`, a connection refused, reset or broken before any byte of
   * answer (after the stale-socket retry) resolves at once with that error and the client's response untouched:
   * the caller answers it (or forwards again).
   */
  forward(req: RequestHead, res: Answer, body: Buffer, to: ProxyTarget, handBack = false): Promise<Error | undefined> {
    return new Promise((resolve) => {
      const x = new Exchange(this, req, res, body, to, this.upstream(to), resolve);
      x.handBack = handBack;
      res.on('close', x.onClientClose);
      this.send(x);
    });
  }

  /** (Re)send the exchange's request to its child: head and body in one write (corked), on a kept or new connection. */
  send(x: Exchange): void {
    const up = x.up;
    const { socket, reused } = this.pool.take(up, x, x.retried);
    x.socket = socket;
    x.reused = reused;
    x.parser = new ResponseParser(x, x.req.method === 'HEAD');
    x.keep = false;
    const body = x.body;
    socket.cork();
    socket.write((x.requestHead ??= requestHead(x.req, up, body.length)), 'latin1');
    if (body.length > 0) socket.write(body);
    socket.uncork();
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
      const old = up;
      const u = new URL(to.target);
      const secure = u.protocol === 'https:';
      const extra = Object.entries(to.headers).flat();
      let extraLines = '';
      for (let i = 0; i < extra.length; i += 2) {
        // What node's client checked on every request, once per target: a preset's header cannot split the request.
        validateHeaderName(extra[i]!);
        validateHeaderValue(extra[i]!, extra[i + 1]!);
        extraLines += `${extra[i]!}: ${extra[i + 1]!}\r\n`;
      }
      // Only once the new headers passed: a target whose headers fail keeps its entry (and its connections).
      if (old) this.pool.retire(old);
      up = {
        free: [],
        secure,
        hostname: u.hostname.replace(/^\[|\]$/g, ''),
        port: Number(u.port) || (secure ? 443 : 80),
        host: u.host,
        base: u.pathname.replace(/\/$/, ''),
        extra,
        extraLines,
      };
      // A child's port changes with each load: old entries are dropped rather than kept for ever.
      if (this.upstreams.size > 256) {
        for (const old of this.upstreams.values()) this.pool.retire(old);
        this.upstreams.clear();
      }
      this.upstreams.set(key, up);
    }
    this.last = { target: to.target, up };
    return up;
  }
}

/**
 * The request's head for the child: its method and path, Host, the client's headers less the hop-by-hop ones and
 * the router's own, the target's headers, the kept body's length. (The request was read by node's server parser or by
 * the fast lane's reader, request-head.ts, and both checked every name, value, method and path they took from the
 * client: none can hold CR or LF.)
 */
function requestHead(req: RequestHead, up: Upstream, length: number): string {
  const raw = req.rawHeaders;
  const url = req.url!;
  // An absolute-form target (`POST http://host/v1/...`, which node's server accepts) goes on in origin form.
  const path = url.charCodeAt(0) === 0x2f ? url : originForm(url);
  let head = `${req.method} ${up.base}${path} HTTP/1.1\r\nHost: ${up.host}\r\n`;
  for (let i = 0; i < raw.length; i += 2) {
    if (!requestDropped.has(raw[i]!.toLowerCase())) head += `${raw[i]!}: ${raw[i + 1]!}\r\n`;
  }
  return `${head}${up.extraLines}Content-Length: ${length}\r\nConnection: keep-alive\r\n\r\n`;
}

function originForm(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname + u.search;
  } catch {
    return '/';
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
