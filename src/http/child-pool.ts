/**
 * The kept-alive connections to children (plain http on loopback): an agent for node's http client, as small as
 * the proxy needs. node's ClientRequest takes any object with `addRequest` as its agent (the contract agent-base
 * and the proxy agents are built on); it calls addRequest(req, options) and, when an answer ends on a connection
 * that may be kept, emits 'free' on the socket.
 *
 * Why not node's http.Agent: per request it copies the options twice, works out a TLS server name (a Host lookup
 * and an isIP regex, for plain http), builds the pool key string three times, resets the socket's async id,
 * adds and removes an 'error' listener, and on each return to the pool searches its lists (indexOf, splice, the
 * keys of its queue). The proxy-overhead profile counted ~25 us of samples per request in it at one connection.
 * Here the pool of a child hangs on the proxy's entry for that child (the request's options carry it): a request
 * pops a free socket or opens one, and 'free' pushes the socket back.
 *
 * What node's agent does that is kept: connections kept alive with TCP keep-alive and no Nagle delay, the last
 * freed reused first, `reusedSocket` set on a request sent on a kept connection (the proxy's one retry when the
 * child had just closed it), a connection not kept when the answer said so (shouldKeepAlive) or the child's
 * Keep-Alive hint leaves no time (`keep`), a free connection's error or idle timeout closes it, and no limit on
 * connections (a request never waits here: the router's queue is the only one). What is not: async_hooks ids for
 * reused sockets (the router uses no async_hooks), a queue (maxSockets is Infinity), TLS (external https
 * backends use node's https.Agent).
 */
import type { ClientRequest } from 'node:http';
import net, { type Socket } from 'node:net';

/** One child's address and its free connections (the proxy's cached entry for that target). */
export interface PoolEntry {
  hostname: string;
  port: number;
  free: PooledSocket[];
  /** Dropped from the proxy's cache (retire): a connection of it that comes free is closed, not kept where nothing looks. */
  retired?: boolean;
}

const ENTRY = Symbol('entry');
const POOL = Symbol('pool');

export type PooledSocket = Socket & {
  [ENTRY]: PoolEntry;
  [POOL]: ChildPool;
  /** The request node's client has on the socket (null while free). */
  _httpMessage?: (ClientRequest & { shouldKeepAlive?: boolean }) | null;
};

export interface PoolOptions {
  /** Armed once per connection (0: none); node refreshes it on every read and write. */
  idleMs: number;
  /** The connection's 'timeout' listener while a request uses it (the proxy's idle check). */
  onIdle(socket: PooledSocket): void;
  /** May this connection, whose answer just ended, be kept? (The child's Keep-Alive hint.) */
  keep(socket: PooledSocket): boolean;
}

export class ChildPool {
  // What node's ClientRequest reads from its agent: keep-alive on, no socket limit, plain http.
  readonly keepAlive = true;
  readonly maxSockets = Infinity;
  readonly defaultPort = 80;
  readonly protocol = 'http:';
  /** No agent-level timeout (node's client would then listen for one per request). */
  readonly options = {};
  /** Every connection open, free or in use (close() ends them all). */
  readonly all = new Set<PooledSocket>();

  constructor(readonly o: PoolOptions) {}

  /**
   * Called by node's ClientRequest; `options.pool` is the entry the proxy passed in http.request's options.
   * `options.fresh`: a new connection whatever is free (the retry after a stale one: a child whose keep-alive
   * timers ran out together closed its other idle connections at the same moment).
   */
  addRequest(req: ClientRequest, options: { pool?: PoolEntry; fresh?: boolean }): void {
    const entry = options.pool!;
    let s: PooledSocket | undefined;
    if (!options.fresh) while ((s = entry.free.pop()) !== undefined && (s.destroyed || !s.writable)) s.destroy();
    if (s) {
      req.reusedSocket = true;
      s.ref();
    } else {
      s = net.createConnection({ host: entry.hostname, port: entry.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 1000 }) as PooledSocket;
      s[ENTRY] = entry;
      s[POOL] = this;
      this.all.add(s);
      s.on('free', onFree);
      s.on('close', onClose);
      // A free connection's error (the child closed it): it closes; one in use also tells its request (node's listener).
      s.on('error', ignore);
      if (this.o.idleMs > 0) {
        s.setTimeout(this.o.idleMs);
        s.on('timeout', onTimeout);
      }
    }
    req.onSocket(s);
  }

  /** Close the free connections of `entry` (a child about to stop). */
  dropFree(entry: PoolEntry): void {
    for (const s of entry.free.splice(0)) s.destroy();
  }

  /** `entry` is no longer the proxy's: its free connections close now, its busy ones when their answers end. */
  retire(entry: PoolEntry): void {
    entry.retired = true;
    this.dropFree(entry);
  }

  destroy(): void {
    for (const s of this.all) s.destroy();
    this.all.clear();
  }
}

/** node's client: the answer ended and the connection may be kept. As node's agent, checks before pooling it. */
function onFree(this: PooledSocket): void {
  const req = this._httpMessage;
  if (this.destroyed || !this.writable || !req || !req.shouldKeepAlive || this[ENTRY].retired || !this[POOL].o.keep(this)) {
    this.destroy();
    return;
  }
  this._httpMessage = null;
  this.unref();
  this[ENTRY].free.push(this);
}

function onClose(this: PooledSocket): void {
  const free = this[ENTRY].free;
  const i = free.lastIndexOf(this);
  if (i !== -1) free.splice(i, 1);
  this[POOL].all.delete(this);
}

/** Idle for the timeout: a free connection is closed (as node's agent does); one in use is the proxy's to judge. */
function onTimeout(this: PooledSocket): void {
  if (!this._httpMessage) this.destroy();
  else this[POOL].o.onIdle(this);
}

function ignore(): void {}
