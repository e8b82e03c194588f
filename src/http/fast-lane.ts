/**
 * The router's fast lane: the proxied requests that come whole in one read (what HTTP clients send for a JSON body:
 * head and body in one write) are served from the bytes read, without node's HTTP parser, IncomingMessage,
 * ServerResponse and their streams; every other connection, and every other request, is node's server's as before.
 *
 * Why: on /tokenize one request at a time on new connections (issue 14's last row against llama.cpp's router),
 * perf's CPU profile (cpu-clock, `node --perf-basic-prof`) put ~45 us of the router's ~345 us per answer in node's
 * HTTP server layer (its parser's callbacks, the request and response objects and streams, their close and
 * finish ticks), more than the routing (~28 us).
 *
 * How: the server's 'connection' listener is the lane's (server.ts). Each read on a connection that is the lane's
 * is given to readLaneRequest (request-head.ts), which takes only a whole request that can be read one way; anything
 * else (a head or body in pieces, HTTP/1.0, chunked, Expect, a duplicate header, pipelining, another route…) hands
 * the connection over: the bytes read are put back (unshift) and node's own connection listener takes the socket,
 * as if it had just been accepted. From then on node serves it, with all its limits and timeouts. The lane keeps its
 * own: headersTimeout until a connection's first byte, keepAliveTimeout between answers, none while an answer is
 * written (as node). A client that ends its side while its answer is being written is gone: what was written is still
 * sent, then the connection is ended, and the answer is over at once (its child's work stopped); node's server ends the
 * connection too, and the answer's next write fails. A read that comes while an answer is written is kept and read
 * after it; past a limit, reading pauses (as node's server pauses a connection whose pipelined requests pile up).
 */
import type { Socket } from 'node:net';
import type { RequestHead } from './edge.js';
import { LaneResponse, type LaneOwner } from './lane-response.js';
import { readLaneRequest, type LaneRequestHead, type LaneRules } from './request-head.js';

/** A request the lane serves: its head and its whole body. */
export class LaneRequest implements RequestHead {
  readonly httpVersion = '1.1';
  readonly method: 'POST';
  readonly url: string;
  readonly headers: LaneRequestHead['headers'];
  readonly rawHeaders: string[];
  readonly body: Buffer;

  constructor(head: LaneRequestHead) {
    this.method = head.method;
    this.url = head.url;
    this.headers = head.headers;
    this.rawHeaders = head.rawHeaders;
    this.body = head.body;
  }

  /** The body was read whole: nothing is left to flow (linger.ts asks). */
  resume(): void {}
}

export interface LaneOptions extends LaneRules {
  /** Serve a request (the proxied routes' handler). */
  handle(req: LaneRequest, res: LaneResponse): void;
  /** Give the socket to node's server, its bytes read put back. */
  handOver(socket: Socket): void;
  /** The server's timeouts (ms), read when used: until a connection's first byte, and between answers. */
  timeouts(): { headersMs: number; keepAliveMs: number };
}

/** Bytes kept from reads that come while an answer is written, before reading pauses. */
const MAX_PENDING = 64 * 1024;

const CONNECTION = Symbol('lane connection');
type LaneSocket = Socket & { [CONNECTION]?: LaneConnection; _handle?: { _consumed?: boolean } | null };

export class FastLane {
  /** The connections the lane serves (handed over ones are node's). */
  private readonly open = new Set<LaneConnection>();
  /** server.close() was called: answers close their connections, idle ones are closed. */
  private closing = false;

  constructor(readonly o: LaneOptions) {}

  /** A connection just accepted. */
  accept(socket: Socket): void {
    const c = new LaneConnection(this, socket as LaneSocket);
    this.open.add(c);
    socket.setTimeout(this.o.timeouts().headersMs);
    for (const [event, listener] of LISTENERS) socket.on(event, listener);
  }

  get accepting(): boolean {
    return !this.closing;
  }

  /** The server is closing (server.close()): no more requests are taken; answers close their connections. */
  stop(): void {
    this.closing = true;
  }

  /** Connections waiting for a request are closed; busy ones are left to finish (server.closeIdleConnections). */
  closeIdle(): void {
    for (const c of this.open) if (!c.res) c.socket.destroy();
  }

  /** Every connection of the lane, busy or not (server.closeAllConnections). */
  closeAll(): void {
    this.closing = true;
    for (const c of this.open) c.socket.destroy();
  }

  forget(c: LaneConnection): void {
    this.open.delete(c);
  }
}

class LaneConnection implements LaneOwner {
  /** The answer being written. */
  res?: LaneResponse;
  /** Bytes read while it is written. */
  pending?: Buffer;

  constructor(
    readonly lane: FastLane,
    readonly socket: LaneSocket,
  ) {
    socket[CONNECTION] = this;
  }

  get keepAliveS(): number {
    return Math.floor(this.lane.o.timeouts().keepAliveMs / 1000);
  }

  get accepting(): boolean {
    return this.lane.accepting;
  }

  /** A read, or the reads kept while an answer was written. */
  read(buf: Buffer): void {
    if (this.res) {
      this.pending = this.pending ? Buffer.concat([this.pending, buf]) : buf;
      if (this.pending.length > MAX_PENDING) this.socket.pause();
      return;
    }
    const head = this.lane.accepting ? readLaneRequest(buf, this.lane.o) : undefined;
    if (!head) return this.handOver(buf);
    const socket = this.socket;
    // No clock while the request is served (a load or a long generation may come first): node's way too.
    socket.setTimeout(0);
    const req = new LaneRequest(head);
    const res = new LaneResponse(socket, req, !head.close, this);
    this.res = res;
    this.lane.o.handle(req, res);
  }

  answered(res: LaneResponse, finished: boolean): void {
    if (this.res !== res) return;
    this.res = undefined;
    res.emitClose();
    if (!finished) return;
    const socket = this.socket;
    if (!res.keepAlive || !this.lane.accepting) {
      // Nothing more is read as a request. FIN once written, then closed; linger.ts may have replaced destroySoon (a
      // refused upload: what still comes is read and dropped).
      this.pending = undefined;
      socket.removeListener('data', onData);
      (socket as Socket & { destroySoon(): void }).destroySoon();
      return;
    }
    socket.setTimeout(this.lane.o.timeouts().keepAliveMs);
    const pending = this.pending;
    if (pending) {
      this.pending = undefined;
      socket.resume();
      this.read(pending);
    }
  }

  /** Node's server takes the connection, `buf` put back to be read again by its parser. */
  private handOver(buf: Buffer): void {
    const socket = this.socket;
    this.lane.forget(this);
    socket[CONNECTION] = undefined;
    socket.setTimeout(0);
    for (const [event, listener] of LISTENERS) socket.removeListener(event, listener);
    // Node's server reads a socket's handle from C++ when it can ("consume"); the bytes put back are in the JS stream,
    // so it is told to read through the stream, which gives them first.
    if (socket._handle) socket._handle._consumed = true;
    socket.unshift(buf);
    this.lane.o.handOver(socket);
  }
}

// The socket's listeners: module functions (no closures per connection); the connection hangs on the socket.

function onData(this: LaneSocket, chunk: Buffer): void {
  this[CONNECTION]?.read(chunk);
}

/** The client ended its side: the connection is ended once what was written is sent; an answer being written is over. */
function onEnd(this: LaneSocket): void {
  const c = this[CONNECTION];
  this.end();
  if (c?.res) c.answered(c.res, false);
}

/** A reset or a failed write: 'close' follows. */
function onError(this: LaneSocket): void {}

function onClose(this: LaneSocket): void {
  const c = this[CONNECTION];
  if (!c) return;
  c.lane.forget(c);
  const res = c.res;
  if (res) {
    res.destroyed = true;
    c.answered(res, false);
  }
}

/** No byte before the first request, or between answers, for the server's timeout. */
function onTimeout(this: LaneSocket): void {
  this.destroy();
}

function onDrain(this: LaneSocket): void {
  this[CONNECTION]?.res?.emit('drain');
}

/** The lane's listeners on a connection it holds: added when it is accepted, all removed when it is handed over. */
// Each takes what its event gives ('data' a chunk; the others nothing they use): the list's type admits each.
const LISTENERS: readonly (readonly [string, (this: LaneSocket, arg: Buffer & Error) => void])[] = [
  ['data', onData],
  ['end', onEnd],
  ['error', onError],
  ['close', onClose],
  ['timeout', onTimeout],
  ['drain', onDrain],
];
