/**
 * The Router's state machine, in-process: the real Router and Scheduler on test backends (harness.ts). Loads,
 * eviction by count, drains, crashes and backoff, unload, shutdown with leases in flight, reload, and what each
 * refusal becomes at the HTTP edge (src/http/errors.ts maps the router's domain errors in one place).
 */
import { retryAfterOf, toRouterError } from '../../../src/http/errors.js';
import { ModelError } from '../../../src/router/errors.js';
import type { Lease, MemoryHooks } from '../../../src/router/router.js';
import { makeRouter, outcome, spec, statusOf, timerWatch, until, type Harness } from './harness.js';

const three = () => [spec('A'), spec('B'), spec('C')];

/** Recency is by the millisecond: uses of two models in one millisecond tie. */
const nextMs = () => new Promise((r) => setTimeout(r, 2));

/** Every harness a test made is shut down after it, whatever happened. */
const made: Harness[] = [];
function harness(...args: Parameters<typeof makeRouter>): Harness {
  const h = makeRouter(...args);
  made.push(h);
  return h;
}
afterEach(async () => {
  for (const h of made.splice(0)) await h.router.shutdown(0);
});

/** What a client would be told for `err`: status, code, type, retryable and Retry-After. */
function told(err: unknown) {
  const e = toRouterError(err);
  return { status: e.status, code: e.code, type: e.type, message: e.message, retryable: e.toJSON().error.retryable, retryAfter: retryAfterOf(e) };
}

describe('loads and leases', () => {
  test('a request loads its model on a backend the factory made, and its lease reaches that backend with its key', async () => {
    const { router, backends } = harness({ models: three() });
    const lease = await router.acquire('A');
    const b = backends.only('A');
    expect(b.kind).toBe('child');
    expect(statusOf(router, 'A')).toBe('loaded');
    expect(lease.target).toBe(`http://127.0.0.1:${b.port}`);
    expect(lease.headers).toEqual({ authorization: `Bearer ${b.key}` });
    expect(b.key).toMatch(/^[0-9a-f]{48}$/);
    expect(router.info('A')).toMatchObject({ refs: 1, pid: b.pid, port: b.port });
    lease.release();
    expect(router.info('A')!.refs).toBe(0);
  });

  test('a lease gives its reference back exactly once, however often it is released', async () => {
    const { router } = harness({ models: three() });
    const [l1, l2] = await Promise.all([router.acquire('A'), router.acquire('A')]);
    expect(router.inFlight).toBe(2);
    l1.release();
    l1.release();
    l1.release();
    expect(router.inFlight).toBe(1);
    expect(router.info('A')!.refs).toBe(1);
    l2.release();
    expect(router.inFlight).toBe(0);
  });

  test('requests that arrive while a model loads share one backend', async () => {
    const { router, backends } = harness({ models: three(), backend: { startMs: 20 } });
    const leases = await Promise.all([1, 2, 3, 4, 5].map(() => router.acquire('A')));
    expect(backends.starts('A')).toBe(1);
    for (const l of leases) l.release();
  });

  test('an alias leads to its model', async () => {
    const { router, backends } = harness({ models: [spec('A', { aliases: ['a-alias'] })] });
    const lease = await router.acquire(router.require('a-alias').name);
    expect(lease.model).toBe('A');
    expect(backends.starts('A')).toBe(1);
    lease.release();
  });
});

describe('eviction by count', () => {
  test('models-max 2: a third model evicts the least recently used idle one', async () => {
    const { router, backends, events } = harness({ models: three() });
    (await router.acquire('A')).release();
    await nextMs();
    (await router.acquire('B')).release();
    await nextMs();
    (await router.acquire('A')).release(); // B is now the least recently used
    await nextMs();
    (await router.acquire('C')).release();
    expect(statusOf(router, 'B')).toBe('unloaded');
    expect(backends.running('B')).toEqual([]);
    expect(backends.running().map((b) => b.model).sort()).toEqual(['A', 'C']);
    expect(events).toContainEqual(expect.objectContaining({ type: 'eviction', model: 'B', reason: 'lru' }));
  });

  test('a model with a reference is never evicted: the newcomer waits until it is released, then it drains', async () => {
    const { router, backends } = harness({ models: three(), scheduler: { modelsMax: 1 } });
    const a = await router.acquire('A');
    const b = outcome(router.acquire('B'));
    // Past the drain window, A still holds its reference and its backend.
    await until(router, () => router.info('B')!.queued === 1 && router.info('A')!.waitingFor === undefined, 'B queued');
    await new Promise((r) => setTimeout(r, 40));
    expect(statusOf(router, 'A')).toBe('loaded');
    expect(backends.only('A').stopCalls).toBe(0);
    expect(b.settled).toBe(false);
    a.release();
    await b.promise;
    expect((b.value as Lease).model).toBe('B');
    expect(backends.running('A')).toEqual([]);
    (b.value as Lease).release();
  });

  test('drain: after the drain window a busy victim takes no new requests, so a stream for A cannot starve B', async () => {
    const { router } = harness({ models: three(), scheduler: { modelsMax: 1, drainAfterMs: 20 } });
    const first = await router.acquire('A');
    const forB = outcome(router.acquire('B'));
    await until(router, () => router.info('B')!.queued === 1, 'B queued');
    // Within the window A keeps taking its own requests...
    const early = await router.acquire('A');
    early.release();
    // ...after it, a new request for A waits behind B.
    await until(router, () => router.info('A')!.waitingFor === 'draining for another model' || router.info('B')!.waitingFor !== undefined, 'drain');
    await new Promise((r) => setTimeout(r, 30));
    const late = outcome(router.acquire('A'));
    await until(router, () => router.info('A')!.queued === 1, 'late A queued');
    expect(late.settled).toBe(false);
    first.release();
    await forB.promise;
    expect((forB.value as Lease).model).toBe('B');
    expect(late.settled).toBe(false);
    (forB.value as Lease).release();
    await late.promise;
    expect((late.value as Lease).model).toBe('A');
    (late.value as Lease).release();
  });
});

describe('failures', () => {
  test('a crash marks the model failed; the next request starts a new backend', async () => {
    const { router, backends, events } = harness({ models: three() });
    (await router.acquire('A')).release();
    const first = backends.only('A');
    first.crash(139);
    expect(statusOf(router, 'A')).toBe('failed');
    expect(router.info('A')).toMatchObject({ failures: 1, exitCode: 139 });
    expect(events).toContainEqual(expect.objectContaining({ type: 'failure', model: 'A', reason: 'crash' }));
    const lease = await router.acquire('A');
    expect(backends.only('A')).not.toBe(first);
    expect(lease.target).toBe(`http://127.0.0.1:${backends.only('A').port}`);
    lease.release();
  });

  test('repeated failures back off: 503 model_backoff with Retry-After, then a load after the backoff', async () => {
    const { router, backends } = harness({ models: three(), scheduler: { backoffBaseMs: 60 } });
    (await router.acquire('A')).release();
    backends.only('A').crash();
    // The first failure retries at once; this start fails too (a ready load would reset the count).
    backends.once('A', { fail: 'exited' });
    expect(await router.acquire('A').catch((e: unknown) => e)).toMatchObject({ kind: 'load_failed' });
    const err = await router.acquire('A').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect(err).toMatchObject({ kind: 'backoff', retryAfterS: 1 });
    expect(told(err)).toMatchObject({ status: 503, code: 'model_backoff', type: 'server_error', retryAfter: 1 });
    expect((err as Error).message).toMatch(/failed 2 times .*retrying in 1 s/);
    await until(router, () => router.info('A')!.status === 'failed', 'still failed');
    await new Promise((r) => setTimeout(r, 70));
    const lease = await router.acquire('A');
    expect(backends.starts('A')).toBe(3);
    lease.release();
  });

  test('a backend that dies before ready fails the load: 503 model_load_failed, every waiter told', async () => {
    const { router, backends } = harness({ models: three() });
    backends.once('A', { fail: 'exited', startMs: 5 });
    const errs = await Promise.all([router.acquire('A'), router.acquire('A'), router.load('A')].map((p) => p.catch((e: unknown) => e)));
    for (const e of errs) {
      expect(e).toMatchObject({ kind: 'load_failed' });
      expect(told(e)).toMatchObject({ status: 503, code: 'model_load_failed', retryAfter: 1 });
      expect((e as Error).message).toMatch(/^model 'A' failed to start: test backend A: exited \(last output: A exited\)$/);
    }
    expect(statusOf(router, 'A')).toBe('failed');
    expect(router.info('A')!.exitCode).toBe(1);
  });

  test('a load that times out: 504 load_timeout', async () => {
    const { router, backends } = harness({ models: three() });
    backends.once('A', { fail: 'timeout' });
    const err = await router.acquire('A').catch((e: unknown) => e);
    expect(told(err)).toMatchObject({ status: 504, code: 'load_timeout', type: 'server_error' });
    expect((err as Error).message).toBe("model 'A' was not ready after 5 s");
  });

  test('a hung backend (no answer to its health check) is killed and handled as a crash', async () => {
    const { router, backends, events } = harness({ models: three() });
    const lease = await router.acquire('A');
    const b = backends.only('A');
    router.checkHung('A', 10);
    await new Promise((r) => setImmediate(r));
    expect(b.state).toBe('ready'); // answers: slow is allowed
    b.hung = true;
    router.checkHung('A', 10);
    await until(router, () => statusOf(router, 'A') === 'failed', 'A failed');
    expect(events).toContainEqual(expect.objectContaining({ type: 'failure', model: 'A', reason: 'hung' }));
    // The proxy asks whether the lease's backend is gone: it is, so its request may wait for a new one.
    expect(await router.childGone(lease)).toBe(true);
    lease.release();
    expect(router.inFlight).toBe(0);
  });

  test('childGone is false while the lease\'s backend still runs', async () => {
    const { router } = harness({ models: three() });
    const lease = await router.acquire('A');
    expect(await router.childGone(lease)).toBe(false);
    lease.release();
  });
});

describe('refusals as a client sees them', () => {
  test('unknown model: 404 model_not_found; a bad preset: 500 model_invalid', async () => {
    const { router } = harness({ models: three(), router: { invalid: [{ name: 'broken', error: 'bad key x' }] } });
    const unknown = await router.acquire('nope').catch((e: unknown) => e);
    expect(told(unknown)).toEqual({ status: 404, code: 'model_not_found', type: 'invalid_request_error', message: "model 'nope' not found", retryable: undefined, retryAfter: undefined });
    const bad = await router.acquire('broken').catch((e: unknown) => e);
    expect(told(bad)).toMatchObject({ status: 500, code: 'model_invalid', message: "model 'broken' has a bad preset: bad key x" });
    expect(() => router.require('nope')).toThrow(ModelError);
  });

  test('queue full: 503 queue_full, Retry-After 1; queue timeout: 503 queue_timeout, Retry-After 5', async () => {
    const { router } = harness({ models: three(), scheduler: { modelsMax: 1, queueMax: 1, queueTimeoutMs: 30 } });
    const a = await router.acquire('A');
    const waiting = outcome(router.acquire('B'));
    const full = await router.acquire('C').catch((e: unknown) => e);
    expect(told(full)).toMatchObject({ status: 503, code: 'queue_full', retryAfter: 1, message: 'the queue is full (1 waiting)' });
    await waiting.promise;
    expect(told(waiting.error)).toMatchObject({ status: 503, code: 'queue_timeout', retryAfter: 5 });
    expect((waiting.error as Error).message).toMatch(/^timed out after 0 s waiting for model 'B'/);
    a.release();
  });

  test('autoload off: 400 model_not_loaded', async () => {
    const { router } = harness({ models: three(), scheduler: { autoload: false } });
    const err = await router.acquire('A').catch((e: unknown) => e);
    expect(told(err)).toMatchObject({ status: 400, code: 'model_not_loaded', type: 'invalid_request_error' });
  });

  test('a client that leaves the queue is told client_gone (400) and gives its place up', async () => {
    const { router } = harness({ models: three(), scheduler: { modelsMax: 1 } });
    const a = await router.acquire('A');
    const ac = new AbortController();
    const gone = outcome(router.acquire('B', ac.signal));
    await until(router, () => router.queueLength === 1, 'B queued');
    ac.abort();
    await gone.promise;
    expect(gone.error).toMatchObject({ kind: 'client_gone' });
    expect(told(gone.error)).toMatchObject({ status: 400, code: 'invalid_request', message: 'client went away' });
    expect(router.queueLength).toBe(0);
    const already = await router.acquire('B', AbortSignal.abort()).catch((e: unknown) => e);
    expect(already).toMatchObject({ kind: 'client_gone' });
    a.release();
    expect(router.inFlight).toBe(0);
  });

  test('a client that leaves while its model\'s memory need is still being worked out is told client_gone, and nothing loads', async () => {
    let answer!: (need: { devices: Record<string, number>; source: string }) => void;
    const need = new Promise<{ devices: Record<string, number>; source: string }>((res) => (answer = res));
    const memory: MemoryHooks = { need: () => need, readDevices: async () => [], usage: async () => undefined };
    const { router, backends } = harness({ models: three(), router: { memory } });
    const ac = new AbortController();
    const gone = outcome(router.acquire('A', ac.signal));
    ac.abort(); // before the need is known: the abort listener is not on yet
    answer({ devices: { CPU: 1 }, source: 'estimate' });
    await gone.promise;
    expect(gone.error).toMatchObject({ kind: 'client_gone' });
    expect(router.queueLength).toBe(0);
    expect(backends.made).toHaveLength(0);
  });

  test('an external backend that cannot be reached: 502 backend_unreachable, retryable', async () => {
    const { router, backends } = harness({ models: [spec('X', { cmd: undefined, url: 'http://127.0.0.1:9' })] });
    backends.once('X', { fail: 'unreachable' });
    const err = await router.acquire('X').catch((e: unknown) => e);
    expect(backends.made[0]!.kind).toBe('external');
    expect(err).toMatchObject({ kind: 'unreachable', retryable: true });
    expect(told(err)).toMatchObject({ status: 502, code: 'backend_unreachable', retryable: true, retryAfter: undefined });
    backends.once('X', { fail: 'refused' });
    const refused = await router.acquire('X').catch((e: unknown) => e);
    expect(told(refused)).toMatchObject({ status: 503, code: 'model_load_failed', retryable: true, retryAfter: 1 });
  });

  test('an external backend\'s lease goes to its URL with its own key, never a child key', async () => {
    const { router } = harness({ models: [spec('X', { cmd: undefined, url: 'http://127.0.0.1:9/v', env: { API_KEY: 'k1' } })] });
    const lease = await router.acquire('X');
    expect(lease.target).toBe('http://127.0.0.1:9/v');
    expect(lease.headers).toEqual({ authorization: 'Bearer k1' });
    expect(await router.childGone(lease)).toBe(false);
    expect(router.childPids()).toEqual([]);
    lease.release();
  });

  test('a model too large (a ctx-size = auto one is judged at its smallest context) says so: 507', async () => {
    const { ModelError: E } = await import('../../../src/router/errors.js');
    expect(told(new E('too_large', 'x'))).toMatchObject({ status: 507, code: 'model_too_large', type: 'server_error' });
  });
});

describe('unload and shutdown', () => {
  test('unload resolves once the backend is stopped; unloading an unloaded model resolves at once', async () => {
    const { router, backends } = harness({ models: three(), backend: { stopMs: 10 } });
    (await router.acquire('A')).release();
    const b = backends.only('A');
    await router.unload('A');
    expect(b.state).toBe('exited');
    expect(b.exit).toMatchObject({ expected: true });
    expect(statusOf(router, 'A')).toBe('unloaded');
    await router.unload('A');
    await router.unload('B');
  });

  test('unload waits for the request in flight', async () => {
    const { router, backends } = harness({ models: three() });
    const lease = await router.acquire('A');
    const unloaded = outcome(router.unload('A'));
    await new Promise((r) => setTimeout(r, 20));
    expect(unloaded.settled).toBe(false);
    expect(backends.only('A').stopCalls).toBe(0);
    lease.release();
    await unloaded.promise;
    expect(backends.running('A')).toEqual([]);
  });

  test('shutdown waits for leases in flight (not for a poll), then stops every backend and leaves no timer', async () => {
    const timers = timerWatch();
    try {
      // Backends stop at once (no timer of theirs): what ends the shutdown is the router alone.
      const { router, backends } = makeRouter({ models: three(), backend: { startMs: 2 } });
      const a = await router.acquire('A');
      const b = await router.acquire('B');
      const loading = outcome(router.acquire('C'));
      await until(router, () => router.queueLength === 1, 'C queued');
      const started = Date.now();
      const down = outcome(router.shutdown(5_000));
      await loading.promise;
      expect(told(loading.error)).toMatchObject({ status: 503, code: 'shutting_down', retryAfter: 1 });
      expect(told(await router.acquire('A').catch((e: unknown) => e))).toMatchObject({ code: 'shutting_down' });
      a.release();
      await new Promise((r) => setImmediate(r));
      expect(down.settled).toBe(false);
      b.release();
      // The last release is what ends the wait, on this turn of the event loop: no poll, no grace deadline.
      await new Promise((r) => setImmediate(r));
      expect(down.settled).toBe(true);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(backends.running()).toEqual([]);
      expect(backends.made.every((x) => x.state === 'exited')).toBe(true);
      expect(router.inFlight).toBe(0);
      expect(await timers.pending()).toEqual([]);
    } finally {
      timers.stop();
    }
  });

  test('shutdown with a lease never released stops its backend at the grace deadline', async () => {
    const timers = timerWatch();
    try {
      const { router, backends } = makeRouter({ models: three() });
      const lease = await router.acquire('A');
      const started = Date.now();
      await router.shutdown(30);
      expect(Date.now() - started).toBeGreaterThanOrEqual(25);
      expect(backends.running()).toEqual([]);
      expect(backends.only.bind(backends, 'A')).toThrow(/0 running/);
      lease.release(); // late: gives its reference back, once
      expect(router.inFlight).toBe(0);
      expect(await timers.pending()).toEqual([]);
    } finally {
      timers.stop();
    }
  });

  test('shutdown during a load: its waiters are refused, the load finishes, then its backend is stopped', async () => {
    const { router, backends } = harness({ models: three(), backend: { startMs: 50 } });
    const pending = outcome(router.acquire('A'));
    await until(router, () => backends.running('A').length === 1, 'A starting');
    const down = router.shutdown(0);
    await pending.promise;
    expect(told(pending.error)).toMatchObject({ status: 503, code: 'shutting_down' });
    await down;
    expect(backends.made[0]!.state).toBe('exited');
    expect(backends.made[0]!.stopCalls).toBeGreaterThan(0);
  });
});

describe('reload (applyCatalog)', () => {
  test('added, removed, changed and unchanged models', async () => {
    const { router, backends } = harness({ models: three() });
    (await router.acquire('A')).release();
    (await router.acquire('B')).release();
    const oldA = backends.only('A');
    const oldB = backends.only('B');
    const summary = router.applyCatalog([spec('A', { cmd: 'test-backend --port ${PORT} --ctx-size 512' }), spec('C'), spec('D')], [{ name: 'E', error: 'bad' }]);
    expect(summary).toEqual({ added: ['D'], removed: ['B'], changed: ['A'], unchanged: ['C'], invalid: ['E'] });
    // Idle: the changed one restarts on its next request, the removed one is gone.
    await until(router, () => oldA.state === 'exited' && oldB.state === 'exited', 'old backends stopped');
    expect(router.list().map((m) => m.spec.name)).toEqual(['A', 'C', 'D']);
    expect(told(await router.acquire('B').catch((e: unknown) => e))).toMatchObject({ status: 404, code: 'model_not_found' });
    expect(told(await router.acquire('E').catch((e: unknown) => e))).toMatchObject({ status: 500, code: 'model_invalid' });
    const a = await router.acquire('A');
    const newA = backends.only('A');
    expect(newA).not.toBe(oldA);
    expect(newA.order.kind === 'child' && newA.order.options.args(1)).toContain('512');
    a.release();
    (await router.acquire('D')).release();
  });

  test('a model removed while a request is in flight finishes it first, then is forgotten', async () => {
    const { router, backends } = harness({ models: three() });
    const lease = await router.acquire('B');
    router.applyCatalog([spec('A'), spec('C')], []);
    expect(router.resolve('B')).toBeUndefined();
    await new Promise((r) => setTimeout(r, 20));
    expect(backends.only('B').stopCalls).toBe(0);
    lease.release();
    await until(router, () => backends.running('B').length === 0, 'B stopped');
    // Added back later: a new model, its log kept.
    router.applyCatalog([spec('A'), spec('B'), spec('C')], []);
    expect(router.list().map((m) => m.spec.name)).toEqual(['A', 'C', 'B']);
    (await router.acquire('B')).release();
    expect(backends.starts('B')).toBe(2);
  });

  test('a model removed and added back while still running keeps its backend', async () => {
    const { router, backends } = harness({ models: three() });
    const lease = await router.acquire('B');
    const b = backends.only('B');
    router.applyCatalog([spec('A'), spec('C')], []);
    router.applyCatalog(three(), []);
    lease.release();
    await new Promise((r) => setTimeout(r, 20));
    // It was asked to unload when removed; the unload goes on, and the model is known again.
    await until(router, () => b.state === 'exited', 'B unloaded');
    expect(statusOf(router, 'B')).toBe('unloaded');
    (await router.acquire('B')).release();
    expect(backends.starts('B')).toBe(2);
  });
});
