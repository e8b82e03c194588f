/**
 * The engine's HTTP surface (llama-server's routes, OpenAI's shapes). Listening starts before the model loads,
 * as llama-server does, so /health can say "loading" and a supervisor can tell a slow load from a dead process.
 * Every error, including express's own (bad JSON, unknown route), leaves as OpenAI error JSON.
 */
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { requireApiKey } from './auth.js';
import { isClientGone } from './client-gone.js';
import { notFound, toEngineError } from './errors.js';
import { chatCompletionsHandler, completionsHandler } from './generation-routes.js';
import { log } from './log.js';
import { modelLifecycleRoutes } from './model-routes.js';
import { embeddingList } from './openai-format.js';
import { parseEmbeddingRequest } from './request.js';
import { abortOnClientGone } from './client-gone.js';
import { SlotTrace } from './slot-trace.js';
import { sendEvent } from './sse.js';
import type { EngineState } from './state.js';

export function createApp(state: EngineState): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use(requestLog);

  app.get('/health', (_req, res) => {
    if (state.phase === 'ready') res.json({ status: 'ok' });
    else res.status(503).json({ status: state.phase });
  });

  app.use(requireApiKey(state.options.apiKey));

  const models: RequestHandler = (_req, res) => {
    const runtime = state.runtime;
    res.json({
      object: 'list',
      data: [
        {
          id: state.modelId,
          object: 'model',
          created: Math.floor(Date.now() / 1000),
          owned_by: 'router-engine',
          status: { value: statusValue[state.phase] },
          meta: runtime
            ? {
                n_ctx: runtime.ctxSize,
                n_ctx_train: runtime.model.trainContextSize,
                n_embd: runtime.model.embeddingVectorSize,
                size: runtime.model.size,
                n_params: runtime.model.fileInsights.totalParameters,
                chat_template: runtime.chatTemplateName,
                parallel: runtime.pool.size,
              }
            : null,
        },
      ],
    });
  };
  app.get(['/v1/models', '/models'], models);

  app.get('/slots', (_req, res) => {
    const runtime = state.runtime;
    res.json(
      (runtime?.pool.slots() ?? []).map((slot) => ({
        id: slot.id,
        n_ctx: runtime!.ctxSize,
        is_processing: runtime!.pool.isBusy(slot.id),
      })),
    );
  });

  app.get('/stats', (_req, res) => {
    res.json(state.runtime?.pool.stats() ?? { in_flight: 0, max_in_flight: 0, queued: 0, served: 0 });
  });

  // Parse any body as JSON whatever its Content-Type says (curl -d sends form-urlencoded); 64 MB allows long prompts.
  const json = express.json({ limit: '64mb', type: () => true, strict: false });
  app.post(['/v1/chat/completions', '/chat/completions'], json, chatCompletionsHandler(state));
  app.post(['/v1/completions', '/completions'], json, completionsHandler(state));
  app.post(['/v1/embeddings', '/embeddings'], json, async (req, res) => {
    const runtime = state.ready();
    const parsed = parseEmbeddingRequest(req.body);
    const signal = AbortSignal.any([abortOnClientGone(res), state.stopping.signal, runtime.retired.signal]);
    // Embeddings take a slot like generations do, so /stats counts every request the engine serves at once.
    const slot = await runtime.pool.acquire(signal);
    const trace = new SlotTrace(runtime.pool, slot);
    try {
      const { vectors, promptTokens } = await runtime.embed(parsed.inputs, signal);
      trace.end();
      res.json(embeddingList(runtime.id, vectors, promptTokens, parsed.encodingFormat));
    } finally {
      trace.end();
      runtime.pool.release(slot);
    }
  });

  // llama-server's router-mode routes, so a router can hold this engine as an external backend and evict it.
  app.use(modelLifecycleRoutes(state));

  app.use((req, _res, next) => next(notFound(req.method, req.path)));
  app.use(errorHandler);
  return app;
}

/** The engine's phase as llama-server names a model's status in /models. */
const statusValue: Record<EngineState['phase'], string> = {
  loading: 'loading',
  ready: 'loaded',
  unloading: 'unloading',
  unloaded: 'unloaded',
  stopping: 'unloading',
};

const requestLog: RequestHandler = (req, res, next) => {
  const started = performance.now();
  res.once('close', () => {
    const ms = Math.round(performance.now() - started);
    const note = res.writableFinished ? '' : ' (client closed)';
    log(`${req.method} ${req.path} ${res.statusCode} ${ms}ms${note}`);
  });
  next();
};

const errorHandler: ErrorRequestHandler = (err, _req, res, _next) => {
  // The client left: there is nobody to answer.
  if (isClientGone(err) || res.destroyed) return;
  const error = toEngineError(err);
  if (error.status >= 500) log(`error: ${error.stack ?? error.message}`);
  if (res.headersSent) {
    // Mid-stream: the status is gone already; tell the client in the stream and end it.
    if (String(res.getHeader('Content-Type') ?? '').startsWith('text/event-stream')) {
      sendEvent(res, error.toJSON());
      res.end();
    } else {
      res.destroy();
    }
    return;
  }
  res.status(error.status).json(error.toJSON());
};
