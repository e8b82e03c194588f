/** Placement on several GPUs: the pure rule (table), then the scheduler planning loads with it. */
import { ANY_GPU, place, splitBytes, type GpuRoom, type PlacementInput } from '../../src/scheduler/placement.js';
import type { Effect } from '../../src/scheduler/types.js';
import { Driver, GiB, rejects, starts, stops } from './harness.js';

/** A GPU whose room is the same at every stage unless given. */
const gpu = (name: string, now: number, more: Partial<GpuRoom> = {}): GpuRoom => ({
  name,
  now,
  reclaimable: more.reclaimable ?? now,
  capacity: more.capacity ?? Math.max(now, more.reclaimable ?? now),
});

describe('place(): the rule', () => {
  const cases: { title: string; input: PlacementInput; devices: string[]; stage?: string; need?: Record<string, number> }[] = [
    {
      title: 'the single GPU with the most room that fits',
      input: { need: { GPU: 10 }, gpus: [gpu('CUDA0', 12), gpu('CUDA1', 20)] },
      devices: ['CUDA1'],
      stage: 'now',
      need: { CUDA1: 10 },
    },
    {
      title: 'only the GPU where it fits, even if it is not the largest',
      input: { need: { GPU: 15 }, gpus: [gpu('CUDA0', 12, { capacity: 24 }), gpu('CUDA1', 16)] },
      devices: ['CUDA1'],
      stage: 'now',
    },
    {
      title: 'the CPU part is kept as it is',
      input: { need: { CPU: 3, GPU: 10 }, gpus: [gpu('CUDA0', 12)] },
      devices: ['CUDA0'],
      need: { CPU: 3, CUDA0: 10 },
    },
    {
      title: 'equal room: the lower-numbered GPU',
      input: { need: { GPU: 4 }, gpus: [gpu('CUDA10', 8), gpu('CUDA2', 8)] },
      devices: ['CUDA2'],
    },
    {
      title: 'split only when none fits alone: shares in proportion to room, each paying perGpuBytes',
      input: { need: { GPU: 14 }, perGpuBytes: 1, gpus: [gpu('CUDA0', 10), gpu('CUDA1', 8)] },
      devices: ['CUDA0', 'CUDA1'],
      stage: 'now',
      // 1 + 13 * 10/18 = 8.2 -> 9; 1 + 13 * 8/18 = 6.8 -> 7
      need: { CUDA0: 9, CUDA1: 7 },
    },
    {
      title: 'a split uses the fewest GPUs, most room first',
      input: { need: { GPU: 15 }, gpus: [gpu('CUDA0', 8), gpu('CUDA1', 10), gpu('CUDA2', 9)] },
      devices: ['CUDA1', 'CUDA2'],
      stage: 'now',
    },
    {
      title: 'a split never mixes kinds of GPU: CUDA with CUDA only',
      input: { need: { GPU: 12 }, gpus: [gpu('CUDA0', 8), gpu('ROCm0', 8), gpu('CUDA1', 6)] },
      devices: ['CUDA0', 'CUDA1'],
    },
    {
      title: 'fitting now, split, beats fitting alone after evictions',
      input: { need: { GPU: 10 }, gpus: [gpu('CUDA0', 6, { reclaimable: 20 }), gpu('CUDA1', 6)] },
      devices: ['CUDA0', 'CUDA1'],
      stage: 'now',
    },
    {
      title: 'after evicting idle models: the GPU that would have the most room',
      input: { need: { GPU: 10 }, gpus: [gpu('CUDA0', 2, { reclaimable: 12 }), gpu('CUDA1', 4, { reclaimable: 11 })] },
      devices: ['CUDA0'],
      stage: 'reclaimable',
    },
    {
      title: 'only once busy models drain: the largest device',
      input: { need: { GPU: 10 }, gpus: [gpu('CUDA0', 0, { capacity: 23 }), gpu('CUDA1', 0, { capacity: 15 })] },
      devices: ['CUDA0'],
      stage: 'capacity',
    },
    {
      title: 'bigger than any GPU but not than two: split at capacity',
      input: { need: { GPU: 30 }, perGpuBytes: 1, gpus: [gpu('CUDA0', 0, { capacity: 23 }), gpu('CUDA1', 0, { capacity: 15 })] },
      devices: ['CUDA0', 'CUDA1'],
      stage: 'capacity',
    },
  ];
  test.each(cases)('$title', ({ input, devices, stage, need }) => {
    const p = place(input);
    expect(p.devices).toEqual(devices);
    if (stage) expect(p).toMatchObject({ stage });
    if (need) expect(p.need).toEqual(need);
    // Whatever is chosen, every chosen GPU can hold its part at the stage it was chosen for.
    if ('stage' in p) {
      for (const d of p.devices) expect(p.need[d]).toBeLessThanOrEqual(input.gpus.find((g) => g.name === d)![p.stage]);
      expect(p.need[ANY_GPU]).toBeUndefined();
    }
  });

  test('nothing, not even a split of every GPU, can ever hold it: says how much the largest GPU has', () => {
    expect(place({ need: { GPU: 50 }, perGpuBytes: 1, gpus: [gpu('CUDA0', 0, { capacity: 23 }), gpu('CUDA1', 0, { capacity: 15 })] })).toEqual({
      devices: [],
      need: 50,
      largest: 23,
    });
    expect(place({ need: { GPU: 5 }, gpus: [] })).toEqual({ devices: [], need: 5, largest: 0 });
  });

  test('splitBytes: parts never sum to less than the whole plus one base per extra GPU', () => {
    for (const [bytes, per, weights] of [
      [14, 1, [10, 8]],
      [1000, 256, [3, 1]],
      [7, 0, [1, 1, 1]],
      [100, 10, [0, 5]],
    ] as [number, number, number[]][]) {
      const parts = splitBytes(bytes, per, weights);
      expect(parts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(bytes + (weights.length - 1) * per);
    }
    expect(splitBytes(1000, 256, [3, 1])).toEqual([256 + 558, 256 + 186]);
  });
});

/** The scheduler with two GPUs (24 and 16 GiB) and the CPU; `used` is memory others hold. */
function twoGpus(models: { name: string; priority?: number; need: Record<string, number> }[], opts: { margin?: number } = {}) {
  const d = new Driver({ modelsMax: 0, marginBytes: opts.margin ?? 0 }, models);
  for (const m of models) d.need(m.name, m.need);
  const read = (used: Record<string, number> = {}) =>
    d.devices([
      { name: 'CUDA0', total: 24 * GiB, free: 24 * GiB - (used.CUDA0 ?? 0) },
      { name: 'CUDA1', total: 16 * GiB, free: 16 * GiB - (used.CUDA1 ?? 0) },
      { name: 'CPU', total: 64 * GiB, free: 64 * GiB - (used.CPU ?? 0) },
    ]);
  return { d, read };
}

const startOf = (effects: Effect[], model: string) =>
  effects.find((e): e is Extract<Effect, { type: 'start' }> => e.type === 'start' && e.model === model);

describe('the scheduler places a need for one GPU when it plans the load', () => {
  test('on the GPU with the most room; the start names it and the model holds its need there', () => {
    const { d, read } = twoGpus([{ name: 'A', need: { CPU: GiB, GPU: 10 * GiB } }]);
    read();
    const { effects } = d.request('A');
    expect(startOf(effects, 'A')).toEqual({ type: 'start', model: 'A', devices: ['CUDA0'] });
    expect(d.s.view('A')!.placed).toEqual({ CPU: GiB, CUDA0: 10 * GiB });
    expect(d.s.view('A')!.need).toEqual({ CPU: GiB, GPU: 10 * GiB });
  });

  test('memory others hold counts: the emptier GPU wins', () => {
    const { d, read } = twoGpus([{ name: 'A', need: { GPU: 10 * GiB } }]);
    read({ CUDA0: 20 * GiB });
    expect(startOf(d.request('A').effects, 'A')!.devices).toEqual(['CUDA1']);
  });

  test('a second model sees the first one placed (pending before the reading shows it)', () => {
    const { d, read } = twoGpus([
      { name: 'A', need: { GPU: 12 * GiB } },
      { name: 'B', need: { GPU: 12 * GiB } },
    ]);
    read();
    expect(startOf(d.request('A').effects, 'A')!.devices).toEqual(['CUDA0']);
    // A is still loading and the reading has not seen it: its 12 GiB are pending on CUDA0.
    expect(startOf(d.request('B').effects, 'B')!.devices).toEqual(['CUDA1']);
  });

  test('split over both GPUs only when neither holds it alone', () => {
    const { d, read } = twoGpus([{ name: 'BIG', need: { GPU: 30 * GiB } }]);
    read();
    const start = startOf(d.request('BIG').effects, 'BIG')!;
    expect(start.devices).toEqual(['CUDA0', 'CUDA1']);
    const placed = d.s.view('BIG')!.placed!;
    expect(placed.CUDA0! + placed.CUDA1!).toBeGreaterThanOrEqual(30 * GiB);
    expect(placed.CUDA0).toBeGreaterThan(placed.CUDA1!); // more room, bigger share
  });

  test('no reading yet: waits for one (and asks for it), then places', () => {
    const { d, read } = twoGpus([{ name: 'A', need: { GPU: GiB } }]);
    const { effects } = d.request('A');
    expect(starts(effects)).toEqual([]);
    expect(effects).toContainEqual({ type: 'readDevices' });
    expect(d.s.view('A')!.waitingFor).toMatch(/memory reading/);
    expect(starts(read())).toEqual(['A']);
  });

  test('no GPU at all, or none big enough even split: fails at once, saying so', () => {
    const cpuOnly = new Driver({ modelsMax: 0, marginBytes: 0 }, [{ name: 'A' }]);
    cpuOnly.need('A', { GPU: GiB });
    cpuOnly.devices([{ name: 'CPU', total: 8 * GiB, free: 8 * GiB }]);
    expect(rejects(cpuOnly.request('A').effects)[0]!.error).toEqual({
      kind: 'too_large',
      message: "model 'A' needs 1.0 GiB on a GPU, and there is no GPU",
    });

    const { d, read } = twoGpus([{ name: 'HUGE', need: { GPU: 50 * GiB } }], { margin: GiB });
    read();
    expect(rejects(d.request('HUGE').effects)[0]!.error.message).toBe(
      "model 'HUGE' needs 50.0 GiB on a GPU, which has 23.0 GiB at most, and no split over CUDA0, CUDA1 holds it",
    );
  });

  test('a need that names its GPU is not placed, and the start names that GPU', () => {
    const { d, read } = twoGpus([{ name: 'A', need: { CUDA1: 4 * GiB } }]);
    read();
    expect(startOf(d.request('A').effects, 'A')).toEqual({ type: 'start', model: 'A', devices: ['CUDA1'] });
    expect(d.s.view('A')!.placed).toBeUndefined();
  });

  test('a CPU-only need starts without devices', () => {
    const { d, read } = twoGpus([{ name: 'A', need: { CPU: GiB } }]);
    read();
    expect(startOf(d.request('A').effects, 'A')).toEqual({ type: 'start', model: 'A' });
  });

  describe('with both GPUs full of idle models', () => {
    /** FIX0 (20 GiB) on CUDA0, FIX1 (14 GiB) on CUDA1; a new 10 GiB model must evict one of them. */
    const setup = (priorities: { FIX0?: number; FIX1?: number; NEW?: number } = {}) => {
      const { d, read } = twoGpus([
        { name: 'FIX0', priority: priorities.FIX0 ?? 0, need: { CUDA0: 20 * GiB } },
        { name: 'FIX1', priority: priorities.FIX1 ?? 0, need: { CUDA1: 14 * GiB } },
        { name: 'NEW', priority: priorities.NEW ?? 0, need: { GPU: 10 * GiB } },
      ]);
      read();
      d.done(d.bringUp('FIX0'));
      d.done(d.bringUp('FIX1'));
      read({ CUDA0: 20 * GiB, CUDA1: 14 * GiB });
      return { d, read };
    };

    test('only the chosen GPU loses a model: the one that would have the most room', () => {
      const { d, read } = setup();
      expect(stops(d.request('NEW').effects)).toEqual(['FIX0']);
      d.exited('FIX0');
      // Placed where room was made, once a fresh reading shows it.
      expect(startOf(read({ CUDA1: 14 * GiB }), 'NEW')!.devices).toEqual(['CUDA0']);
      expect(d.status('FIX1')).toBe('loaded');
    });

    test('a higher-priority model is not counted as room: the other GPU is chosen', () => {
      const { d } = setup({ FIX0: 5 });
      expect(stops(d.request('NEW').effects)).toEqual(['FIX1']);
    });

    test('a GPU with room now wins over the one being emptied for it', () => {
      const { d, read } = setup();
      expect(stops(d.request('NEW').effects)).toEqual(['FIX0']);
      // Before FIX0 is gone, FIX1 is unloaded by hand: CUDA1 has room at once.
      d.unload('FIX1');
      d.exited('FIX1');
      expect(startOf(read({ CUDA0: 20 * GiB }), 'NEW')!.devices).toEqual(['CUDA1']);
    });
  });

  test('the GPUs chosen for a waiting load are kept while they can hold it: no second eviction elsewhere', () => {
    const d = new Driver({ modelsMax: 0, marginBytes: 0 }, [{ name: 'FIX0' }, { name: 'FIX1' }, { name: 'NEW' }]);
    d.need('FIX0', { CUDA0: 19 * GiB });
    d.need('FIX1', { CUDA1: 20 * GiB });
    d.need('NEW', { GPU: 10 * GiB });
    const read = (used0: number, used1: number) =>
      d.devices([
        { name: 'CUDA0', total: 24 * GiB, free: 24 * GiB - used0 },
        { name: 'CUDA1', total: 24 * GiB, free: 24 * GiB - used1 },
      ]);
    read(0, 0);
    d.done(d.bringUp('FIX0'));
    d.done(d.bringUp('FIX1'));
    read(19 * GiB, 20 * GiB);
    // Not even split now (5 + 4 GiB). Both would have 24 GiB once emptied; CUDA0 has more now: FIX0 goes.
    expect(stops(d.request('NEW').effects)).toEqual(['FIX0']);
    // Meanwhile another process takes 5 GiB of CUDA0: afresh, CUDA1 would now look better (24 vs 19).
    expect(stops(read(24 * GiB, 20 * GiB))).toEqual([]);
    d.exited('FIX0');
    expect(startOf(read(5 * GiB, 20 * GiB), 'NEW')!.devices).toEqual(['CUDA0']);
    expect(d.status('FIX1')).toBe('loaded');
  });

  test('the placed need is released with the child: the next load is placed afresh', () => {
    const { d, read } = twoGpus([{ name: 'A', need: { GPU: 10 * GiB } }]);
    read({ CUDA0: 20 * GiB });
    d.done(d.bringUp('A'));
    expect(d.s.view('A')!.placed).toEqual({ CUDA1: 10 * GiB });
    d.unload('A');
    d.exited('A');
    expect(d.s.view('A')!.placed).toBeUndefined();
    read();
    expect(startOf(d.request('A').effects, 'A')!.devices).toEqual(['CUDA0']);
  });

  test('a measurement without GPU figures keeps the GPU part of the need (nvidia-smi in a container)', () => {
    const { d, read } = twoGpus([
      { name: 'A', need: { CPU: GiB, GPU: 14 * GiB } },
      { name: 'B', need: { GPU: 14 * GiB } },
    ]);
    read();
    d.done(d.bringUp('A')); // on CUDA0
    d.usage('A', { CPU: 2 * GiB }); // per-process GPU use not visible
    read({ CUDA0: 14 * GiB, CPU: 2 * GiB });
    // A still holds 14 GiB on CUDA0: B goes to CUDA1, nothing is evicted.
    const { effects } = d.request('B');
    expect(stops(effects)).toEqual([]);
    expect(startOf(effects, 'B')!.devices).toEqual(['CUDA1']);
  });
});

describe('a device reading older than a load has seen none of it', () => {
  test('a model loaded since the last reading still counts: the next one goes elsewhere', () => {
    const { d, read } = twoGpus([
      { name: 'A', need: { GPU: 12 * GiB } },
      { name: 'B', need: { GPU: 12 * GiB } },
    ]);
    read();
    d.done(d.bringUp('A')); // on CUDA0; no reading since
    expect(startOf(d.request('B').effects, 'B')!.devices).toEqual(['CUDA1']);
  });

  test('a reading older than readingMaxAgeMs is refreshed before a load is planned on it', () => {
    const { d, read } = twoGpus([{ name: 'A', need: { GPU: 10 * GiB } }]);
    read();
    d.at(d.now + 5_000);
    const { effects } = d.request('A');
    expect(starts(effects)).toEqual([]);
    expect(effects).toContainEqual({ type: 'readDevices' });
    expect(d.s.view('A')!.waitingFor).toBe('waiting for a fresh memory reading');
    // Meanwhile another process took most of CUDA0: the fresh reading says so.
    expect(startOf(read({ CUDA0: 20 * GiB }), 'A')!.devices).toEqual(['CUDA1']);
  });

  test('the free check counts it too, and readiness asks for a fresh reading', () => {
    const d = new Driver({ modelsMax: 0, marginBytes: 0 }, [{ name: 'A' }, { name: 'B' }]);
    d.need('A', { CPU: 5 * GiB });
    d.need('B', { CPU: 5 * GiB });
    d.devices([{ name: 'CPU', total: 8 * GiB, free: 8 * GiB }]);
    const { id, effects } = d.request('A');
    expect(d.ready('A')).toContainEqual({ type: 'readDevices' });
    d.done(id);
    void effects;
    // The reading (8 GiB free) predates A: B does not fit beside it.
    expect(stops(d.request('B').effects)).toEqual(['A']);
  });
});
