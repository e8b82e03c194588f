/**
 * Routes llama-server's router mode and llama-swap clients expect beside the inference routes:
 *
 *   GET  /v1/models/{id}                 one model, as in GET /v1/models (the openai client's models.retrieve)
 *   GET|POST /props?model=M, GET /slots?model=M, GET /metrics?model=M
 *                                        proxied to M's child (loaded on demand, as llama-server does);
 *                                        without ?model= /props answers for the router, /metrics is the router's
 *   ANY  /upstream/{model}/{path}        llama-swap's passthrough: {path} goes to the model's child as it is
 *
 * Every answer of ours is OpenAI error JSON; a child's own answer passes through untouched.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Router } from '../router/router.js';
import { rawBody } from './body.js';
import { retryOnNewChild } from './forward-lease.js';
import { RouterError, sendError } from './errors.js';
import { modelEntry } from './models-routes.js';
import type { ModelProxy } from './proxy.js';

export interface CompatOptions {
  maxBodyBytes: number;
  /** What GET /props (no model) reports, as llama-server's router does. */
  props?: { modelsMax: number; autoload: boolean };
  /**
   * Counts a request forwarded to a child (metrics.ts countRequests), so what goes through /upstream and ?model=
   * shows in router_requests_total, the latency histograms and the token counters like the inference routes.
   */
  count?: (req: Request, res: Response, next: NextFunction) => void;
}

/** Hold a lease on `name`'s child and forward the request to it (`path`: the child's path, if not the request's). */
async function forwardTo(router: Router, proxy: ModelProxy, req: Request, res: Response, name: string, path?: string): Promise<void> {
  const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const ac = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) ac.abort();
  };
  res.once('close', onClose);
  let release: (() => void) | undefined;
  try {
    const spec = router.require(name);
    res.locals.model = spec.name;
    const lease = await router.acquire(spec.name, ac.signal);
    release = lease.release;
    if (ac.signal.aborted) return;
    if (path !== undefined) req.url = path;
    const failed = await proxy.forward(req, res, body, lease, true);
    // A child that died a moment ago (exit not yet handled) costs a wait for a new one, not a 502 (forward-lease.ts).
    if (failed) await retryOnNewChild(router, proxy, req, res, body, lease, ac.signal, failed);
  } catch (err) {
    if (!ac.signal.aborted) sendError(res, err);
  } finally {
    res.off('close', onClose);
    release?.();
  }
}

/** `/upstream/a/b/v1/models` with models `a` and `a/b`: the longest name that is a model wins (names may hold `/`). */
export function splitUpstream(router: Pick<Router, 'resolve'>, segments: string[]): { model: string } | undefined {
  for (let n = segments.length; n >= 1; n--) {
    const name = segments.slice(0, n).join('/');
    if (router.resolve(name)) return { model: name };
  }
  return undefined;
}

export function compatRoutes(router: Router, proxy: ModelProxy, opts: CompatOptions): express.Router {
  const r = express.Router();
  // The body as bytes under --max-body, as app.ts reads it for the proxied routes (src/http/body.ts).
  const raw = rawBody(opts.maxBodyBytes);
  const count = opts.count ?? ((_req: Request, _res: Response, next: NextFunction) => next());
  // Only a request for a model's child: GET /props and the router's own /metrics scrape are not counted.
  const countByModel = (req: Request, res: Response, next: NextFunction) => (req.query.model === undefined ? next() : count(req, res, next));

  r.get('/v1/models/*id', (req: Request, res: Response) => {
    try {
      const name = (req.params.id as unknown as string[]).join('/');
      const spec = router.require(name);
      res.json(modelEntry(router.info(spec.name)!));
    } catch (err) {
      sendError(res, err);
    }
  });

  const byModel = (req: Request, res: Response, next: NextFunction) => {
    const model = req.query.model;
    if (model === undefined) return next();
    if (typeof model !== 'string' || model === '') {
      return sendError(res, new RouterError('invalid_model', "'model' must be a non-empty string"));
    }
    void forwardTo(router, proxy, req, res, model);
  };
  r.get(['/props', '/slots', '/metrics'], countByModel, byModel);
  r.post('/props', countByModel, raw, byModel);
  r.get('/props', (_req: Request, res: Response) => {
    res.json({
      role: 'router',
      max_instances: opts.props?.modelsMax ?? null,
      models_autoload: opts.props?.autoload ?? true,
      model_path: 'none',
      default_generation_settings: { params: null, n_ctx: 0 },
    });
  });

  r.all('/upstream/*rest', count, raw, (req: Request, res: Response) => {
    // Matched on decoded names, forwarded with the path exactly as the client encoded it.
    const q = req.url.indexOf('?');
    const rawSegments = (q >= 0 ? req.url.slice(0, q) : req.url).replace(/^\/upstream\//, '').split('/');
    const segments = rawSegments.map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
    const found = splitUpstream(router, segments);
    if (!found) {
      const name = segments[0] ?? '';
      // The reason a named model cannot serve (a bad preset), else not found.
      try {
        router.require(name);
      } catch (err) {
        return sendError(res, err);
      }
      return sendError(res, new RouterError('model_not_found', `model '${name}' not found`));
    }
    const n = found.model.split('/').length;
    const path = '/' + rawSegments.slice(n).join('/') + (q >= 0 ? req.url.slice(q) : '');
    void forwardTo(router, proxy, req, res, found.model, path);
  });
  return r;
}
