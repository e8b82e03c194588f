/**
 * Seeded random sequences of operations on the real Router and Scheduler (test backends, in-process), checked
 * against the invariants the router promises whatever happens:
 * - a backend is never stopped while a lease on it is held (no eviction, unload, reload or drain kills work);
 * - at most models-max backends run at once;
 * - a lease is only ever handed out on a backend of its own model that became ready;
 * - the references the router counts are exactly the leases held (each released exactly once, however often
 *   release() is called);
 * - a model the router calls loaded has exactly one backend, and it is ready;
 * - every refusal is a domain error the HTTP edge maps onto its catalogue (never an internal error);
 * - every waiter (request, load, unload) is answered, and after shutdown no backend and no timer is left.
 *
 * The seed is printed; ROUTER_SEQUENCE_SEED=N replays one, ROUTER_SEQUENCE_CASES=N runs more cases.
 */
import { toRouterError } from '../../../src/http/errors.js';
import { ModelError } from '../../../src/router/errors.js';
import type { Lease } from '../../../src/router/router.js';
import type { TestBackend } from '../../helpers/test-backend.js';
import { makeRouter, spec, timerWatch } from './harness.js';

const CASES = Number(process.env.ROUTER_SEQUENCE_CASES ?? 200);
const OPS = 30;
const SEED = process.env.ROUTER_SEQUENCE_SEED ? Number(process.env.ROUTER_SEQUENCE_SEED) : Math.floor(Math.random() * 2 ** 31);

/** mulberry32: small, fast, good enough to pick operations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `p`, or an error naming what hung (with the router's state) after `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what())), ms)));
  try {
    return await Promise.race([p, hung]);
  } finally {
    clearTimeout(timer);
  }
}

const turn = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Held {
  lease: Lease;
  backend: TestBackend;
}

async function runCase(seed: number): Promise<void> {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: T[]): T | undefined => (xs.length ? xs[int(xs.length)] : undefined);
  const universe = ['M0', 'M1', 'M2', 'M3', 'M4'].slice(0, 3 + int(3));
  const modelsMax = 1 + int(3);
  const variant = new Map<string, number>();
  const specOf = (name: string) => spec(name, { cmd: `test-backend --port \${PORT} --v ${variant.get(name) ?? 0}` });
  const violations: string[] = [];
  const fail = (what: string) => violations.push(what);

  const timers = timerWatch();
  const { router, backends } = makeRouter({
    models: universe.slice(0, 2 + int(universe.length - 1)).map(specOf),
    scheduler: {
      modelsMax,
      drainAfterMs: int(3) === 0 ? 0 : 1 + int(10),
      queueMax: int(4) === 0 ? 2 : 100,
      queueTimeoutMs: int(4) === 0 ? 15 : 10_000,
      backoffBaseMs: 5,
      backoffMaxMs: 20,
    },
    router: { tickMs: 2 },
  });

  const held = new Set<Held>();
  const pending: Promise<unknown>[] = [];
  const aborts: AbortController[] = [];
  let answered = 0;
  let asked = 0;

  const backendOf = (lease: Lease) => backends.made.find((b) => lease.target === `http://127.0.0.1:${b.port}`);
  const checkRunning = (when: string) => {
    const running = backends.running();
    if (running.length > modelsMax) fail(`${when}: ${running.length} backends running (models-max ${modelsMax}): ${running.map((b) => b.model)}`);
  };
  const checkSettled = (when: string) => {
    let refs = 0;
    for (const name of universe) {
      const info = router.info(name);
      if (!info) continue;
      refs += info.refs;
      const mine = backends.running(name);
      if (info.status === 'loaded' && (mine.length !== 1 || mine[0]!.state !== 'ready')) fail(`${when}: ${name} loaded with backends ${mine.map((b) => b.state)}`);
    }
    if (router.inFlight !== held.size) fail(`${when}: router counts ${router.inFlight} in flight, ${held.size} leases held`);
    if (refs > router.inFlight) fail(`${when}: ${refs} refs on listed models > ${router.inFlight} in flight`);
  };
  const refusal = (what: string, err: unknown) => {
    if (!(err instanceof ModelError)) return fail(`${what}: not a domain error: ${String(err)}`);
    const e = toRouterError(err);
    if (e.code === 'internal_error' || e.status < 400) fail(`${what}: ${err.kind} mapped to ${e.status} ${e.code}`);
  };
  // Stops the router makes must never hit a backend with a lease held on it (a crashed one may be stopped again).
  backends.onStop = (b) => {
    const leased = [...held].filter((h) => h.backend === b).length;
    if (leased > 0 && !b.exit) fail(`${b.model}: backend stopped with ${leased} lease(s) held`);
  };
  router.on('event', () => checkRunning('event'));

  const acquire = (name: string) => {
    const ac = int(3) === 0 ? new AbortController() : undefined;
    if (ac) aborts.push(ac);
    asked++;
    pending.push(
      router.acquire(name, ac?.signal).then(
        (lease) => {
          answered++;
          const b = backendOf(lease);
          // Checked a few microtasks after the admission: the backend may have died since, but it was ready.
          if (!b || b.model !== lease.model || !b.wasReady) fail(`lease on ${lease.target} for ${lease.model}: backend ${b?.model} ${b?.state}`);
          if (b) held.add({ lease, backend: b });
        },
        (err: unknown) => {
          answered++;
          refusal(`acquire ${name}`, err);
        },
      ),
    );
  };

  const ops: [number, () => Promise<void> | void][] = [
    [6, () => acquire(pick(universe)!)],
    [
      4,
      () => {
        const h = pick([...held]);
        if (!h) return;
        held.delete(h);
        h.lease.release();
        if (int(3) === 0) h.lease.release(); // a second release gives nothing back
      },
    ],
    [1, () => pick(aborts)?.abort()],
    [
      1,
      () => {
        const b = pick(backends.made.filter((x) => x.state === 'ready'));
        if (b && int(2) === 0) b.crash();
        else if (b) {
          b.hung = true;
          router.checkHung(b.model, 5);
        }
      },
    ],
    [1, () => backends.once(pick(universe)!, { fail: pick(['exited', 'timeout', 'spawn'] as const)!, startMs: int(3) })],
    [
      1,
      () => {
        asked++;
        pending.push(router.unload(pick(universe)!).then(() => void answered++));
      },
    ],
    [
      1,
      () => {
        asked++;
        const name = pick(universe)!;
        pending.push(router.load(name).then(() => void answered++, (err: unknown) => (answered++, refusal(`load ${name}`, err))));
      },
    ],
    [
      1,
      () => {
        const next = universe.filter(() => int(4) !== 0);
        for (const n of next) if (int(4) === 0) variant.set(n, (variant.get(n) ?? 0) + 1);
        router.applyCatalog((next.length ? next : [universe[0]!]).map(specOf), []);
      },
    ],
    [4, () => turn()],
    [2, () => sleep(1 + int(4))],
  ];
  const total = ops.reduce((n, [w]) => n + w, 0);

  for (let i = 0; i < OPS; i++) {
    backends.setDefault({ startMs: int(3), stopMs: int(3) });
    let r = int(total);
    const op = ops.find(([w]) => (r -= w) < 0)!;
    await op[1]();
    checkRunning(`op ${i}`);
  }
  await turn();
  checkSettled('before shutdown');

  // Shutdown with leases in flight: they are released over the next turns; nothing is stopped under them.
  const down = router.shutdown(2_000);
  for (const h of [...held]) {
    await (int(2) ? turn() : sleep(int(3)));
    held.delete(h);
    h.lease.release();
  }
  const state = (what: string) => () =>
    `seed ${seed}: ${what} hung; ${router.inFlight} in flight, queue ${router.queueLength}; ` +
    JSON.stringify(router.list().map((m) => [m.spec.name, m.status, m.refs, m.queued, m.waitingFor])) +
    ` backends ${JSON.stringify(backends.made.map((b) => [b.model, b.state]))}`;
  await within(down, 3_000, state('shutdown'));
  await within(Promise.all(pending), 1_000, state('waiters'));
  if (answered !== asked) fail(`${asked - answered} waiters never answered`);
  const left = backends.made.filter((b) => b.state !== 'exited');
  if (left.length) fail(`backends left after shutdown: ${left.map((b) => `${b.model} ${b.state}`)}`);
  if (router.inFlight !== 0) fail(`${router.inFlight} in flight after shutdown`);
  const timersLeft = await timers.pending();
  timers.stop();
  if (timersLeft.length) fail(`timers left after shutdown:\n${timersLeft.join('\n---\n')}`);
  router.removeAllListeners();
  if (violations.length) throw new Error(`seed ${seed} (ROUTER_SEQUENCE_SEED=${seed} to replay):\n${violations.slice(0, 10).join('\n')}`);
}

test(`${CASES} random operation sequences keep the router's invariants (seed ${SEED})`, async () => {
  console.log(`in-process sequences: seed ${SEED}, ${CASES} cases (ROUTER_SEQUENCE_SEED / ROUTER_SEQUENCE_CASES to change)`);
  const next = prng(SEED);
  for (let i = 0; i < CASES; i++) await runCase(Math.floor(next() * 2 ** 31));
});
