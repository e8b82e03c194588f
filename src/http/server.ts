/**
 * The router's node:http server: its options, timeouts and edge handlers, in one place so that what runs the router
 * (src/cli/serve.ts) and what measures node's share of it (bench/fixtures/client-relay.ts) have the same server. With a
 * fast lane (fast-lane.ts), its connections are the lane's first: node's connection listener gets those the lane
 * hands over.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { deferContinue } from './body.js';
import { answerClientError, refuseExpectation } from './client-error.js';
import { FastLane, type LaneOptions } from './fast-lane.js';

/** What the lane needs of the router: the proxied paths, --max-body and their handler (proxied-routes.ts). */
export type LaneSetup = Pick<LaneOptions, 'paths' | 'maxBodyBytes' | 'handle'>;

/** node's server, whose idle and open connections include the lane's (server.close() closes the idle ones). */
class RouterServer extends http.Server {
  lane?: FastLane;

  override close(callback?: (err?: Error) => void): this {
    this.lane?.stop();
    return super.close(callback);
  }

  override closeIdleConnections(): void {
    super.closeIdleConnections();
    this.lane?.closeIdle();
  }

  override closeAllConnections(): void {
    super.closeAllConnections();
    this.lane?.closeAll();
  }
}

/**
 * `handler`: the proxied routes on node:http directly, everything else through the express app (app.ts). `lane`: the
 * proxied routes' fast lane (none: every request is node's).
 */
export function createRouterServer(handler: http.RequestListener, lane?: LaneSetup): http.Server {
  // Timeouts are checked every connectionsCheckingInterval (node's default 30 s would let a
  // slowloris client hold its socket 45 s instead of 15).
  // requireHostHeader off: node's own refusal is a bare 400; app.ts refuses in JSON instead.
  const server = new RouterServer({ connectionsCheckingInterval: 1_000, requireHostHeader: false }, handler);
  server.on('clientError', answerClientError);
  server.on('checkExpectation', refuseExpectation);
  // `Expect: 100-continue`: the 100 is sent by readBody once the request passed its checks and its declared
  // size is allowed, so a refused upload is never sent at all (node would send it at once).
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    deferContinue(req);
    handler(req, res);
  });
  // Slow clients may not hold a connection open forever by trickling headers.
  server.headersTimeout = 15_000;
  server.requestTimeout = 120_000;
  server.keepAliveTimeout = 5_000;
  if (lane) {
    // node's http.Server listens to its own 'connection' with its connection listener: the lane's goes in its place.
    const [nodeListener, ...others] = server.listeners('connection') as ((socket: Socket) => void)[];
    if (!nodeListener || others.length > 0) throw new Error("node's http.Server no longer has one 'connection' listener: the fast lane cannot be put before it");
    server.removeListener('connection', nodeListener);
    server.lane = new FastLane({
      ...lane,
      handOver: (socket) => nodeListener.call(server, socket),
      timeouts: () => ({ headersMs: server.headersTimeout, keepAliveMs: server.keepAliveTimeout }),
    });
    const fast = server.lane;
    server.on('connection', (socket: Socket) => fast.accept(socket));
  }
  return server;
}
