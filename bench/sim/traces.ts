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
import { GiB, type Session, type SimModel, type SimRequest, type Trace } from './types.js';

export interface TraceOptions {
  seed?: number;
  quick?: boolean;
}

export const DEFAULT_SEED = 20240611;
export const PARALLEL = 4;

export type TraceName =
  | 'bursty'
  | 'alternating'
  | 'zipf10'
  | 'mixed'
  | 'steady-vs-one'
  | 'planner-coder-fit'
  | 'planner-coder-one'
  | 'batch-chat'
  | 'long-tail-ttl'
  | 'burst-after-ttl'
  | 'cold-big';
export const TRACE_NAMES: TraceName[] = [
  'bursty',
  'alternating',
  'zipf10',
  'mixed',
  'steady-vs-one',
  'planner-coder-fit',
  'planner-coder-one',
  'batch-chat',
  'long-tail-ttl',
  'burst-after-ttl',
  'cold-big',
];
/** Zipf-like popularity: where ours must beat llama-server on loads and p99 on 11 of 12 seeds. */
export const ZIPF_LIKE: TraceName[] = ['zipf10', 'long-tail-ttl', 'cold-big'];

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
    case 'planner-coder-fit':
      return plannerCoder('planner-coder-fit', seed, quick, 16);
    case 'planner-coder-one':
      return plannerCoder('planner-coder-one', seed, quick, 12);
    case 'batch-chat':
      return batchChat(seed, quick);
    case 'long-tail-ttl':
      return longTail(seed, quick);
    case 'burst-after-ttl':
      return burstAfterTtl(seed, quick);
    case 'cold-big':
      return coldBig(seed, quick);
  }
}

export function allTraces(opts: TraceOptions = {}): Trace[] {
  return TRACE_NAMES.map((n) => makeTrace(n, opts));
}

/**
 * Load time from size: 1 s to start a server, then the weights at 2 GiB/s from the page cache (warm), or at
 * `coldGiBps` from disk on the first load (0.5 GiB/s: a SATA SSD; a slower disk gives the 20-60 s cold loads).
 */
export function loadTimes(bytes: number, coldGiBps = 0.5): { loadMs: number; coldLoadMs: number } {
  const gib = bytes / GiB;
  return { loadMs: Math.round(1000 + (gib / 2) * 1000), coldLoadMs: Math.round(1000 + (gib / coldGiBps) * 1000) };
}

/** `n` models with sizes in [lo, hi] GiB (half-GiB steps) and load times that grow with size. */
function models(rng: Rng, n: number, lo: number, hi: number, coldGiBps = 0.5): SimModel[] {
  return Array.from({ length: n }, (_, i) => {
    const memBytes = (Math.round(rng.uniform(lo, hi) * 2) / 2) * GiB;
    return { name: `m${i}`, ...loadTimes(memBytes, coldGiBps), unloadMs: 1000, memBytes };
  });
}

function finish(name: string, seed: number, ms: SimModel[], capacity: Trace['capacity'], raw: Omit<SimRequest, 'id'>[]): Trace {
  const requests = raw
    .map((r, i) => ({ ...r, arrival: Math.round(r.arrival), service: Math.round(r.service), i }))
    .sort((a, b) => a.arrival - b.arrival || a.i - b.i)
    .map(({ i: _, ...r }, k) => ({ id: `${name}-${k}`, ...r }));
  return { name, seed, models: ms, capacity, parallel: PARALLEL, requests };
}

/**
 * Agents that call a planner, then a coder with the plan, then the planner again with the result: each call
 * after the previous answer. `budget` 16 GiB holds both models; 12 GiB holds one at a time.
 */
function plannerCoder(name: string, seed: number, quick: boolean, budget: number): Trace {
  const rng = new Rng(seed ^ 0x6006);
  const planner: SimModel = { name: 'planner', ...loadTimes(6 * GiB), unloadMs: 1000, memBytes: 6 * GiB };
  const coder: SimModel = { name: 'coder', ...loadTimes(8 * GiB), unloadMs: 1000, memBytes: 8 * GiB };
  const sessions: Session[] = [];
  for (let a = 0; a < (quick ? 3 : 6); a++) {
    const steps = [];
    for (let r = 0; r < (quick ? 6 : 20); r++) {
      steps.push({ model: 'planner', service: rng.uniform(1500, 5000), thinkMs: rng.uniform(200, 1000) });
      steps.push({ model: 'coder', service: rng.uniform(4000, 15000), thinkMs: rng.uniform(200, 1000) });
    }
    sessions.push({ id: `${name}-a${a}`, start: rng.uniform(0, 30_000), steps: steps.map(roundStep) });
  }
  return { name, seed, models: [planner, coder], capacity: { modelsMax: 2, memoryBytes: budget * GiB }, parallel: PARALLEL, requests: [], sessions };
}

/**
 * A batch job (two workers sending back-to-back 10 s requests for hours) beside people chatting with another
 * model: conversations of 3-10 turns, 5-40 s apart, a new one every ~2 min. Only one model fits. Chat should wait
 * under 15 s.
 */
function batchChat(seed: number, quick: boolean): Trace {
  const rng = new Rng(seed ^ 0x7007);
  const batch: SimModel = { name: 'batch', ...loadTimes(8 * GiB), unloadMs: 1000, memBytes: 8 * GiB };
  const chat: SimModel = { name: 'chat', ...loadTimes(6 * GiB), unloadMs: 1000, memBytes: 6 * GiB };
  const duration = quick ? 600_000 : 3600_000;
  const sessions: Session[] = [];
  for (let w = 0; w < 2; w++) {
    const n = Math.round(duration / 10_000);
    sessions.push({ id: `batch-w${w}`, start: w * 500, steps: Array.from({ length: n }, () => roundStep({ model: 'batch', service: rng.uniform(8000, 12000), thinkMs: 0 })) });
  }
  let t = rng.exp(60_000);
  let k = 0;
  while (t < duration) {
    const turns = rng.int(3, 10);
    const steps = Array.from({ length: turns }, () => roundStep({ model: 'chat', service: rng.uniform(1000, 4000), thinkMs: rng.uniform(5000, 40_000) }));
    sessions.push({ id: `chat-${k++}`, start: t, steps });
    t += rng.exp(120_000);
  }
  return {
    name: 'batch-chat',
    seed,
    models: [batch, chat],
    capacity: { modelsMax: 2, memoryBytes: 12 * GiB },
    parallel: PARALLEL,
    requests: [],
    sessions,
    latencyTarget: { models: ['chat'], ms: 15_000 },
  };
}

/** 32 models of 1-4 GiB, each used about once an hour (a short conversation), with a 10 min TTL; first loads cold. */
function longTail(seed: number, quick: boolean): Trace {
  const rng = new Rng(seed ^ 0x8008);
  const ms = models(rng, 32, 1, 4, 0.25);
  const duration = quick ? 2 * 3600_000 : 6 * 3600_000;
  const zipf = new Zipf(ms.length, 0.8);
  const sessions: Session[] = [];
  let t = 0;
  let k = 0;
  // 32 models x ~1 use an hour: a conversation every ~110 s, popularity mildly skewed.
  for (;;) {
    t += rng.exp(110_000);
    if (t >= duration) break;
    const model = ms[zipf.sample(rng)]!.name;
    const turns = rng.int(1, 3);
    sessions.push({ id: `tail-${k++}`, start: t, steps: Array.from({ length: turns }, () => roundStep({ model, service: rng.uniform(1000, 6000), thinkMs: rng.uniform(5000, 30_000) })) });
  }
  return { name: 'long-tail-ttl', seed, models: ms, capacity: { modelsMax: 8, memoryBytes: 24 * GiB }, parallel: PARALLEL, requests: [], sessions, ttlMs: 600_000 };
}

/** Quiet spells longer than the 5 min TTL, then a team's burst of conversations on one or two models. */
function burstAfterTtl(seed: number, quick: boolean): Trace {
  const rng = new Rng(seed ^ 0x9009);
  const ms = models(rng, 4, 4, 8);
  const sessions: Session[] = [];
  let t = 0;
  for (let b = 0; b < (quick ? 4 : 12); b++) {
    const picks = [rng.pick(ms).name, rng.pick(ms).name];
    for (let u = 0; u < 6; u++) {
      const model = picks[u % 2]!;
      const steps = Array.from({ length: rng.int(3, 6) }, () => roundStep({ model, service: rng.uniform(1000, 5000), thinkMs: rng.uniform(3000, 20_000) }));
      sessions.push({ id: `burst${b}-u${u}`, start: t + rng.uniform(0, 20_000), steps });
    }
    t += rng.uniform(360_000, 1200_000);
  }
  return { name: 'burst-after-ttl', seed, models: ms, capacity: { modelsMax: 2, memoryBytes: 16 * GiB }, parallel: PARALLEL, requests: [], sessions, ttlMs: 300_000 };
}

/** Large models on a slow disk (cold loads of 20-60 s), Zipf-popular, people chatting with them. */
function coldBig(seed: number, quick: boolean): Trace {
  const rng = new Rng(seed ^ 0xa00a);
  const ms = models(rng, 5, 8, 20, 0.35);
  const zipf = new Zipf(ms.length, 1.1);
  const sessions: Session[] = [];
  let t = 0;
  for (let k = 0; k < (quick ? 40 : 160); k++) {
    t += rng.exp(30_000);
    const model = ms[zipf.sample(rng)]!.name;
    const steps = Array.from({ length: rng.int(2, 6) }, () => roundStep({ model, service: rng.uniform(2000, 10_000), thinkMs: rng.uniform(5000, 30_000) }));
    sessions.push({ id: `cold-${k}`, start: t, steps });
  }
  return { name: 'cold-big', seed, models: ms, capacity: { modelsMax: 3, memoryBytes: 40 * GiB }, parallel: PARALLEL, requests: [], sessions };
}

function roundStep<S extends { service: number; thinkMs: number }>(s: S): S {
  return { ...s, service: Math.round(s.service), thinkMs: Math.round(s.thinkMs) };
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
