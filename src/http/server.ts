/**
 * The router's node:http server: its options, timeouts and edge handlers, in one place so that what runs the router
 * (src/cli/serve.ts) and what measures node's share of it (bench/fixtures/client-relay.ts) have the same server.
 */
import http from 'node:http';
import { deferContinue } from './body.js';
import { answerClientError, refuseExpectation } from './client-error.js';

/** `handler`: the proxied routes on node:http directly, everything else through the express app (app.ts). */
export function createRouterServer(handler: http.RequestListener): http.Server {
  // Timeouts are checked every connectionsCheckingInterval (node's default 30 s would let a
  // slowloris client hold its socket 45 s instead of 15).
  // requireHostHeader off: node's own refusal is a bare 400; app.ts refuses in JSON instead.
  const server = http.createServer({ connectionsCheckingInterval: 1_000, requireHostHeader: false }, handler);
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
  return server;
}
