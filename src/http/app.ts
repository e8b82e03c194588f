/**
 * The router's HTTP face: router-owned routes, and every inference route proxied to the
 * child of the model the request names. Every answer of ours is OpenAI error JSON.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { ReloadSummary, Router, RouterEvent } from '../router/router.js';
import { requireKey } from './auth.js';
import { rawBody, readBody } from './body.js';
import { corsGuard } from './cors.js';
import { hostGuard } from './host-guard.js';
import { requireHost } from './client-error.js';
import { RouterError, sendError } from './errors.js';
import { listModels, loadModel, unloadModel } from './models-routes.js';
import { ModelProxy } from './proxy.js';
import { ProxiedRoutes } from './proxied-routes.js';
import { dashboardRoutes } from './dashboard/routes.js';
import { ModelEvents, type EventsOptions } from './events-routes.js';
import { LogFollowers } from './logs-routes.js';
import { RouterMetrics } from './metrics.js';
import { listDevices } from './snapshot.js';
import { compatRoutes, type CompatOptions } from './compat-routes.js';
import type { LaneSetup } from './server.js';

export interface AppOptions {
  /** One key or several (--api-key-file). */
  apiKey?: string | string[];
  maxBodyBytes: number;
  /** The address the router listens on: the Host check is on for loopback (src/http/host-guard.ts). */
  listenHost?: string;
  /** --allowed-hosts: more names the router answers to. */
  allowedHosts?: string[];
  /** --cors-origin: origins whose web pages may use the router (src/http/cors.ts). */
  corsOrigins?: string[];
  /** `/models/sse` timings (tests shorten the 15 s heartbeat). */
  events?: EventsOptions;
  /** Re-read the catalogue (POST /models/reload, GET /models?reload=1). */
  reload?: () => Promise<ReloadSummary>;
  /** A child silent this long on a request gets the client a 504 and is checked for a hang (0 = no limit). */
  upstreamTimeoutMs?: number;
  /** A client that takes none of its answer this long has it cut, freeing the child (0 = no limit). */
  sendTimeoutMs?: number;
  /** What GET /props without ?model= reports (llama-server's router answers it). */
  props?: CompatOptions['props'];
}

/** Inference routes: the body names the model; the request goes to that model's child. */
export const proxiedRoutes = [
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/responses',
  '/v1/rerank',
  '/v1/audio/transcriptions',
  '/v1/messages',
  '/completion',
  '/completions',
  '/infill',
  '/tokenize',
  '/detokenize',
  '/embedding',
  '/embeddings',
  '/rerank',
  '/reranking',
  // What sd-server, whisper and TTS servers behind `cmd` answer, and llama-server's own extras.
  '/v1/images/generations',
  '/v1/images/edits',
  '/v1/audio/speech',
  '/v1/messages/count_tokens',
  '/apply-template',
];

async function reloadOrFail(opts: AppOptions): Promise<ReloadSummary> {
  if (!opts.reload) throw new RouterError('not_found', 'reload is not available');
  try {
    return await opts.reload();
  } catch (err) {
    throw new RouterError('invalid_request', `reload failed, the running catalogue is kept: ${(err as Error).message}`, { cause: err });
  }
}

export function createApp(
  router: Router,
  opts: AppOptions,
): { app: express.Express; proxy: ModelProxy; handler: (req: IncomingMessage, res: ServerResponse) => void; lane: LaneSetup } {
  const app = express();
  const proxy = new ModelProxy({
    idleTimeoutMs: opts.upstreamTimeoutMs,
    sendTimeoutMs: opts.sendTimeoutMs,
    onIdleTimeout: (to) => to.model && router.checkHung(to.model, Math.min(10_000, opts.upstreamTimeoutMs ?? 10_000)),
  });
  // A child about to stop first loses our idle connections to it: it exits sooner (ModelProxy.dropIdle). The event
  // comes just before the child is signalled.
  router.on('event', (e: RouterEvent) => {
    if (e.type !== 'unload' && e.type !== 'eviction') return;
    const port = router.info(e.model)?.port;
    if (port !== undefined) proxy.dropIdle(port);
  });
  app.disable('x-powered-by');
  app.set('etag', false);

  // Before anything else reads or does anything: a missing Host, a rebinding page's Host, a foreign page's Origin.
  // The proxied routes (outside express) run the same guards.
  const guards = [
    requireHost,
    hostGuard({ listenHost: opts.listenHost ?? '127.0.0.1', allowed: opts.allowedHosts ?? [] }),
    corsGuard({ origins: opts.corsOrigins ?? [] }, (req) => req.url === '/health'),
  ];
  for (const guard of guards) app.use(guard);
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Operability (dashboard, events, metrics, logs). The dashboard's files hold no data and
  // are served before the key check; the page sends the key on its data requests.
  app.use(dashboardRoutes());
  app.use(requireKey(opts.apiKey, (req) => req.path === '/health'));
  // CORS preflights were answered above (cors.ts); any other OPTIONS is no route's (express would answer a bare 200).
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'OPTIONS') return next();
    sendError(res, new RouterError('method_not_allowed', `no route for OPTIONS ${req.path} (CORS preflights need an origin allowed with --cors-origin)`));
  });
  const events = new ModelEvents(router, opts.events);
  const logs = new LogFollowers(router);
  const metrics = new RouterMetrics(router, { sseClients: () => events.size, logFollowers: () => logs.size });
  // llama-server / llama-swap extras: /v1/models/{id}, /props|/slots|/metrics?model=, /upstream/{model}/... (compat-routes.ts),
  // counted by the same request counter as the inference routes.
  app.use(compatRoutes(router, proxy, { maxBodyBytes: opts.maxBodyBytes, props: opts.props, count: metrics.countRequests }));
  app.get('/models/sse', events.handler);
  app.get('/metrics', metrics.handler);
  app.get('/history', metrics.history.handler);
  app.get('/logs/:model', logs.handler);
  app.get('/devices', listDevices(router));

  // The body as bytes, under --max-body (src/http/body.ts: refused before it is read when declared too large).
  const raw = rawBody(opts.maxBodyBytes);
  app.get(['/v1/models', '/models'], async (req: Request, res: Response, next: NextFunction) => {
    // llama-server's way to ask for a reload; a bad catalogue answers with its error.
    if (req.query.reload === '1' || req.query.reload === 'true') {
      try {
        await reloadOrFail(opts);
      } catch (err) {
        return sendError(res, err);
      }
    }
    next();
  }, listModels(router));
  app.post('/models/reload', async (_req: Request, res: Response) => {
    try {
      res.json({ success: true, ...(await reloadOrFail(opts)) });
    } catch (err) {
      sendError(res, err);
    }
  });
  app.post('/models/load', raw, loadModel(router));
  app.post('/models/unload', raw, unloadModel(router));

  // Proxied routes run on node:http outside express (src/http/proxied-routes.ts); the few requests that reach
  // express for them (a trailing slash, another case) go to the same handler.
  const proxied = new ProxiedRoutes(proxiedRoutes, {
    router,
    proxy,
    metrics,
    apiKey: opts.apiKey,
    guards,
    readBody: (req, res) => readBody(req, opts.maxBodyBytes, res),
  });
  app.post(proxiedRoutes, proxied.handle);

  app.use((req: Request, res: Response) => {
    sendError(res, new RouterError('not_found', `no route for ${req.method} ${req.path}`));
  });
  // express needs the four-argument signature to know this is the error handler.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    sendError(res, err);
  });
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (proxied.matches(req)) proxied.handle(req, res);
    else app(req, res);
  };
  // Whole proxied requests read in one piece skip node's server (fast-lane.ts); the same handler serves them.
  const lane: LaneSetup = { paths: proxied.paths, maxBodyBytes: opts.maxBodyBytes, handle: proxied.handleLane };
  return { app, proxy, handler, lane };
}
