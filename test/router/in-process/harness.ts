/**
 * The real Router with its real Scheduler, in this process, on test backends (test/helpers/test-backend.ts):
 * no children, no HTTP, so a router behaviour costs milliseconds. Timing options are set small (tick, drain
 * window, backoff) so nothing waits long; waits are on the router's events or a condition, never a fixed sleep.
 */
import { createHook } from 'node:async_hooks';
import { pino } from 'pino';
import type { ModelSpec } from '../../../src/catalog/model-spec.js';
import { Router, type RouterEvent, type RouterOptions } from '../../../src/router/router.js';
import type { ModelStatus, SchedulerConfig } from '../../../src/scheduler/types.js';
import { modelSpec } from '../../helpers/model-spec.js';
import { TestBackends, type Behaviour } from '../../helpers/test-backend.js';

/** A model the test backend runs: a command, so the router builds one (ignored); no model file to look for. */
export function spec(name: string, extra: Partial<ModelSpec> = {}): ModelSpec {
  return modelSpec(name, { cmd: 'test-backend --port ${PORT}', ...extra });
}

export interface Harness {
  router: Router;
  backends: TestBackends;
  events: RouterEvent[];
}

export interface HarnessOptions {
  models: ModelSpec[];
  scheduler?: Partial<SchedulerConfig>;
  backend?: Behaviour;
  router?: Partial<RouterOptions>;
}

/** A started router on test backends: models-max 2, a 20 ms drain window, fast ticks, short backoff. */
export function makeRouter(opts: HarnessOptions): Harness {
  const backends = new TestBackends(opts.backend);
  const router = new Router({
    models: opts.models,
    server: { command: 'test-backend', prefix: [] },
    loadTimeoutMs: 5_000,
    stopTimeoutMs: 1_000,
    logger: pino({ level: 'silent' }),
    tickMs: 5,
    backends: backends.factory,
    scheduler: {
      modelsMax: 2,
      queueMax: 100,
      queueTimeoutMs: 10_000,
      autoload: true,
      marginBytes: null,
      drainAfterMs: 20,
      backoffBaseMs: 50,
      backoffMaxMs: 200,
      ...opts.scheduler,
    },
    ...opts.router,
  });
  const events: RouterEvent[] = [];
  router.on('event', (e: RouterEvent) => events.push(e));
  router.start();
  return { router, backends, events };
}

export function statusOf(router: Router, model: string): ModelStatus | undefined {
  return router.info(model)?.status;
}

/**
 * Resolves once `cond()` holds: checked now, after every router event, and on every turn of the event loop in
 * between (backends stop and start on timers of their own). Fails after `timeoutMs` saying what it waited for.
 */
export function until(router: Router, cond: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    let immediate: NodeJS.Immediate | undefined;
    const check = () => {
      if (!cond()) return;
      finish();
      resolve();
    };
    const loop = () => {
      check();
      if (!done) immediate = setImmediate(loop);
    };
    let done = false;
    const finish = () => {
      done = true;
      clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
      router.off('event', check);
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    router.on('event', check);
    immediate = setImmediate(loop);
  });
}

/** Settles (never rejects) with the outcome of `p`, so a test can look at a rejection later. */
export function outcome<T>(p: Promise<T>): { settled: boolean; value?: T; error?: unknown; promise: Promise<void> } {
  const o: { settled: boolean; value?: T; error?: unknown; promise: Promise<void> } = { settled: false, promise: Promise.resolve() };
  o.promise = p.then(
    (v) => {
      o.settled = true;
      o.value = v;
    },
    (e: unknown) => {
      o.settled = true;
      o.error = e;
    },
  );
  return o;
}

/**
 * Timers the router or a test backend creates from now on (setTimeout/setInterval, ref'd or not) that are still
 * pending: after a router's shutdown there must be none. (Jest's own timers, in-band, are not counted.)
 */
export function timerWatch(): { pending(): Promise<string[]>; stop(): void } {
  const live = new Map<number, string>();
  const ours = /\/src\/|\/test\/helpers\//;
  const hook = createHook({
    init(id, type) {
      if (type !== 'Timeout') return;
      const stack = new Error('timer created').stack ?? '';
      const frames = stack.split('\n').filter((l) => !l.includes('node_modules') && !l.includes('node:'));
      if (frames.some((l) => ours.test(l))) live.set(id, frames.slice(2, 6).join('\n'));
    },
    destroy(id) {
      live.delete(id);
    },
  }).enable();
  return {
    // destroy hooks run after the timer's callback or clear, on a later turn.
    pending: () => new Promise((resolve) => setImmediate(() => setImmediate(() => resolve([...live.values()])))),
    stop: () => hook.disable(),
  };
}
