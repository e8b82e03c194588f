/**
 * Seeded, deterministic request traces. Each trace names its models (load time 2-8 s,
 * unload 1 s, a memory size), a capacity (models-max and a memory budget) and a list of
 * requests (arrival, model, service time). Same seed, same trace.
 *
 * - bursty: bursts of 20-50 requests to one model, then a pause and a burst for another.
 * - alternating: A/B/A/B at a steady rate; only one of the two fits in memory.
 * - zipf10: Zipf (s = 1.1) popularity over 10 models of 2-10 GiB, Poisson arrivals.
 * - mixed: long (30 s) and short (0.5 s) requests over 4 models.
 * - steady-vs-one: a steady stream keeps A busy at every instant; B asks once a minute.
 *   Only one model fits: the starvation trace.
 *
 * `quick` shortens every trace so the whole table runs in seconds.
 */
import { Rng, Zipf } from './rng.js';
import { GiB, type SimModel, type SimRequest, type Trace } from './types.js';

export interface TraceOptions {
  seed?: number;
  quick?: boolean;
}

export const DEFAULT_SEED = 20240611;
export const PARALLEL = 4;

export type TraceName = 'bursty' | 'alternating' | 'zipf10' | 'mixed' | 'steady-vs-one';
export const TRACE_NAMES: TraceName[] = ['bursty', 'alternating', 'zipf10', 'mixed', 'steady-vs-one'];

export function makeTrace(name: TraceName, opts: TraceOptions = {}): Trace {
  const seed = opts.seed ?? DEFAULT_SEED;
  const quick = opts.quick ?? false;
  switch (name) {
    case 'bursty':
      return bursty(seed, quick);
    case 'alternating':
      return alternating(seed, quick);
    case 'zipf10':
      return zipf10(seed, quick);
    case 'mixed':
      return mixed(seed, quick);
    case 'steady-vs-one':
      return steadyVsOne(seed, quick);
  }
}

export function allTraces(opts: TraceOptions = {}): Trace[] {
  return TRACE_NAMES.map((n) => makeTrace(n, opts));
}

/** `n` models with load times of 2-8 s and sizes in [lo, hi] GiB (half-GiB steps). */
function models(rng: Rng, n: number, lo: number, hi: number): SimModel[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `m${i}`,
    loadMs: Math.round(rng.uniform(2000, 8000)),
    unloadMs: 1000,
    memBytes: (Math.round(rng.uniform(lo, hi) * 2) / 2) * GiB,
  }));
}

function finish(name: string, seed: number, ms: SimModel[], capacity: Trace['capacity'], raw: Omit<SimRequest, 'id'>[]): Trace {
  const requests = raw
    .map((r, i) => ({ ...r, arrival: Math.round(r.arrival), service: Math.round(r.service), i }))
    .sort((a, b) => a.arrival - b.arrival || a.i - b.i)
    .map(({ i: _, ...r }, k) => ({ id: `${name}-${k}`, ...r }));
  return { name, seed, models: ms, capacity, parallel: PARALLEL, requests };
}

function bursty(seed: number, quick: boolean): Trace {
  const rng = new Rng(seed ^ 0x1001);
  const ms = models(rng, 4, 4, 8);
  const out: Omit<SimRequest, 'id'>[] = [];
  let t = 0;
  let prev = -1;
  for (let b = 0; b < (quick ? 8 : 40); b++) {
    let k = rng.int(0, ms.length - 2);
    if (k >= prev && prev >= 0) k++; // a different model each burst
    prev = k;
    const size = rng.int(20, 50);
    for (let i = 0; i < size; i++) {
      out.push({ model: ms[k]!.name, arrival: t, service: rng.uniform(1000, 4000) });
      t += rng.exp(250);
    }
    t += 2000 + rng.exp(8000);
  }
  return finish('bursty', seed, ms, { modelsMax: 2, memoryBytes: 16 * GiB }, out);
}

function alternating(seed: number, quick: boolean): Trace {
  const rng = new Rng(seed ^ 0x2002);
  const ms = models(rng, 2, 10, 10);
  const out: Omit<SimRequest, 'id'>[] = [];
  for (let i = 0; i < (quick ? 80 : 400); i++) {
    out.push({ model: ms[i % 2]!.name, arrival: i * 1500, service: rng.uniform(1000, 3000) });
  }
  // models-max would allow both; memory (12 GiB) holds one.
  return finish('alternating', seed, ms, { modelsMax: 2, memoryBytes: 12 * GiB }, out);
}

function zipf10(seed: number, quick: boolean): Trace {
  const rng = new Rng(seed ^ 0x3003);
  const ms = models(rng, 10, 2, 10);
  const zipf = new Zipf(ms.length, 1.1);
  const out: Omit<SimRequest, 'id'>[] = [];
  let t = 0;
  for (let i = 0; i < (quick ? 300 : 2000); i++) {
    t += rng.exp(2000);
    out.push({ model: ms[zipf.sample(rng)]!.name, arrival: t, service: rng.uniform(500, 6000) });
  }
  return finish('zipf10', seed, ms, { modelsMax: 4, memoryBytes: 24 * GiB }, out);
}

function mixed(seed: number, quick: boolean): Trace {
  const rng = new Rng(seed ^ 0x4004);
  const ms = models(rng, 4, 6, 8);
  const out: Omit<SimRequest, 'id'>[] = [];
  let t = 0;
  for (let i = 0; i < (quick ? 120 : 600); i++) {
    t += rng.exp(2500);
    const long = rng.chance(0.2);
    out.push({ model: rng.pick(ms).name, arrival: t, service: long ? 30_000 : 500 });
  }
  return finish('mixed', seed, ms, { modelsMax: 2, memoryBytes: 16 * GiB }, out);
}

function steadyVsOne(seed: number, quick: boolean): Trace {
  const rng = new Rng(seed ^ 0x5005);
  const ms = models(rng, 2, 10, 10);
  const [a, b] = [ms[0]!.name, ms[1]!.name];
  const duration = quick ? 180_000 : 600_000;
  const out: Omit<SimRequest, 'id'>[] = [];
  // One request a second, 3 s each: three are always in flight, A is never idle.
  for (let t = 0; t < duration; t += 1000) out.push({ model: a, arrival: t, service: 3000 });
  for (let t = 30_000; t < duration - 20_000; t += 60_000) out.push({ model: b, arrival: t + 500, service: 3000 });
  return finish('steady-vs-one', seed, ms, { modelsMax: 1, memoryBytes: 16 * GiB }, out);
}
