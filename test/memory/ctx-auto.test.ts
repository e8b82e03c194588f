/** `ctx-size = auto`: the room a load is given turned into a context (src/memory/ctx-auto.ts). */
import { fitContext, type CtxAutoInput } from '../../src/memory/ctx-auto.js';
import { estimateFromShape, type EstimateOptions, type ModelShape } from '../../src/memory/estimate-core.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** A Llama-3-8B-like shape: 32 layers, GQA with 8 KV heads of 128: 128 KiB of f16 KV per token. */
function llama8b(contextLength = 32768): ModelShape {
  const n = 4096;
  const tensors = [{ name: 'token_embd.weight', bytes: 500 * MiB }, { name: 'output.weight', bytes: 500 * MiB }];
  for (let l = 0; l < 32; l++) tensors.push({ name: `blk.${l}.ffn_up.weight`, bytes: 200 * MiB });
  return {
    architecture: 'llama',
    contextLength,
    blockCount: 32,
    embeddingLength: n,
    headCount: 32,
    headCountKv: 8,
    keyLength: 128,
    valueLength: 128,
    feedForwardLength: 14336,
    vocabSize: 128256,
    tensors,
  };
}

const cpu: EstimateOptions = { devices: [] };
const needAt = (shape: ModelShape, opts: EstimateOptions, ctx: number) => estimateFromShape(shape, { ...opts, ctxSize: ctx }).devices.CPU!;
const capped = (bytes: number) => ({ CPU: { bytes, limit: 'cap' as const } });

function fit(over: Partial<CtxAutoInput> & { room: CtxAutoInput['room'] }) {
  return fitContext({ shape: llama8b(), estimate: cpu, ...over });
}

describe('fitContext: the largest multiple of 256 that fits the room', () => {
  const shape = llama8b();
  test.each([
    { room: 8.5 * GiB, title: 'a room of 8.5 GiB' },
    { room: 9.3 * GiB, title: 'a room of 9.3 GiB' },
    { room: 7.9 * GiB, title: 'a room of 7.9 GiB' },
  ])('$title: a multiple of 256 that fits, and the next one up does not', ({ room }) => {
    const r = fit({ room: capped(room) });
    if (!r.ok) throw new Error(r.message);
    expect(r.ctx % 256).toBe(0);
    expect(r.need.CPU).toBe(needAt(shape, cpu, r.ctx));
    expect(r.need.CPU).toBeLessThanOrEqual(room);
    expect(needAt(shape, cpu, r.ctx + 256)).toBeGreaterThan(room);
    expect(r.reason).toMatch(/^largest multiple of 256 fitting the .* left on CPU under --models-memory-max$/);
  });

  test('rounds down: one byte short of a context gives the one below', () => {
    const exact = needAt(shape, cpu, 8192);
    expect(fit({ room: capped(exact) })).toMatchObject({ ok: true, ctx: 8192 });
    expect(fit({ room: capped(exact - 1) })).toMatchObject({ ok: true, ctx: 8192 - 256 });
  });

  test('the reason names free memory and the margin when free memory bounds it', () => {
    const r = fit({ room: { CPU: { bytes: 9 * GiB, limit: 'free' } }, marginBytes: 1024 * MiB });
    expect(r.ok && r.reason).toMatch(/^largest multiple of 256 fitting the 9\.00 GiB free on CPU after the 1\.00 GiB margin$/);
  });
});

describe('fitContext: bounds', () => {
  test.each([
    { title: 'ctx-max caps a large room', max: 10000, training: 32768, ctx: 10000, reason: /^ctx-max 10000; needs .* of the 64\.00 GiB left on CPU/ },
    { title: 'the training context caps a large room', max: undefined, training: 32768, ctx: 32768, reason: /^the model's training context 32768/ },
    { title: 'a ctx-max above the training context: the training context', max: 65536, training: 16384, ctx: 16384, reason: /training context 16384/ },
    { title: 'no training context in the header: 4096', max: undefined, training: 0, ctx: 4096, reason: /does not say its training context/ },
  ])('$title', ({ max, training, ctx, reason }) => {
    const r = fitContext({ shape: llama8b(training), estimate: cpu, room: capped(64 * GiB), max });
    expect(r).toMatchObject({ ok: true, ctx });
    expect(r.ok && r.reason).toMatch(reason);
  });

  test('no device bounds the room: the upper bound, saying so', () => {
    const r = fit({ room: {} });
    expect(r).toMatchObject({ ok: true, ctx: 32768, reason: "the model's training context 32768 (no memory limit applies)" });
  });

  test('a ctx-min off the 256 grid: the cache is padded to 256 cells anyway, so the padded size is what fits', () => {
    const shape = llama8b();
    const r = fit({ room: capped(needAt(shape, cpu, 1000)), min: 1000 });
    expect(r).toMatchObject({ ok: true, ctx: 1024 });
  });

  test('a ctx-min above the training context wins', () => {
    expect(fitContext({ shape: llama8b(2048), estimate: cpu, room: capped(64 * GiB), min: 4096 })).toMatchObject({ ok: true, ctx: 4096 });
  });

  test('a room too small for ctx-min fails, naming ctx-min, its need and the room', () => {
    const shape = llama8b();
    const room = needAt(shape, cpu, 8192) - 1;
    const r = fit({ room: capped(room), min: 8192 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.ctxMin).toBe(8192);
    expect(r.need.CPU).toBe(room + 1);
    expect(r.message).toMatch(/^ctx-size = auto: even ctx-min 8192 needs [\d.]+ GiB on CPU, more than the [\d.]+ GiB left on CPU under --models-memory-max$/);
  });
});

describe('fitContext: what a token costs changes the answer', () => {
  const room = capped(10 * GiB);
  const ctxOf = (estimate: EstimateOptions) => {
    const r = fitContext({ shape: llama8b(131072), estimate, room });
    if (!r.ok) throw new Error(r.message);
    return r.ctx;
  };
  /** The oracle: every multiple of 256 tried from the top (the code under test searches by halves). */
  const scan = (estimate: EstimateOptions) => {
    for (let ctx = 131072; ctx >= 256; ctx -= 256) if (needAt(llama8b(131072), estimate, ctx) <= 10 * GiB) return ctx;
    return 0;
  };
  const f16 = ctxOf(cpu);

  test.each([
    { title: 'f16 K and V (the default)', estimate: cpu },
    { title: 'two sequences with a context each (our engine)', estimate: { ...cpu, parallel: 2 } },
    { title: 'four slots sharing one context (llama-server)', estimate: { ...cpu, parallel: 4, ctxScope: 'total' as const } },
    { title: 'q8_0 K and V', estimate: { ...cpu, cacheTypeK: 'q8_0', cacheTypeV: 'q8_0' } },
    { title: 'q4_0 K and V', estimate: { ...cpu, cacheTypeK: 'q4_0', cacheTypeV: 'q4_0' } },
    { title: 'q8_0 K, f16 V', estimate: { ...cpu, cacheTypeK: 'q8_0' } },
    { title: 'f32 K and V', estimate: { ...cpu, cacheTypeK: 'f32', cacheTypeV: 'f32' } },
  ])('$title: the largest context a scan finds', ({ estimate }) => {
    expect(ctxOf(estimate)).toBe(scan(estimate));
  });

  test('more sequences, or wider cache types, give a smaller context; narrower ones a larger', () => {
    expect(ctxOf({ ...cpu, parallel: 2 })).toBeLessThan(f16);
    // Shared by the slots: the cache is not multiplied by them (and each slot's attention is smaller).
    expect(ctxOf({ ...cpu, parallel: 4, ctxScope: 'total' })).toBeGreaterThanOrEqual(f16);
    const q8 = ctxOf({ ...cpu, cacheTypeK: 'q8_0', cacheTypeV: 'q8_0' });
    const q8f16 = ctxOf({ ...cpu, cacheTypeK: 'q8_0' });
    const q4 = ctxOf({ ...cpu, cacheTypeK: 'q4_0', cacheTypeV: 'q4_0' });
    const f32 = ctxOf({ ...cpu, cacheTypeK: 'f32', cacheTypeV: 'f32' });
    expect(f32).toBeLessThan(f16);
    expect(f16).toBeLessThan(q8f16);
    expect(q8f16).toBeLessThan(q8);
    expect(q8).toBeLessThan(q4);
  });

  test('a GPU room bounds the GPU part (layers offloaded), not the CPU', () => {
    const gpu: EstimateOptions = { devices: ['CUDA0'] };
    const r = fitContext({ shape: llama8b(131072), estimate: gpu, room: { CUDA0: { bytes: 10 * GiB, limit: 'free' } } });
    if (!r.ok) throw new Error(r.message);
    expect(r.need.CUDA0).toBeLessThanOrEqual(10 * GiB);
    expect(estimateFromShape(llama8b(131072), { ...gpu, ctxSize: r.ctx + 256 }).devices.CUDA0).toBeGreaterThan(10 * GiB);
    expect(r.reason).toContain('free on CUDA0');
  });
});

describe('fitContext: an anchor from a more trusted source', () => {
  const shape = llama8b();
  test('a measured need at ctx-min below the estimate leaves room for a larger context, by the estimate\'s growth', () => {
    const min = 2048;
    const est = needAt(shape, cpu, min);
    const anchor = { CPU: est - 1 * GiB };
    const room = est + 2 * GiB;
    const plain = fit({ room: capped(room), min });
    const anchored = fit({ room: capped(room), min, anchor });
    if (!plain.ok || !anchored.ok) throw new Error('no fit');
    expect(anchored.ctx).toBeGreaterThan(plain.ctx);
    expect(anchored.need.CPU).toBe(anchor.CPU + needAt(shape, cpu, anchored.ctx) - est);
    expect(anchored.need.CPU).toBeLessThanOrEqual(room);
  });

  test('the room the scheduler admitted at the anchored need always fits ctx-min', () => {
    const anchor = { CPU: needAt(shape, cpu, 4096) + 512 * MiB };
    expect(fit({ room: capped(anchor.CPU), min: 4096, anchor })).toMatchObject({ ok: true, ctx: 4096 });
    expect(fit({ room: capped(anchor.CPU - 1), min: 4096, anchor })).toMatchObject({ ok: false, ctxMin: 4096 });
  });
});
