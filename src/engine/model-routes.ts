/**
 * `POST /models/unload` and `POST /models/load`, as llama-server's router mode has them: a router that did not start
 * this engine (an external backend) can free its memory when it needs room and take it back before the next request,
 * without killing the process. Unload ends generations in progress (as llama-server's router does when it kills a
 * child) and frees the model and its contexts; /health then answers 503 {"status":"unloaded"} and requests get 503.
 * The two routes run one at a time, in the order they came.
 */
import express, { Router, type Request, type Response } from 'express';
import { badRequest, loading, shuttingDown, unloaded } from './errors.js';
import { log } from './log.js';
import { ModelRuntime } from './runtime.js';
import type { EngineState } from './state.js';

export function modelLifecycleRoutes(state: EngineState): Router {
  const router = Router();
  const json = express.json({ limit: '1mb', type: () => true, strict: false });
  let chain: Promise<unknown> = Promise.resolve();
  /** One transition at a time: an unload never frees a model a load is still creating, and vice versa. */
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn);
    chain = run.catch(() => undefined);
    return run;
  };

  router.post('/models/unload', json, async (req: Request, res: Response) => {
    checkModel(state, req.body);
    await serial(async () => {
      refuseDuringStartOrStop(state);
      const runtime = state.runtime;
      if (state.phase !== 'ready' || !runtime) return; // unloaded already
      const started = performance.now();
      state.phase = 'unloading';
      state.runtime = undefined;
      await runtime.retire(unloaded());
      await runtime.dispose();
      if (state.phase === 'unloading') state.phase = 'unloaded';
      log(`model unloaded in ${Math.round(performance.now() - started)} ms`);
    });
    res.json({ success: true });
  });

  router.post('/models/load', json, async (req: Request, res: Response) => {
    checkModel(state, req.body);
    await serial(async () => {
      refuseDuringStartOrStop(state);
      if (state.phase === 'ready') return;
      const started = performance.now();
      state.phase = 'loading';
      let runtime: ModelRuntime;
      try {
        runtime = await ModelRuntime.load(state.llama!, state.options, state.stopping.signal);
      } catch (err) {
        if (state.phase === 'loading') state.phase = 'unloaded';
        throw err;
      }
      if (state.phase !== 'loading') {
        // Stopped while loading: the process is on its way out.
        await runtime.dispose();
        throw shuttingDown();
      }
      state.runtime = runtime;
      state.phase = 'ready';
      log(`model loaded again in ${Math.round(performance.now() - started)} ms`);
    });
    res.json({ success: true });
  });

  return router;
}

/** The body may name the model (llama-server's router needs it); a name that is not ours is a mistake worth saying. */
function checkModel(state: EngineState, body: unknown): void {
  const model = (body as { model?: unknown } | undefined)?.model;
  if (model === undefined) return;
  if (typeof model !== 'string') throw badRequest('"model" must be a string', 'model');
  if (model !== state.modelId) throw badRequest(`this engine serves '${state.modelId}', not '${model}'`, 'model');
}

/** The first load (no llama yet) and shutdown own the model; a transition then would race them. */
function refuseDuringStartOrStop(state: EngineState): void {
  if (state.phase === 'stopping') throw shuttingDown();
  // Inside serial(), 'loading' can only be the first load.
  if (state.phase === 'loading' || !state.llama) throw loading();
}
