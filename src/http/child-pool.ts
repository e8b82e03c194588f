/**
 * The proxy's kept-alive connections to its upstreams (children on loopback, external backends over http or
 * https): a pool of TCP (or TLS) sockets for the proxy's own HTTP/1.1 client (proxy.ts, response-parser.ts).
 *
 * Each connection gets its listeners once, when it is made, and they pass every event to the exchange using it
 * (`user`), so a request adds and removes none. The pool of a target hangs on the proxy's entry for it: a request
 * pops the last freed connection or opens one, and an answer that ends on a connection that may be kept pushes it
 * back.
 *
 * What node's agent did that is kept: TCP keep-alive and no Nagle delay; the last freed reused first; the caller told
 * whether the connection was reused (the proxy's one retry when the child had just closed it); a connection not kept
 * when the answer said so (HTTP/1.0, `Connection: close`) or the child's Keep-Alive hint leaves no time, or while
 * the request is still being written (a child that answered before reading it all, a 413); a
 * free connection's error, end or idle timeout closes it; no limit on connections (a request never waits here: the
 * router's queue is the only one). What is new: bytes a child sends on a free connection close it (nothing is
 * waiting for them).
 */
import net, { type Socket } from 'node:net';
import tls from 'node:tls';

/** One upstream's address and its free connections (the proxy's cached entry for that target). */
export interface PoolEntry {
  hostname: string;
  port: number;
  /** https: the connection is TLS, the server's certificate checked against `hostname`. */
  secure: boolean;
  free: PooledSocket[];
  /** Dropped from the proxy's cache (retire): a connection of it that comes free is closed, not kept where nothing looks. */
  retired?: boolean;
}

/** What uses a connection while a request is on it: every event of the connection goes to it. */
export interface SocketUser {
  onData(chunk: Buffer): void;
  /** The upstream ended the connection (FIN). */
  onEnd(): void;
  onError(err: Error): void;
  onClose(): void;
  /** No byte either way for the idle timeout. */
  onIdle(): void;
}

export type PooledSocket = Socket & {
  entry: PoolEntry;
  pool: ChildPool;
  /** The exchange using the connection; undefined while it is free. */
  user?: SocketUser;
};

export interface PoolOptions {
  /** Armed once per connection (0: none); node refreshes it on every read and write. */
  idleMs: number;
}

export class ChildPool {
  /** Every connection open, free or in use (destroy() ends them all). */
  readonly all = new Set<PooledSocket>();
  /** destroy() was called: the router is closing. */
  closed = false;

  constructor(readonly o: PoolOptions) {}

  /**
   * A connection to `entry` for `user`: the last freed one, or a new one (`fresh`: a new one whatever is free; the
   * retry after a stale one, as a child whose keep-alive timers ran out together closed its other idle connections
   * at the same moment). `reused` says which.
   */
  take(entry: PoolEntry, user: SocketUser, fresh: boolean): { socket: PooledSocket; reused: boolean } {
    let s: PooledSocket | undefined;
    if (!fresh) while ((s = entry.free.pop()) !== undefined && (s.destroyed || !s.writable)) s.destroy();
    const reused = s !== undefined;
    if (s) {
      s.ref();
    } else {
      const options = { host: entry.hostname, port: entry.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 1000 };
      if (entry.secure) {
        s = tls.connect({ ...options, servername: net.isIP(entry.hostname) ? undefined : entry.hostname, ALPNProtocols: ['http/1.1'] }) as unknown as PooledSocket;
        // tls.connect takes no TCP options: set on the socket.
        s.setNoDelay(true);
        s.setKeepAlive(true, 1000);
      } else {
        s = net.connect(options) as PooledSocket;
      }
      // A connection made after close() (a request already on its way) is ended with the rest.
      if (this.closed) process.nextTick(() => s!.destroy(closedError()));
      s.entry = entry;
      s.pool = this;
      this.all.add(s);
      s.on('data', onData);
      s.on('end', onEnd);
      s.on('error', onError);
      s.on('close', onClose);
      if (this.o.idleMs > 0) {
        s.setTimeout(this.o.idleMs);
        s.on('timeout', onTimeout);
      }
    }
    s.user = user;
    return { socket: s, reused };
  }

  /** The answer on `s` ended: kept for the next request to its target if `keep`, else closed. */
  give(s: PooledSocket, keep: boolean): void {
    s.user = undefined;
    // Still writing the request (the child answered before reading it all), or half closed: not reusable.
    if (!keep || s.destroyed || !s.writable || s.readableEnded || s.writableLength > 0 || s.entry.retired) {
      s.destroy();
      return;
    }
    // A connection paused by a client that read slowly must still see the child close it.
    if (s.isPaused()) s.resume();
    s.unref();
    s.entry.free.push(s);
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

  /** Close every connection; a request in flight fails with an error that is neither retried nor handed back. */
  destroy(): void {
    this.closed = true;
    for (const s of this.all) s.destroy(s.user ? closedError() : undefined);
    this.all.clear();
  }
}

function closedError(): Error {
  return Object.assign(new Error('the router closed its connections to the model servers'), { code: 'ERR_ROUTER_CLOSED' });
}

// The connection's listeners, added once: to its user, or (free) close it.

function onData(this: PooledSocket, chunk: Buffer): void {
  if (this.user) this.user.onData(chunk);
  else this.destroy(); // bytes nobody asked for: the connection is not to be trusted
}

function onEnd(this: PooledSocket): void {
  if (this.user) this.user.onEnd();
  else this.destroy();
}

function onError(this: PooledSocket, err: Error): void {
  this.user?.onError(err);
  // A free connection's error: 'close' follows, which drops it from the pool.
}

function onClose(this: PooledSocket): void {
  const free = this.entry.free;
  const i = free.lastIndexOf(this);
  if (i !== -1) free.splice(i, 1);
  this.pool.all.delete(this);
  const user = this.user;
  this.user = undefined;
  user?.onClose();
}

/** Idle for the timeout: a free connection is closed (as node's agent does); one in use is its user's to judge. */
function onTimeout(this: PooledSocket): void {
  if (this.user) this.user.onIdle();
  else this.destroy();
}
