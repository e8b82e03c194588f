/**
 * The fast lane's answer (fast-lane.ts): what the proxied path writes (edge.ts's Answer) put on the client's socket as
 * node's ServerResponse puts it: the status line; the headers set (setHeader), then those given to writeHead (which
 * replace the ones of the same name); Date; Connection, with Keep-Alive when the connection is kept; the body framed by
 * the Content-Length given, else by its length when it is written whole by end(), else chunked; no body for 1xx, 204
 * and 304. What is written in one turn of the event loop goes out in one write, as node's ServerResponse does (the
 * connection corked at the turn's first write, uncorked at its end): the head with the body, and the pieces of a stream
 * that came in one read from the child (an SSE answer's head goes alone first: flushHeaders).
 *
 * Its 'close' comes once: after the whole answer was handed to the kernel (writableFinished), or when the client's
 * connection closed or ended first. The connection (fast-lane.ts) is told either way (LaneOwner.answered). Once over,
 * the answer lets go of the connection, as node's does (`socket` null): a late write or destroy() does nothing to the
 * connection, which may be carrying the next request.
 */
import { EventEmitter } from 'node:events';
import { STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import type { Socket } from 'node:net';
import type { Answer } from './edge.js';

export interface LaneOwner {
  /** The answer is over: all of it with the kernel (`finished`), or its client gone. */
  answered(res: LaneResponse, finished: boolean): void;
  /** Keep-Alive's timeout (s), said on answers that keep the connection. */
  readonly keepAliveS: number;
  /** The server takes more requests (false once it is closing: answers then close their connection). */
  readonly accepting: boolean;
}

const EMPTY = Buffer.alloc(0);
const LAST_CHUNK = '0\r\n\r\n';

export class LaneResponse extends EventEmitter implements Answer {
  statusCode = 200;
  /** The head is made (writeHead or a first write): no header may be set any more. */
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  destroyed = false;
  locals?: Record<string, unknown>;
  /** Headers set, as flat [name, value, …] pairs. */
  private readonly fields: string[] = [];
  /** The head, made and not written yet. */
  private head?: string;
  private chunked = false;
  private bodiless = false;
  private closed = false;
  /** The connection is corked until the end of this turn of the event loop (put). */
  private corked = false;
  /** The connection, until the answer is over. */
  private conn: Socket | null;

  constructor(
    socket: Socket,
    readonly req: { resume(): unknown },
    /** The connection may carry another request after this answer. */
    public keepAlive: boolean,
    private readonly owner: LaneOwner,
  ) {
    super();
    this.conn = socket;
  }

  /** The client's connection; null once the answer is over. */
  get socket(): Socket | null {
    return this.conn;
  }

  get writableNeedDrain(): boolean {
    return this.conn?.writableNeedDrain ?? false;
  }

  setHeader(name: string, value: number | string): this {
    if (this.headersSent) throw new Error(`cannot set header ${name}: the answer's head is made`);
    const v = String(value);
    validateHeaderName(name);
    validateHeaderValue(name, v);
    this.drop(name);
    this.fields.push(name, v);
    return this;
  }

  writeHead(statusCode: number, headers?: string[]): this {
    if (this.headersSent) throw new Error('the answer\'s head is made already');
    this.statusCode = statusCode;
    if (headers) {
      for (let i = 0; i < headers.length; i += 2) this.drop(headers[i]!);
      for (let i = 0; i < headers.length; i += 2) {
        validateHeaderName(headers[i]!);
        validateHeaderValue(headers[i]!, headers[i + 1]!);
        this.fields.push(headers[i]!, headers[i + 1]!);
      }
    }
    this.head = this.makeHead(undefined);
    return this;
  }

  flushHeaders(): void {
    if (!this.headersSent) this.head = this.makeHead(undefined);
    if (this.head === undefined || !this.conn || this.destroyed) return;
    this.conn.write(this.head, 'latin1');
    this.head = undefined;
  }

  write(chunk: Buffer | string): boolean {
    if (this.writableEnded || this.destroyed || !this.conn) return false;
    if (!this.headersSent) this.head = this.makeHead(undefined);
    return this.put(chunk, false);
  }

  end(chunk?: Buffer | string): this {
    if (this.writableEnded) return this;
    this.writableEnded = true;
    if (this.destroyed || !this.conn) return this;
    // An answer written whole by end() says its length (as node does).
    if (!this.headersSent) this.head = this.makeHead(chunk ?? EMPTY);
    this.put(chunk ?? EMPTY, true);
    return this;
  }

  destroy(_error?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    // The connection's 'close' ends the answer (LaneOwner.answered, then 'close' here). An answer that is over has
    // let go of its connection: nothing to do.
    this.conn?.destroy();
    return this;
  }

  /** The answer is over (the connection calls it once): it lets go of the connection, then 'close'. */
  emitClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.conn = null;
    if (!this.writableFinished) this.destroyed = true;
    this.emit('close');
  }

  /** Write the head if due, then `chunk` framed; `last` ends the answer and finishes it once the kernel has it. */
  private put(chunk: Buffer | string, last: boolean): boolean {
    const socket = this.conn!;
    const body = !this.bodiless && chunk.length > 0;
    if (last && !body && !this.chunked && this.head === undefined && !this.corked) {
      // Nothing left to write (an answer whose last piece went out in an earlier turn): finished once what was
      // written is with the kernel, at once when it all went out already, without a write of nothing (a system call).
      if (socket.writableLength === 0) process.nextTick(this.onFinish);
      else socket.write(EMPTY, this.onFinish);
      return true;
    }
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(uncork, this);
    }
    if (this.head !== undefined) {
      socket.write(this.head, 'latin1');
      this.head = undefined;
    }
    if (body && this.chunked) socket.write(`${Buffer.byteLength(chunk).toString(16)}\r\n`, 'latin1');
    let ok = true;
    if (last) {
      const tail = this.chunked ? (body ? `\r\n${LAST_CHUNK}` : LAST_CHUNK) : undefined;
      if (body) ok = socket.write(chunk);
      // The callback of the answer's last write: then the kernel has all of it.
      socket.write(tail ?? EMPTY, this.onFinish);
    } else if (body) {
      ok = socket.write(chunk);
      if (this.chunked) ok = socket.write('\r\n', 'latin1');
    }
    return ok;
  }

  /** The turn's writes go out (uncork's nextTick). */
  uncorkNow(): void {
    this.corked = false;
    this.conn?.uncork();
  }

  private readonly onFinish = (err?: Error | null): void => {
    // A failed write: the connection closes, and its 'close' ends the answer.
    if (err) return;
    this.writableFinished = true;
    this.owner.answered(this, true);
  };

  /** The head, with the framing: `whole` is the entire body when end() writes it with the head. */
  private makeHead(whole: Buffer | string | undefined): string {
    const status = this.statusCode;
    this.bodiless = status < 200 || status === 204 || status === 304;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
    let length = false;
    let date = false;
    let connection: string | undefined;
    let te: string | undefined;
    const fields = this.fields;
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      head += `${name}: ${value}\r\n`;
      switch (name.length) {
        case 4:
          if (name.toLowerCase() === 'date') date = true;
          break;
        case 10:
          if (name.toLowerCase() === 'connection') connection = value.toLowerCase();
          break;
        case 14:
          if (name.toLowerCase() === 'content-length') length = true;
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') te = value;
          break;
      }
    }
    if (!date) head += `Date: ${utcDate()}\r\n`;
    // A server that is closing takes no more requests on this connection: the answer says so.
    if (!this.owner.accepting) this.keepAlive = false;
    // A Transfer-Encoding set by the answer frames it, as node does: chunked, or else to the connection's close.
    if (te !== undefined && !/(?:^|,)\s*chunked\s*$/i.test(te)) this.keepAlive = false;
    if (connection === undefined) {
      head += this.keepAlive ? `Connection: keep-alive\r\nKeep-Alive: timeout=${this.owner.keepAliveS}\r\n` : 'Connection: close\r\n';
    } else if (connection.includes('close')) {
      this.keepAlive = false;
    }
    if (te !== undefined) this.chunked = !this.bodiless && /(?:^|,)\s*chunked\s*$/i.test(te);
    else if (!this.bodiless && !length) {
      if (whole !== undefined) head += `Content-Length: ${Buffer.byteLength(whole)}\r\n`;
      else {
        head += 'Transfer-Encoding: chunked\r\n';
        this.chunked = true;
      }
    }
    this.headersSent = true;
    return `${head}\r\n`;
  }

  /** Headers of that name set before are dropped. */
  private drop(name: string): void {
    const lower = name.toLowerCase();
    const fields = this.fields;
    for (let i = fields.length - 2; i >= 0; i -= 2) if (fields[i]!.length === lower.length && fields[i]!.toLowerCase() === lower) fields.splice(i, 2);
  }
}

function uncork(res: LaneResponse): void {
  res.uncorkNow();
}

/** The Date header's value, made once a second (as node's server does). */
let dateSecond = -1;
let dateText = '';
function utcDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}
