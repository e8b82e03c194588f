/**
 * The load planner on its own (src/scheduler/plan-load.ts): given a state, the expected plan. Each case
 * also checks the planner is pure: planned twice from one (frozen) state, the plans are equal and the
 * state is as it was.
 */
import { configOf } from '../../src/scheduler/config.js';
import { planLoad, type Plan } from '../../src/scheduler/plan-load.js';
import { newEntry, type ModelEntry, type SchedulerState, type Waiter } from '../../src/scheduler/state.js';
import type { DeviceReading, ModelPolicy, SchedulerConfig } from '../../src/scheduler/types.js';

const G = 2 ** 30;
const NOW = 10_000;

/** A model: its runtime fields and its policy, flat (policy defaults: priority 0, not pinned). */
type Spec = { name: string } & Partial<Omit<ModelEntry, 'policy'>> & Partial<Omit<ModelPolicy, 'name'>>;

interface Given {
  config?: Partial<SchedulerConfig>;
  /** The target is `A` (unloaded unless listed) and its first waiter `w1`, queued at `NOW - 1`. */
  models?: Spec[];
  readings?: DeviceReading[];
  /** Default NOW: a fresh reading. */
  readingsAt?: number;
  unloadedAt?: Record<string, number>;
  reservations?: Record<string, string[]>;
  /** More waiters, after `w1`. */
  queue?: Waiter[];
}

function stateOf(g: Given): SchedulerState {
  const models = new Map<string, ModelEntry>();
  for (const spec of [{ name: 'A' }, ...(g.models ?? [])]) {
    const { name, priority = 0, pin = false, group, ttlMs, concurrency, gpuLock, elastic, ...runtime } = spec;
    const policy: ModelPolicy = { name, priority, pin, group, ttlMs, concurrency, gpuLock, elastic };
    models.set(name, { ...newEntry(policy), ...runtime });
  }
  return {
    config: configOf({ marginBytes: null, ...g.config }),
    models,
    queue: [{ id: 'w1', model: 'A', kind: 'request', at: NOW - 1 }, ...(g.queue ?? [])],
    readings: new Map((g.readings ?? []).map((r) => [r.name, r])),
    readingsAt: g.readingsAt ?? NOW,
    unloadedAt: new Map(Object.entries(g.unloadedAt ?? {})),
    reservations: new Map(Object.entries(g.reservations ?? {})),
  };
}

/** A deep copy with maps as entry lists (structuredClone's maps come from another realm under jest). */
function copyOf(o: unknown): unknown {
  if (o instanceof Map) return { map: [...o.entries()].map(([k, v]) => [k, copyOf(v)]) };
  if (Array.isArray(o)) return o.map(copyOf);
  if (o && typeof o === 'object') return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, copyOf(v)]));
  return o;
}

/** Freeze everything a plain write could change (entries, policies, needs, queue, config). */
function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    const values = o instanceof Map ? [...o.values()] : Object.values(o);
    for (const v of values) deepFreeze(v);
  }
  return o;
}

const loaded = (name: string, more: Omit<Spec, 'name'> = {}): Spec => ({ name, status: 'loaded', lastUsed: 1, ...more });
const gpu = (name: string, totalGiB: number, freeGiB: number): DeviceReading => ({ name, total: totalGiB * G, free: freeGiB * G });

const cases: { name: string; given: Given; plan: Plan }[] = [
  {
    name: 'start: room for it',
    given: { config: { modelsMax: 2 }, models: [{ name: 'A', need: { CPU: 4 * G } }, loaded('B')] },
    plan: { kind: 'start', need: { CPU: 4 * G } },
  },
  {
    name: 'evict idle: the least recently used goes (count)',
    given: { config: { modelsMax: 2 }, models: [loaded('B', { lastUsed: 50 }), loaded('C', { lastUsed: 40 })] },
    plan: { kind: 'evict', victims: [{ name: 'C', reason: 'lru', detail: 'making room for A' }] },
  },
  {
    name: 'evict idle: the lower priority tier goes first, even if used more recently (memory)',
    given: {
      config: { caps: { CPU: 10 * G } },
      models: [
        { name: 'A', need: { CPU: 4 * G } },
        loaded('B', { lastUsed: 10, priority: 1, need: { CPU: 4 * G } }),
        loaded('C', { lastUsed: 90, need: { CPU: 4 * G } }),
      ],
    },
    plan: { kind: 'evict', victims: [{ name: 'C', reason: 'memory', detail: 'making room for A' }] },
  },
  {
    name: 'drain busy: the busy model drains and is reserved for the waiter',
    given: { config: { modelsMax: 1 }, models: [loaded('B', { refs: 2 })] },
    plan: { kind: 'wait', drain: ['B'], reserve: ['B'], why: 'models-max reached; busy: B (2 requests)' },
  },
  {
    name: 'drain busy: an idle victim of the same plan stops now',
    given: {
      config: { caps: { CPU: 10 * G } },
      models: [
        { name: 'A', need: { CPU: 8 * G } },
        loaded('B', { refs: 1, lastUsed: 20, need: { CPU: 5 * G } }),
        loaded('C', { lastUsed: 10, need: { CPU: 5 * G } }),
      ],
    },
    plan: {
      kind: 'wait',
      drain: ['C', 'B'],
      stop: [{ name: 'C', reason: 'memory', detail: 'making room for A' }],
      reserve: ['C', 'B'],
      why: 'CPU: need 8.0 GiB, free 0 MiB; busy: B (1 requests)',
    },
  },
  {
    name: 'drain busy: the reserved victims stay chosen while they make room',
    given: {
      config: { modelsMax: 2 },
      models: [loaded('B', { refs: 1, lastUsed: 50 }), loaded('C', { refs: 1, lastUsed: 5 })],
      reservations: { w1: ['B'] },
    },
    plan: { kind: 'wait', drain: ['B'], reserve: ['B'], why: 'models-max reached; busy: B (1 requests)' },
  },
  {
    // bench/sim cold-big seed 20240621: stopping two idle models for one load cost two loads later.
    name: 'drain busy rather than stop more: one busy model makes the room two idle ones would',
    given: {
      config: { caps: { CPU: 40 * G } },
      models: [
        { name: 'A', need: { CPU: 19 * G } },
        loaded('B', { refs: 1, lastUsed: 90, need: { CPU: 15.5 * G } }),
        loaded('C', { lastUsed: 10, need: { CPU: 10.5 * G } }),
        loaded('D', { lastUsed: 20, need: { CPU: 8 * G } }),
      ],
    },
    plan: { kind: 'wait', drain: ['B'], reserve: ['B'], why: 'CPU: need 19.0 GiB, free 6.0 GiB; busy: B (1 requests)' },
  },
  {
    name: 'evict idle: as few idle models as busy ones would make the room, so the idle one goes',
    given: {
      config: { caps: { CPU: 40 * G } },
      models: [
        { name: 'A', need: { CPU: 19 * G } },
        loaded('B', { refs: 1, lastUsed: 90, need: { CPU: 15.5 * G } }),
        loaded('C', { lastUsed: 10, need: { CPU: 10.5 * G } }),
        loaded('D', { lastUsed: 20, need: { CPU: 4 * G } }),
      ],
    },
    plan: { kind: 'evict', victims: [{ name: 'C', reason: 'memory', detail: 'making room for A' }] },
  },
  {
    name: 'wait for unload: room an unload in flight gives back is waited for',
    // Two slots: B's unload frees one, so C (idle, evictable) is left alone.
    given: { config: { modelsMax: 2 }, models: [{ name: 'B', status: 'unloading' }, loaded('C', { lastUsed: 0 })] },
    plan: { kind: 'wait', drain: [], why: 'waiting for B to unload' },
  },
  {
    name: 'wait for a fresh reading: the last one is too old to judge free memory on',
    given: { config: { marginBytes: 0 }, models: [{ name: 'A', need: { CPU: 1 * G } }], readings: [gpu('CPU', 16, 16)], readingsAt: NOW - 5_000 },
    plan: { kind: 'wait', drain: [], why: 'waiting for a fresh memory reading', readDevices: true },
  },
  {
    name: 'wait for a fresh reading: a device was read before an unload on it',
    given: {
      config: { marginBytes: 0 },
      models: [{ name: 'A', need: { CPU: 1 * G } }],
      readings: [gpu('CPU', 16, 16)],
      readingsAt: NOW - 100,
      unloadedAt: { CPU: NOW - 50 },
    },
    plan: { kind: 'wait', drain: [], why: 'waiting for a fresh memory reading of CPU', readDevices: true },
  },
  {
    name: 'wait for sizing: an elastic model still choosing its size is not evicted for',
    given: { config: { modelsMax: 1 }, models: [loaded('B', { sizing: true })] },
    plan: { kind: 'wait', drain: [], why: 'waiting for B to choose its context size' },
  },
  {
    name: 'exclusive group: an idle member goes, whatever the room',
    given: { models: [{ name: 'A', group: 'g' }, loaded('B', { group: 'g' }), loaded('C')] },
    plan: { kind: 'evict', victims: [{ name: 'B', reason: 'group', detail: 'exclusive group g' }] },
  },
  {
    name: 'exclusive group: a busy member drains',
    given: { models: [{ name: 'A', group: 'g' }, loaded('B', { group: 'g', refs: 1 })] },
    plan: { kind: 'wait', drain: ['B'], reserve: [], why: 'busy: B (1 requests)' },
  },
  {
    name: 'pin: a pinned model is never chosen; the waiter is told why',
    given: { config: { modelsMax: 1 }, models: [loaded('B', { pin: true })] },
    plan: { kind: 'wait', drain: [], why: 'models-max reached; pinned: B' },
  },
  {
    name: 'too_large: above the cap',
    given: { config: { caps: { CPU: 8 * G } }, models: [{ name: 'A', need: { CPU: 10 * G } }] },
    plan: { kind: 'impossible', error: { kind: 'too_large', message: "model 'A' needs 10.0 GiB on CPU, which has 8.0 GiB" } },
  },
  {
    name: 'too_large: a device this machine does not have',
    given: { config: { marginBytes: 0 }, models: [{ name: 'A', need: { CUDA0: 1 * G } }], readings: [gpu('CPU', 16, 16)] },
    plan: { kind: 'impossible', error: { kind: 'too_large', message: "model 'A' needs 1.0 GiB on CUDA0, and there is no such device" } },
  },
  {
    name: 'placement: the GPU with the most room now',
    given: { models: [{ name: 'A', need: { CPU: 1 * G, GPU: 8 * G } }], readings: [gpu('CUDA0', 24, 10), gpu('CUDA1', 24, 20)] },
    plan: { kind: 'start', need: { CPU: 1 * G, CUDA1: 8 * G } },
  },
  {
    name: 'placement: no room now, so the GPUs chosen are remembered and an idle model there is evicted',
    given: {
      config: { marginBytes: 0 },
      models: [{ name: 'A', need: { GPU: 8 * G } }, loaded('B', { need: { CUDA0: 10 * G } })],
      readings: [gpu('CUDA0', 16, 4)],
    },
    plan: { kind: 'evict', victims: [{ name: 'B', reason: 'memory', detail: 'making room for A' }], tentative: ['CUDA0'] },
  },
  {
    name: 'placement: a load keeps the GPUs it chose earlier while they can hold it',
    given: {
      config: { marginBytes: 0 },
      models: [
        { name: 'A', need: { GPU: 8 * G }, tentative: ['CUDA0'] },
        loaded('B', { need: { CUDA0: 10 * G } }),
        loaded('C', { need: { CUDA1: 12 * G } }),
      ],
      // Neither GPU (nor both) has room now; choosing afresh would take CUDA1 (more reclaimable room).
      readings: [gpu('CUDA0', 16, 2), gpu('CUDA1', 16, 2)],
    },
    plan: { kind: 'evict', victims: [{ name: 'B', reason: 'memory', detail: 'making room for A' }] },
  },
  {
    name: 'placement: too_large when no GPU (nor split) could ever hold it',
    given: { models: [{ name: 'A', need: { GPU: 30 * G } }], readings: [gpu('CUDA0', 16, 16)] },
    plan: { kind: 'impossible', error: { kind: 'too_large', message: "model 'A' needs 30.0 GiB on a GPU, which has 16.0 GiB at most" } },
  },
  {
    name: 'placement: a GPU cannot be chosen without a reading',
    given: { models: [{ name: 'A', need: { GPU: 1 * G } }] },
    plan: { kind: 'wait', drain: [], why: 'waiting for a memory reading to choose its GPU', readDevices: true },
  },
  {
    name: 'elastic: the start names the room it may take',
    given: { config: { caps: { CPU: 10 * G } }, models: [{ name: 'A', elastic: true, need: { CPU: 2 * G } }, loaded('B', { need: { CPU: 4 * G } })] },
    plan: { kind: 'start', need: { CPU: 2 * G }, room: { CPU: { bytes: 6 * G, limit: 'cap' } } },
  },
];

describe('planLoad: given a state, the plan', () => {
  test.each(cases)('$name', ({ given, plan }) => {
    const state = stateOf(given);
    const before = copyOf(state);
    deepFreeze(state);
    const first = planLoad(state, 'A', NOW, 'w1');
    const second = planLoad(state, 'A', NOW, 'w1');
    expect(first).toStrictEqual(plan);
    // Pure: the same state gives the same plan, and planning changed nothing (not even the maps).
    expect(second).toStrictEqual(first);
    expect(copyOf(state)).toStrictEqual(before);
  });
});
