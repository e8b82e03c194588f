/**
 * The policy simulator: the engine's rules hold for every policy on every trace, runs are
 * deterministic, and our scheduler keeps the starvation trace's wait bounded. Which policy
 * wins is reported by `bench/sim/main`, not asserted here.
 */
import { simulate, type SimResult } from '../../bench/sim/engine.js';
import { p99Floor, summarize } from '../../bench/sim/metrics.js';
import { POLICIES, runSimulations } from '../../bench/sim/run.js';
import { allTraces, makeTrace } from '../../bench/sim/traces.js';
import { ours } from '../../bench/sim/policies/ours.js';
import { llamaServer } from '../../bench/sim/policies/llama-server.js';
import { defaultConfig } from '../../src/scheduler/scheduler.js';
import { GiB, requestCount, type SimModel, type Policy, type PolicyContext, type Trace } from '../../bench/sim/types.js';

const traces = allTraces({ quick: true });

describe('every policy on every trace keeps the engine rules', () => {
  const cases = traces.flatMap((t) => POLICIES.map((p) => [t.name, p.name, t, p] as const));

  test.each(cases)('%s / %s', (_t, _p, trace, policy) => {
    const r = simulate(trace, policy.factory());
    expect(r.violations).toEqual([]);
    // Answered exactly once: nothing left pending or half-done, and the engine saw no second answer.
    expect(r.stuck).toBe(0);
    expect(r.records).toHaveLength(requestCount(trace));
    for (const rec of r.records) {
      expect(['completed', 'failed', 'rejected']).toContain(rec.outcome);
      expect(rec.endAt).toBeDefined();
      if (rec.outcome === 'completed') {
        expect(rec.admitAt!).toBeGreaterThanOrEqual(rec.arrival);
        expect(rec.startAt!).toBeGreaterThanOrEqual(rec.admitAt!);
        expect(rec.endAt!).toBe(rec.startAt! + rec.service);
      }
    }
    // Capacity: never more children alive than models-max, never more memory than the budget.
    expect(r.maxAlive).toBeLessThanOrEqual(trace.capacity.modelsMax);
    expect(r.maxResidentBytes).toBeLessThanOrEqual(trace.capacity.memoryBytes);
  });
});

describe('the engine enforces the rules on a policy that breaks them', () => {
  const tiny: Trace = {
    name: 'tiny',
    seed: 0,
    models: [
      { name: 'A', loadMs: 1000, unloadMs: 500, memBytes: 6 * GiB },
      { name: 'B', loadMs: 1000, unloadMs: 500, memBytes: 6 * GiB },
    ],
    capacity: { modelsMax: 1, memoryBytes: 8 * GiB },
    parallel: 1,
    requests: [
      { id: 'r1', model: 'A', arrival: 0, service: 5000 },
      { id: 'r2', model: 'A', arrival: 100, service: 1000 },
      { id: 'r3', model: 'B', arrival: 200, service: 1000 },
    ],
  };

  /** Does whatever it is told to, with no regard for state or capacity. */
  const reckless = (script: (ctx: PolicyContext, event: string, arg: string) => void) => (ctx: PolicyContext): Policy => ({
    name: 'reckless',
    onArrival: (req) => script(ctx, 'arrival', req.id),
    onReady: (m) => script(ctx, 'ready', m),
    onExited: (m) => script(ctx, 'exited', m),
    onDone: (id) => script(ctx, 'done', id),
  });

  test('admitting to a child that is not loaded is a violation, and nothing is served', () => {
    const r = simulate(tiny, reckless((ctx, ev, id) => ev === 'arrival' && ctx.admit(id, tiny.requests.find((q) => q.id === id)!.model)), {
      horizonMs: 60_000,
    });
    expect(r.violations).toHaveLength(3);
    expect(r.violations[0]).toMatch(/admit r1 to A while unloaded/);
    expect(r.stuck).toBe(3);
  });

  test('starting past models-max and the memory budget are violations', () => {
    const r = simulate(tiny, reckless((ctx, ev, id) => {
      if (ev === 'arrival' && id === 'r1') ctx.start('A');
      if (ev === 'arrival' && id === 'r3') ctx.start('B');
      if (ev === 'arrival' && id !== 'r3') ctx.reject(id, 'no');
      if (ev === 'arrival' && id === 'r3') ctx.reject(id, 'no');
    }));
    expect(r.violations.join('\n')).toMatch(/2 children alive, models-max 1/);
    expect(r.violations.join('\n')).toMatch(/12\.0 GiB resident, budget 8\.0 GiB/);
    expect(r.maxAlive).toBe(2);
  });

  test('answering a request twice is a violation', () => {
    const r = simulate(tiny, reckless((ctx, ev, id) => {
      if (ev === 'arrival') {
        ctx.reject(id, 'first');
        ctx.reject(id, 'second');
      }
    }));
    expect(r.violations).toHaveLength(3);
    expect(r.violations[0]).toMatch(/reject r1: already rejected/);
    expect(r.records.every((x) => x.outcome === 'rejected' && x.reason === 'first')).toBe(true);
  });

  test('stopping a busy child kills what it holds: those requests fail, the rest run', () => {
    const r = simulate(tiny, reckless((ctx, ev, arg) => {
      if (ev === 'arrival' && arg === 'r1') ctx.start('A');
      if (ev === 'ready' && arg === 'A') {
        ctx.admit('r1', 'A');
        ctx.admit('r2', 'A'); // waits in the child behind r1 (parallel 1)
        ctx.stop('A');
      }
      if (ev === 'exited' && arg === 'A') ctx.start('B');
      if (ev === 'ready' && arg === 'B') ctx.admit('r3', 'B');
    }));
    expect(r.violations).toEqual([]);
    const by = Object.fromEntries(r.records.map((x) => [x.id, x]));
    expect(by.r1!.outcome).toBe('failed');
    expect(by.r2!.outcome).toBe('failed');
    expect(by.r3!.outcome).toBe('completed');
    expect(by.r3!.endAt).toBe(1000 + 500 + 1000 + 1000); // load A, unload A, load B, serve
    expect(r.loads).toBe(2);
  });

  test('a child runs `parallel` requests at once and queues the rest in order', () => {
    const two: Trace = { ...tiny, parallel: 2, requests: tiny.requests.map((q) => ({ ...q, model: 'A', service: 1000 })) };
    const r = simulate(two, ours());
    const start = Object.fromEntries(r.records.map((x) => [x.id, x.startAt]));
    expect(start).toEqual({ r1: 1000, r2: 1000, r3: 2000 });
  });
});

describe('the engine\'s device and clients', () => {
  const two: Trace = {
    name: 'two',
    seed: 0,
    models: [
      { name: 'A', loadMs: 4000, coldLoadMs: 10_000, unloadMs: 500, memBytes: 4 * GiB },
      { name: 'B', loadMs: 4000, unloadMs: 500, memBytes: 4 * GiB },
    ],
    capacity: { modelsMax: 2, memoryBytes: 16 * GiB },
    parallel: 1,
    requests: [],
  };
  /** Starts whatever is asked for at once and admits on ready. */
  const eager = (ctx: PolicyContext): Policy => {
    const waiting = new Map<string, string[]>();
    return {
      name: 'eager',
      onArrival: (req) => {
        if (ctx.state(req.model) === 'loaded') return ctx.admit(req.id, req.model);
        waiting.set(req.model, [...(waiting.get(req.model) ?? []), req.id]);
        if (ctx.state(req.model) === 'unloaded') ctx.start(req.model);
      },
      onReady: (m) => {
        for (const id of waiting.get(m) ?? []) ctx.admit(id, m);
        waiting.delete(m);
      },
      onExited: () => undefined,
      onDone: () => undefined,
    };
  };

  test('loads at once share the device: two warm 4 s loads both finish at 8 s; a first load reads a cold disk', () => {
    const r = simulate({ ...two, requests: [{ id: 'a', model: 'A', arrival: 0, service: 100 }, { id: 'b', model: 'B', arrival: 0, service: 100 }] }, eager);
    const by = Object.fromEntries(r.records.map((x) => [x.id, x.admitAt]));
    // A (cold, 10 s of work) and B (4 s) share: B is done at 8 s, A has 6 s left alone: 14 s.
    expect(by).toEqual({ a: 14_000, b: 8_000 });
  });

  test('a request that waited for its model\'s first load, and for nothing else, is a p99 no router avoids', () => {
    // Together, each load at half speed: both waited for a first load, and more than its cold load time.
    const shared = simulate({ ...two, requests: [{ id: 'a', model: 'A', arrival: 0, service: 100 }, { id: 'b', model: 'B', arrival: 0, service: 100 }] }, eager);
    expect(Object.fromEntries(shared.records.map((x) => [x.id, x.firstLoadMs]))).toEqual({ a: 10_000, b: 4_000 });
    expect(summarize(shared).p99IsFirstLoad).toBe(false);
    // Alone: A's request waits its cold load exactly; the next request finds A loaded and is no first load.
    const alone = simulate({ ...two, requests: [{ id: 'a', model: 'A', arrival: 0, service: 100 }, { id: 'a2', model: 'A', arrival: 20_000, service: 100 }] }, eager);
    expect(alone.records.map((x) => [x.id, x.admitAt! - x.arrival, x.firstLoadMs])).toEqual([['a', 10_000, 10_000], ['a2', 0, undefined]]);
    expect(summarize(alone).p99IsFirstLoad).toBe(true);
  });

  test('the p99 floor: each asked-for model\'s first load from the cold disk, 0 for every other wait', () => {
    // 100 waits: A's cold 10 s, B's 4 s (no cold figure: its load), 98 zeros. Rank 99 of 100 is B's load.
    const asked = (n: number): Trace => ({ ...two, requests: Array.from({ length: n }, (_, i) => ({ id: `q${i}`, model: i % 2 ? 'B' : 'A', arrival: i * 1000, service: 100 })) });
    expect(p99Floor(asked(100), 100)).toBe(4000);
    // 101 waits: rank 100 of 101 is still B's load; 200: rank 198, a zero.
    expect(p99Floor(asked(101), 101)).toBe(4000);
    expect(p99Floor(asked(200), 200)).toBe(0);
    // Only A asked for: rank 99 of 100 is a zero; the highest 1 of 100 is A's cold load.
    const onlyA: Trace = { ...two, requests: asked(100).requests.map((q) => ({ ...q, model: 'A' })) };
    expect(p99Floor(onlyA, 100)).toBe(0);
    expect(p99Floor(onlyA, 50)).toBe(10_000);
    // A session's steps count as asked for.
    expect(p99Floor({ ...two, sessions: [{ id: 's', start: 0, steps: [{ model: 'B', service: 1, thinkMs: 0 }] }] }, 1)).toBe(4000);
  });

  test('a closed-loop session sends its next request think time after the previous answer', () => {
    const trace: Trace = {
      ...two,
      sessions: [{ id: 's', start: 1000, steps: [{ model: 'B', service: 2000, thinkMs: 0 }, { model: 'B', service: 1000, thinkMs: 500 }] }],
    };
    const r = simulate(trace, eager);
    const by = Object.fromEntries(r.records.map((x) => [x.id, x]));
    expect(by['s-0']!.endAt).toBe(1000 + 4000 + 2000);
    expect(by['s-1']!.arrival).toBe(7000 + 500);
    expect(by['s-1']!.endAt).toBe(7500 + 1000);
    expect(r.stuck).toBe(0);
  });
});

describe('traces', () => {
  test('are deterministic for a seed and differ between seeds', () => {
    for (const t of traces) {
      expect(makeTrace(t.name as Parameters<typeof makeTrace>[0], { quick: true })).toEqual(t);
    }
    expect(makeTrace('zipf10', { quick: true, seed: 7 }).requests).not.toEqual(makeTrace('zipf10', { quick: true }).requests);
  });

  test('arrive in order, name known models, and fit their device one model at a time', () => {
    for (const t of traces) {
      const names = new Set(t.models.map((m) => m.name));
      t.requests.forEach((r, i) => {
        expect(names.has(r.model)).toBe(true);
        if (i > 0) expect(r.arrival).toBeGreaterThanOrEqual(t.requests[i - 1]!.arrival);
      });
      for (const m of t.models) expect(m.memBytes).toBeLessThanOrEqual(t.capacity.memoryBytes);
    }
  });

  test('bursty sends runs of 20-50 requests to one model', () => {
    const reqs = makeTrace('bursty', { quick: true }).requests;
    const runs: number[] = [];
    for (const r of reqs) {
      if (runs.length && reqs[reqs.indexOf(r) - 1]!.model === r.model) runs[runs.length - 1]!++;
      else runs.push(1);
    }
    expect(Math.min(...runs)).toBeGreaterThanOrEqual(20);
    expect(Math.max(...runs)).toBeLessThanOrEqual(50);
  });
});

describe('runSimulations', () => {
  test('is deterministic: same seed, same table', () => {
    const a = runSimulations({ quick: true });
    const b = runSimulations({ quick: true });
    expect(b.markdown).toBe(a.markdown);
    expect(a.rows).toHaveLength(traces.length * POLICIES.length);
    expect(a.markdown).toMatch(/\| trace \| capacity \| policy \| loads \| wait p50 \| wait p99 \| wait max \|/);
    expect(runSimulations({ quick: true, seed: 99 }).markdown).not.toBe(a.markdown);
  });

  test('each dominated case names ours and the peers that beat it on both loads and p99, from the rows', () => {
    const r = runSimulations({ quick: true, seeds: 2 });
    expect(r.dominated.of).toBe(2 * traces.length);
    expect(r.dominated.cases).toHaveLength(r.dominated.n);
    expect(r.markdown.split('\n').at(-1)).toBe(`dominated: ${r.dominated.n} of ${r.dominated.of}`);
    const sec = (ms: number) => (ms / 1000).toFixed(1);
    for (const c of r.dominated.cases) {
      const [, trace, seed] = c.match(/^(\S+) seed (\d+): /)!;
      const here = r.rows.filter((x) => x.trace === trace && (x as { seed?: number }).seed === Number(seed));
      const mine = here.find((x) => x.policy === 'ours')!;
      expect(c).toContain(`: ours ${mine.loads} loads, p99 ${sec(mine.waitP99)} s; by `);
      for (const peer of here.filter((x) => c.includes(`${x.policy} (`) && !x.policy.startsWith('ours'))) {
        expect(peer.loads).toBeLessThan(mine.loads);
        expect(peer.waitP99).toBeLessThan(mine.waitP99);
        expect(peer.rejected).toBe(0);
      }
    }
  });
});

describe('the Zipf-like summary line', () => {
  test('counts wins, and apart from them the seeds with fewer loads and the very same p99, from the rows', () => {
    const seeds = 3;
    const r = runSimulations({ quick: true, seeds });
    const line = r.markdown.split('\n').find((l) => l.startsWith('Zipf-like traces'))!;
    for (const trace of ['zipf10', 'long-tail-ttl', 'cold-big']) {
      const pairs = Array.from({ length: seeds }, (_, i) => {
        const at = (policy: string) => r.rows.find((x) => x.trace === trace && x.policy === policy && (x as { seed?: number }).seed === 20240611 + i)!;
        return { mine: at('ours'), ls: at('llama-server') };
      });
      const wins = pairs.filter(({ mine, ls }) => mine.loads < ls.loads && mine.waitP99 < ls.waitP99).length;
      const ties = pairs.filter(({ mine, ls }) => mine.loads < ls.loads && mine.waitP99 === ls.waitP99).length;
      const part = line.split(/; /).find((x) => x.includes(`${trace}: `))!;
      expect(part).toContain(`${trace}: ${wins} of ${seeds}`);
      if (ties) expect(part).toContain(`the same p99 on ${ties} more`);
      else expect(part).not.toContain('the same p99');
      const atFloor = pairs.filter(({ mine }) => mine.waitP99 === mine.p99Floor).length;
      if (atFloor) expect(part).toContain(`ours at the p99 floor on ${atFloor}`);
      else expect(part).not.toContain('at the p99 floor');
    }
    // The floor is a lower bound: no policy's p99 is below it, on any trace (where nothing was rejected).
    const bounded = r.rows.filter((x) => x.p99Floor !== undefined);
    expect(bounded.length).toBeGreaterThan(r.rows.length / 2);
    for (const x of bounded) expect([x.trace, x.policy, x.waitP99 >= x.p99Floor!]).toEqual([x.trace, x.policy, true]);
    // and it binds: on the quick long tail (first loads dominate the top 1%) some policy's p99 is on it.
    expect(bounded.some((x) => x.trace === 'long-tail-ttl' && x.waitP99 === x.p99Floor)).toBe(true);
  });
});

describe('steady-vs-one: a steady stream for A cannot starve B under our scheduler', () => {
  const maxWait = (r: SimResult) => Math.max(...r.records.map((x) => (x.admitAt ?? Infinity) - x.arrival));

  test('the longest wait stays bounded however long the stream runs', () => {
    const short = simulate(makeTrace('steady-vs-one', { quick: true }), ours());
    const trace = makeTrace('steady-vs-one');
    const long = simulate(trace, ours());
    for (const r of [short, long]) {
      expect(r.violations).toEqual([]);
      expect(r.records.every((x) => x.outcome === 'completed')).toBe(true);
    }
    // The bound from the settings: the drain window, then the longest time an A request spent in its child
    // (running or queued there), A's unload, B's load (cold the first time).
    const [a, b] = trace.models as [SimModel, SimModel];
    const inChild = Math.max(...long.records.filter((x) => x.model === a.name).map((x) => x.endAt! - x.admitAt!));
    const tick = 1000;
    const bBound = defaultConfig.drainAfterMs + inChild + a.unloadMs + (b.coldLoadMs ?? b.loadMs) + tick;
    const bs = long.records.filter((x) => x.model === b.name);
    expect(bs.length).toBeGreaterThan(5);
    // Every B request is served within that bound, not at the end of the stream ...
    for (const x of bs) expect(x.admitAt! - x.arrival).toBeLessThanOrEqual(bBound);
    // ... and A's requests held back meanwhile wait at most for that swap, B's request and the swap back.
    const aBound = bBound + 3000 + b.unloadMs + a.loadMs + tick;
    expect(maxWait(long)).toBeLessThanOrEqual(aBound);
    expect(maxWait(short)).toBeLessThanOrEqual(aBound);
  });
});

describe('llama-server with the trace\'s TTL runs with --sleep-idle-seconds', () => {
  // models-max 1 (one 6 GiB model fits 8 GiB); loads 2 s, unloads 0.5 s, TTL 10 s.
  const trace: Trace = {
    name: 'sleep',
    seed: 0,
    models: [
      { name: 'A', loadMs: 2000, unloadMs: 500, memBytes: 6 * GiB },
      { name: 'B', loadMs: 2000, unloadMs: 500, memBytes: 6 * GiB },
    ],
    capacity: { modelsMax: 1, memoryBytes: 8 * GiB },
    parallel: 1,
    ttlMs: 10_000,
    requests: [
      { id: 'a1', model: 'A', arrival: 0, service: 1000 }, // load, done at 3 s: asleep at 13 s
      { id: 'a2', model: 'A', arrival: 20_000, service: 1000 }, // wakes A: a reload; done at 23 s, asleep at 33 s
      { id: 'b1', model: 'B', arrival: 40_000, service: 1000 }, // sleeping A holds the slot: evicted, B loads
      { id: 'a3', model: 'A', arrival: 44_000, service: 1000 }, // A lost its slot: B (idle, awake) is stopped first
    ],
  };
  const admitted = (t: Trace) => {
    const r = simulate(t, llamaServer());
    expect(r.violations).toEqual([]);
    expect(r.records.every((x) => x.outcome === 'completed')).toBe(true);
    return { loads: r.loads, at: Object.fromEntries(r.records.map((x) => [x.id, x.admitAt])) };
  };

  test('an idle child sleeps: the next request pays a reload; a sleeper keeps its slot until evicted, at no stop cost', () => {
    expect(admitted(trace)).toEqual({ loads: 4, at: { a1: 2000, a2: 22_000, b1: 42_000, a3: 46_500 } });
  });

  test('without a TTL nothing sleeps (the flag\'s default, -1): only the swaps load', () => {
    // a2 finds A loaded; b1 waits for A's stop (0.5 s), a3 for B's.
    expect(admitted({ ...trace, ttlMs: undefined })).toEqual({ loads: 3, at: { a1: 2000, a2: 20_000, b1: 42_500, a3: 46_500 } });
  });
});
