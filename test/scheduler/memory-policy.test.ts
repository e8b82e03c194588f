/** The memory policy: margin, caps, priorities, fewest evictions, per-device choice. Table-driven where it can be. */
import { Driver, GiB, admits, rejects, starts, stops } from './harness.js';
import type { ModelPolicy } from '../../src/scheduler/types.js';

type M = Partial<ModelPolicy> & { name: string; need: Record<string, number> };

/** Load `resident` models in order (the first is least recently used), then read devices. */
function world(devices: { name: string; total: number }[], resident: M[], others: M[], opts: { margin?: number; other?: Record<string, number>; drainAfterMs?: number } = {}) {
  const d = new Driver({ modelsMax: 0, marginBytes: opts.margin ?? 0, ...(opts.drainAfterMs === undefined ? {} : { drainAfterMs: opts.drainAfterMs }) }, [...resident, ...others]);
  for (const m of [...resident, ...others]) d.need(m.name, m.need);
  const used: Record<string, number> = { ...(opts.other ?? {}) };
  for (const m of resident) {
    d.devices(devices.map((x) => ({ ...x, free: x.total - (used[x.name] ?? 0) })));
    d.done(d.bringUp(m.name));
    d.usage(m.name, m.need);
    for (const [dev, b] of Object.entries(m.need)) used[dev] = (used[dev] ?? 0) + b;
  }
  d.devices(devices.map((x) => ({ ...x, free: x.total - (used[x.name] ?? 0) })));
  return d;
}

const gpu16 = [{ name: 'CUDA0', total: 16 * GiB }];
const seed: M[] = [
  { name: 'ASR', priority: 2, need: { CUDA0: 4 * GiB } },
  { name: 'TTS', priority: 1, need: { CUDA0: 2 * GiB }, group: 'tts' },
  { name: 'LLM', priority: 0, need: { CUDA0: 4 * GiB } },
];

describe('seed scenarios (16 GiB device, ASR p2 4 GiB, TTS p1 2 GiB, LLM p0 4 GiB loaded)', () => {
  const cases: { title: string; request: M; evicted: string[] }[] = [
    { title: 'a 12 GiB LLM evicts the LLM and the TTS; ASR survives', request: { name: 'BIG', priority: 0, need: { CUDA0: 12 * GiB } }, evicted: ['LLM', 'TTS'] },
    { title: 'a 13 GiB LLM evicts all three', request: { name: 'BIG', priority: 0, need: { CUDA0: 13 * GiB } }, evicted: ['LLM', 'TTS', 'ASR'] },
    { title: 'a TTS replacing a TTS leaves ASR (and the LLM, with room) alone', request: { name: 'TTS2', priority: 1, group: 'tts', need: { CUDA0: 2 * GiB } }, evicted: ['TTS'] },
    { title: 'an ASR request evicts the LLM, not the TTS or ASR', request: { name: 'ASR2', priority: 2, need: { CUDA0: 8 * GiB } }, evicted: ['LLM'] },
    { title: 'an already-resident target evicts nothing', request: seed[2]!, evicted: [] },
    { title: 'a model that fits in free memory evicts nothing', request: { name: 'SMALL', need: { CUDA0: 5 * GiB } }, evicted: [] },
  ];
  test.each(cases)('$title', ({ request, evicted }) => {
    const others = seed.some((s) => s.name === request.name) ? [] : [request];
    const d = world(gpu16, seed, others);
    const { effects } = d.request(request.name);
    expect(stops(effects).sort()).toEqual([...evicted].sort());
    if (evicted.length === 0) expect(d.status(request.name)).toMatch(/loading|loaded/);
  });

  test('an LLM request prefers the other LLM over the higher tiers (not the reverse)', () => {
    const d = world(gpu16, [seed[0]!, seed[2]!], [{ name: 'LLM2', priority: 0, need: { CUDA0: 10 * GiB } }]);
    expect(stops(d.request('LLM2').effects)).toEqual(['LLM']);
  });
});

test('a 13 GiB model is evicted to fit a 2.8 GiB one while a small model allowed to coexist stays', () => {
  const d = world(
    gpu16,
    [
      { name: 'HUGE', need: { CUDA0: 13 * GiB } },
      { name: 'TINY', need: { CUDA0: 0.5 * GiB } },
    ],
    [{ name: 'NEW', need: { CUDA0: 2.8 * GiB } }],
    { other: { CUDA0: 2 * GiB } },
  );
  expect(stops(d.request('NEW').effects)).toEqual(['HUGE']);
});

test('fewest evictions win within a tier; least recently used breaks ties', () => {
  const d = world(
    gpu16,
    [
      { name: 'S1', need: { CUDA0: 2 * GiB } },
      { name: 'S2', need: { CUDA0: 2 * GiB } },
      { name: 'L1', need: { CUDA0: 6 * GiB } },
      { name: 'L2', need: { CUDA0: 6 * GiB } },
    ],
    [{ name: 'NEW', need: { CUDA0: 6 * GiB } }],
  );
  // Free 0: S1+S2 (4) is not enough; one of L1/L2 is. L1 was used before L2.
  expect(stops(d.request('NEW').effects)).toEqual(['L1']);
});

test('two GPUs: only models on the short GPU are evicted, even if another is older', () => {
  const d = world(
    [{ name: 'CUDA0', total: 24 * GiB }, { name: 'CUDA1', total: 16 * GiB }],
    [
      { name: 'ON1', need: { CUDA1: 10 * GiB } }, // least recently used of all
      { name: 'ON0a', need: { CUDA0: 10 * GiB } },
      { name: 'ON0b', need: { CUDA0: 10 * GiB } },
    ],
    [{ name: 'NEW', need: { CUDA0: 8 * GiB } }],
  );
  expect(stops(d.request('NEW').effects)).toEqual(['ON0a']);
});

test('the margin is kept free', () => {
  const d = world(gpu16, [{ name: 'A', need: { CUDA0: 8 * GiB } }], [{ name: 'B', need: { CUDA0: 7 * GiB } }], { margin: 2 * GiB });
  expect(stops(d.request('B').effects)).toEqual(['A']);
  const e = world(gpu16, [{ name: 'A', need: { CUDA0: 8 * GiB } }], [{ name: 'B', need: { CUDA0: 6 * GiB } }], { margin: 2 * GiB });
  expect(starts(e.request('B').effects)).toEqual(['B']);
});

test('too large even for an empty device: fails at once naming device, need and capacity', () => {
  const d = world(gpu16, [seed[0]!], [{ name: 'HUGE', need: { CUDA0: 20 * GiB } }], { margin: 1 * GiB });
  const r = rejects(d.request('HUGE').effects);
  expect(r[0]!.error).toMatchObject({ kind: 'too_large', message: "model 'HUGE' needs 20.0 GiB on CUDA0, which has 15.0 GiB" });
  expect(d.log.filter((e) => e.type === 'stop')).toHaveLength(0);
});

test('a device that does not exist is too large, named', () => {
  const d = world(gpu16, [], [{ name: 'X', need: { CUDA3: GiB } }]);
  expect(rejects(d.request('X').effects)[0]!.error.message).toMatch(/CUDA3, and there is no such device/);
});

test('caps (--models-memory-max) bound what our children hold, without readings', () => {
  const d = new Driver({ modelsMax: 0, caps: { CPU: 1000 } }, [{ name: 'A' }, { name: 'B' }, { name: 'C' }]);
  for (const m of ['A', 'B', 'C']) d.need(m, { CPU: 400 });
  d.done(d.bringUp('A'));
  d.done(d.bringUp('B'));
  expect(stops(d.request('C').effects)).toEqual(['A']);
  expect(starts(d.exited('A'))).toEqual(['C']);
});

test('busy models holding the memory drain (never killed); the waiter says what it waits for', () => {
  // No batching window: the drain starts with the waiter (count-policy.test.ts has the window).
  const d = world(gpu16, [{ name: 'A', need: { CUDA0: 10 * GiB } }], [{ name: 'B', need: { CUDA0: 10 * GiB } }], { drainAfterMs: 0 });
  const a = d.request('A');
  const b = d.request('B');
  expect(stops(b.effects)).toEqual([]);
  expect(d.s.view('B')!.waitingFor).toBe('CUDA0: need 10.0 GiB, free 6.0 GiB; busy: A (1 requests)');
  expect(admits(d.request('A').effects)).toEqual([]); // A drains: no new work
  expect(stops(d.done(a.id))).toEqual(['A']);
});

test('after an unload, the next load waits for a fresh reading that shows the memory back', () => {
  const d = world(gpu16, [{ name: 'A', need: { CUDA0: 10 * GiB } }], [{ name: 'B', need: { CUDA0: 10 * GiB } }]);
  expect(stops(d.request('B').effects)).toEqual(['A']);
  const afterExit = d.exited('A');
  expect(starts(afterExit)).toEqual([]);
  expect(afterExit.some((e) => e.type === 'readDevices')).toBe(true);
  // The driver has not released it yet: wait, do not evict anything else.
  const stillUsed = d.devices([{ name: 'CUDA0', total: 16 * GiB, free: 6 * GiB }]);
  expect(starts(stillUsed)).toEqual([]);
  expect(stops(stillUsed)).toEqual([]);
  expect(starts(d.devices([{ name: 'CUDA0', total: 16 * GiB, free: 16 * GiB }]))).toEqual(['B']);
});

test('a pinned model is never chosen for memory', () => {
  const d = world(
    gpu16,
    [
      { name: 'P', pin: true, need: { CUDA0: 8 * GiB } },
      { name: 'Q', need: { CUDA0: 4 * GiB } },
    ],
    [{ name: 'N', need: { CUDA0: 8 * GiB } }],
  );
  expect(stops(d.request('N').effects)).toEqual(['Q']);
});
