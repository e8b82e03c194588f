/**
 * Elastic models (`ctx-size = auto`): admitted at their smallest need, started with the room they may take
 * (per device, and what bounds it), holding all of it until the router says what they chose (`sized`).
 */
import { Driver, GiB, starts, stops } from './harness.js';
import type { Effect, ModelPolicy } from '../../src/scheduler/types.js';

type M = Partial<ModelPolicy> & { name: string; need: Record<string, number> };

const startOf = (effects: Effect[], model: string) =>
  effects.find((e): e is Extract<Effect, { type: 'start' }> => e.type === 'start' && e.model === model);

function sized(d: Driver, model: string, devices?: Record<string, number>): Effect[] {
  const out = d.s.handle({ type: 'sized', model, devices, now: ++d.now });
  d.log.push(...out);
  return out;
}

/** `resident` loaded and measured at their need; a CPU reading of `total` with their use taken. */
function world(opts: { margin: number | null; caps?: Record<string, number>; total?: number; other?: number }, resident: M[], others: M[]) {
  // Loads on one device overlap here on purpose (serialLoads off): what a loading elastic model holds is the subject.
  const d = new Driver({ modelsMax: 0, marginBytes: opts.margin, caps: opts.caps ?? {}, serialLoads: false }, [...resident, ...others]);
  for (const m of [...resident, ...others]) d.need(m.name, m.need);
  const total = opts.total ?? 64 * GiB;
  let used = opts.other ?? 0;
  const read = () => d.devices([{ name: 'CPU', total, free: total - used }]);
  for (const m of resident) {
    read();
    d.done(d.bringUp(m.name));
    d.usage(m.name, m.need);
    used += m.need.CPU ?? 0;
  }
  read();
  return { d, read };
}

const A: M = { name: 'A', elastic: true, need: { CPU: 2 * GiB } };
const B: M = { name: 'B', need: { CPU: 3 * GiB } };

interface RoomCase {
  title: string;
  margin: number | null;
  caps: Record<string, number>;
  resident: M[];
  total?: number;
  other?: number;
  room: { bytes: number; limit: 'free' | 'cap' };
}

describe('the room an elastic model starts with', () => {
  test.each<RoomCase>([
    { title: 'a cap and nothing else: the whole cap', margin: null, caps: { CPU: 8 * GiB }, resident: [], room: { bytes: 8 * GiB, limit: 'cap' } },
    { title: 'a cap less what the others hold', margin: null, caps: { CPU: 8 * GiB }, resident: [B], room: { bytes: 5 * GiB, limit: 'cap' } },
    { title: 'free memory after the margin', margin: GiB, caps: {}, resident: [B], total: 16 * GiB, room: { bytes: 12 * GiB, limit: 'free' } },
    { title: 'free memory, other processes\' use included', margin: 0, caps: {}, resident: [], total: 16 * GiB, other: 6 * GiB, room: { bytes: 10 * GiB, limit: 'free' } },
    { title: 'the smaller of free memory and the cap: the cap', margin: GiB, caps: { CPU: 6 * GiB }, resident: [B], total: 16 * GiB, room: { bytes: 3 * GiB, limit: 'cap' } },
    { title: 'the smaller of free memory and the cap: free memory', margin: GiB, caps: { CPU: 20 * GiB }, resident: [B], total: 16 * GiB, room: { bytes: 12 * GiB, limit: 'free' } },
  ])('$title', ({ margin, caps, resident, total, other, room }) => {
    const { d } = world({ margin, caps, total, other }, resident, [A]);
    expect(startOf(d.request('A').effects, 'A')).toEqual({ type: 'start', model: 'A', room: { CPU: room } });
  });

  test('no limit on any device: no room in the start (the router takes the largest context)', () => {
    const { d } = world({ margin: null }, [B], [A]);
    expect(startOf(d.request('A').effects, 'A')).toEqual({ type: 'start', model: 'A' });
  });

  test('a model that is not elastic starts as before, without a room', () => {
    const { d } = world({ margin: null, caps: { CPU: 8 * GiB } }, [], [{ ...A, elastic: false }]);
    expect(startOf(d.request('A').effects, 'A')).toEqual({ type: 'start', model: 'A' });
  });

  test('a loading model\'s pending memory is not room (the reading has not seen it yet)', () => {
    const { d } = world({ margin: 0, total: 16 * GiB }, [], [A, B]);
    d.request('B'); // starts, not ready: 3 GiB still to come
    expect(startOf(d.request('A').effects, 'A')!.room).toEqual({ CPU: { bytes: 13 * GiB, limit: 'free' } });
  });

  test('placed on a GPU: the room is that GPU\'s free memory even with the free check off', () => {
    const d = new Driver({ modelsMax: 0, marginBytes: null }, [{ name: 'G', elastic: true }]);
    d.need('G', { CPU: GiB, GPU: 4 * GiB });
    d.devices([
      { name: 'CUDA0', total: 24 * GiB, free: 20 * GiB },
      { name: 'CUDA1', total: 16 * GiB, free: 16 * GiB },
      { name: 'CPU', total: 64 * GiB, free: 60 * GiB },
    ]);
    expect(startOf(d.request('G').effects, 'G')).toEqual({
      type: 'start',
      model: 'G',
      devices: ['CUDA0'],
      room: { CUDA0: { bytes: 20 * GiB, limit: 'free' } },
    });
  });
});

describe('it holds the room until sized', () => {
  const C: M = { name: 'C', need: { CPU: 2 * GiB } };

  test('a load that does not fit meanwhile waits (no eviction for room it may get back); sized, it starts', () => {
    // Cap 10: C (2) idle and resident; A gets room 8 and holds it; B (3) would have to evict C.
    const { d } = world({ margin: null, caps: { CPU: 10 * GiB } }, [C], [A, B]);
    expect(startOf(d.request('A').effects, 'A')!.room).toEqual({ CPU: { bytes: 8 * GiB, limit: 'cap' } });
    const b = d.request('B').effects;
    expect(starts(b)).toEqual([]);
    expect(stops(b)).toEqual([]);
    expect(d.s.view('B')!.waitingFor).toBe('waiting for A to choose its context size');
    expect(d.s.view('A')!.placed).toEqual({ CPU: 8 * GiB });
    // A chose 5 GiB: 2 (C) + 5 + 3 = 10 fits, B starts and nothing is evicted.
    const after = sized(d, 'A', { CPU: 5 * GiB });
    expect(starts(after)).toEqual(['B']);
    expect(stops(after)).toEqual([]);
    expect(d.s.view('A')!.placed).toEqual({ CPU: 5 * GiB });
  });

  test('a load that fits beside the whole room starts at once', () => {
    const { d } = world({ margin: null, caps: { CPU: 12 * GiB } }, [], [A, { ...B, need: { CPU: 4 * GiB } }]);
    d.request('A');
    // Room 12 reserved by A: B (4) does not fit ... until A is sized at 8.
    expect(starts(d.request('B').effects)).toEqual([]);
    expect(starts(sized(d, 'A', { CPU: 8 * GiB }))).toEqual(['B']);
  });

  test('sized as it was: it holds its planned need', () => {
    const { d } = world({ margin: null, caps: { CPU: 8 * GiB } }, [], [A, { ...B, need: { CPU: 6 * GiB } }]);
    d.request('A');
    sized(d, 'A');
    expect(d.s.view('A')!.placed).toBeUndefined();
    expect(starts(d.request('B').effects)).toEqual(['B']); // 2 + 6 = 8
  });

  test('a sized need above the room it was given is what it holds: the next load waits for room', () => {
    const { d } = world({ margin: null, caps: { CPU: 8 * GiB } }, [], [A, B]);
    d.request('A');
    sized(d, 'A', { CPU: 7 * GiB });
    const b = d.request('B').effects;
    expect(starts(b)).toEqual([]);
    expect(d.s.view('B')!.waitingFor).toMatch(/^CPU: need 3\.0 GiB, free 1\.0 GiB/);
  });

  test('a load that fails while sizing gives the room back', () => {
    const { d, read } = world({ margin: null, caps: { CPU: 8 * GiB } }, [], [A, B]);
    d.request('A');
    expect(starts(d.request('B').effects)).toEqual([]);
    d.loadFailed('A', 'exited', 'ctx-size = auto: even ctx-min 512 needs ...');
    // (A reading older than a model going away is read again first: existing rule.)
    expect(starts(read())).toEqual(['B']);
    expect(d.s.view('A')!.placed).toBeUndefined();
  });

  test('the next load of the model starts from its smallest need again', () => {
    const { d, read } = world({ margin: null, caps: { CPU: 8 * GiB } }, [], [A, B]);
    d.request('A');
    sized(d, 'A', { CPU: 7 * GiB });
    d.ready('A');
    d.unload('A');
    d.exited('A', true);
    expect(d.s.view('A')!.placed).toBeUndefined();
    read();
    expect(starts(d.request('B').effects)).toEqual(['B']);
    d.ready('B');
    expect(startOf(d.request('A').effects, 'A')!.room).toEqual({ CPU: { bytes: 5 * GiB, limit: 'cap' } });
  });

  test('a late `sized` (after the load ended) changes nothing', () => {
    const { d } = world({ margin: null, caps: { CPU: 8 * GiB } }, [], [A]);
    d.request('A');
    d.loadFailed('A');
    expect(sized(d, 'A', { CPU: 7 * GiB })).toEqual([]);
    expect(d.s.view('A')!.placed).toBeUndefined();
  });
});
