import { assignLayers, estimateFromShape, kvBytesPerTokenFromShape, type ModelShape } from '../../src/memory/estimate-core.js';
import { cacheTypeBytes } from '../../src/memory/kv.js';

const MiB = 1024 ** 2;

/** A Llama-2-7B-like shape: 32 layers, 4096 embd, 32 heads, 32 KV heads, head_dim 128, f16 weights. */
function llama7b(): ModelShape {
  const n = 4096;
  const f = 11008;
  const v = 32000;
  const tensors = [{ name: 'token_embd.weight', bytes: n * v * 2 }];
  for (let l = 0; l < 32; l++) {
    tensors.push(
      { name: `blk.${l}.attn_q.weight`, bytes: n * n * 2 },
      { name: `blk.${l}.attn_k.weight`, bytes: n * n * 2 },
      { name: `blk.${l}.attn_v.weight`, bytes: n * n * 2 },
      { name: `blk.${l}.attn_output.weight`, bytes: n * n * 2 },
      { name: `blk.${l}.ffn_gate.weight`, bytes: n * f * 2 },
      { name: `blk.${l}.ffn_up.weight`, bytes: n * f * 2 },
      { name: `blk.${l}.ffn_down.weight`, bytes: n * f * 2 },
      { name: `blk.${l}.attn_norm.weight`, bytes: n * 4 },
      { name: `blk.${l}.ffn_norm.weight`, bytes: n * 4 },
    );
  }
  tensors.push({ name: 'output_norm.weight', bytes: n * 4 }, { name: 'output.weight', bytes: n * v * 2 });
  return {
    architecture: 'llama',
    contextLength: 4096,
    blockCount: 32,
    embeddingLength: n,
    headCount: 32,
    headCountKv: 32,
    keyLength: 128,
    valueLength: 128,
    feedForwardLength: f,
    vocabSize: v,
    tensors,
  };
}

describe('KV cache formula', () => {
  test('by hand: 2 × blocks × kv heads × head dim × ctx × parallel × bytes', () => {
    const shape = llama7b();
    // f16: 2 × 32 × 32 × 128 × 2 bytes = 524288 bytes per token (the well-known 0.5 MiB/token of Llama-2-7B).
    expect(kvBytesPerTokenFromShape(shape)).toBe(2 * 32 * 32 * 128 * 2);
    expect(kvBytesPerTokenFromShape(shape, { cacheTypeK: 'q8_0', cacheTypeV: 'q4_0' })).toBe(32 * 32 * 128 * (1.0625 + 0.5625));
    const e = estimateFromShape(shape, { ctxSize: 4096, parallel: 2, devices: [] });
    expect(e.kvCells).toBe(8192);
    expect(e.parts.CPU!.kv).toBe(2 * 32 * 32 * 128 * 4096 * 2 * 2); // 4 GiB
  });

  test('GQA and per-layer head counts', () => {
    const gqa = { blockCount: 2, headCountKv: 8, keyLength: 128, valueLength: 128 };
    expect(kvBytesPerTokenFromShape(gqa)).toBe(2 * 2 * 8 * 128 * 2);
    const mixed = { blockCount: 3, headCountKv: [8, 0, 4], keyLength: 64, valueLength: 32 };
    expect(kvBytesPerTokenFromShape(mixed, { cacheTypeK: 'f32', cacheTypeV: 'f16' })).toBe((8 + 0 + 4) * (64 * 4 + 32 * 2));
  });

  test('cache type sizes', () => {
    expect(cacheTypeBytes('f16')).toBe(2);
    expect(cacheTypeBytes('Q8_0')).toBe(1.0625);
    expect(cacheTypeBytes('q4_0')).toBe(0.5625);
    expect(cacheTypeBytes('f32')).toBe(4);
    expect(() => cacheTypeBytes('q3_k')).toThrow(/unknown KV cache type/);
  });

  test('ctx is padded to 256 cells; ctxScope total shares one cache among slots', () => {
    const shape = llama7b();
    expect(estimateFromShape(shape, { ctxSize: 1000, devices: [] }).kvCells).toBe(1024);
    expect(estimateFromShape(shape, { ctxSize: 4096, parallel: 4, ctxScope: 'total', devices: [] }).kvCells).toBe(4096);
    expect(estimateFromShape(shape, { ctxSize: 0, devices: [] }).ctxSize).toBe(4096); // the model's own
  });
});

describe('layer placement (llama.cpp rules)', () => {
  test('-ngl offloads the last layers; above block_count also the output layer', () => {
    expect(assignLayers(4, { gpuLayers: 2, devices: ['CUDA0'] })).toEqual({ layers: ['CPU', 'CPU', 'CUDA0', 'CUDA0'], output: 'CPU' });
    expect(assignLayers(4, { gpuLayers: 4, devices: ['CUDA0'] }).output).toBe('CPU');
    expect(assignLayers(4, { gpuLayers: 5, devices: ['CUDA0'] }).output).toBe('CUDA0');
    expect(assignLayers(4, { gpuLayers: 99, devices: ['CUDA0'] }).layers).toEqual(['CUDA0', 'CUDA0', 'CUDA0', 'CUDA0']);
    expect(assignLayers(4, { devices: ['CUDA0'] }).output).toBe('CUDA0'); // default: all
    expect(assignLayers(4, { gpuLayers: 99, devices: [] })).toEqual({ layers: ['CPU', 'CPU', 'CPU', 'CPU'], output: 'CPU' });
  });

  test('--tensor-split 3,1 over 7 layers + output', () => {
    // x = il/8: layers 0-5 have x < 0.75 -> CUDA0; layer 6 (0.75) and the output (0.875) -> CUDA1.
    const { layers, output } = assignLayers(7, { gpuLayers: 99, tensorSplit: [3, 1], devices: ['CUDA0', 'CUDA1'] });
    expect(layers).toEqual(['CUDA0', 'CUDA0', 'CUDA0', 'CUDA0', 'CUDA0', 'CUDA0', 'CUDA1']);
    expect(output).toBe('CUDA1');
  });

  test('default split follows free memory; split-mode none uses the main GPU', () => {
    const byFree = assignLayers(3, { gpuLayers: 99, devices: ['CUDA0', 'CUDA1'], deviceFree: { CUDA0: 1, CUDA1: 3 } });
    expect(byFree.layers).toEqual(['CUDA0', 'CUDA1', 'CUDA1']);
    const none = assignLayers(3, { gpuLayers: 99, devices: ['CUDA0', 'CUDA1'], splitMode: 'none', mainGpu: 1 });
    expect(none).toEqual({ layers: ['CUDA1', 'CUDA1', 'CUDA1'], output: 'CUDA1' });
    const zero = assignLayers(2, { gpuLayers: 99, devices: ['CUDA0', 'CUDA1'], tensorSplit: [0, 1] });
    expect(zero).toEqual({ layers: ['CUDA1', 'CUDA1'], output: 'CUDA1' });
  });
});

describe('estimateFromShape', () => {
  test('CPU only: weights + KV + compute + logits + base, every part accounted for', () => {
    const shape = llama7b();
    const e = estimateFromShape(shape, { ctxSize: 4096, devices: [] });
    const weights = shape.tensors.reduce((a, t) => a + t.bytes, 0);
    expect(e.parts.CPU!.weights).toBe(weights);
    expect(e.parts.CPU!.kv).toBe(512 * 4096 * 1024); // 2 GiB
    // Attention scores dominate: 4 × 512 × (32 × 4096 + 7 × 4096) = 312 MiB; the f32 mask 4096 × 512 × 4
    // = 8 MiB; host logits 4 × 32000.
    expect(e.parts.CPU!.compute).toBe(4 * 512 * (32 * 4096 + 7 * 4096) + 4096 * 512 * 4 + 4 * 32000);
    expect(e.parts.CPU!.base).toBe(120 * MiB);
    expect(e.devices.CPU).toBe(weights + e.parts.CPU!.kv + e.parts.CPU!.compute + 120 * MiB);
    expect(Object.keys(e.devices)).toEqual(['CPU']);
  });

  test('flash attention drops the score matrix', () => {
    const shape = llama7b();
    const fa = estimateFromShape(shape, { ctxSize: 4096, devices: [], flashAttention: true });
    expect(fa.parts.CPU!.compute).toBe(4 * 512 * (3 * 11008 + 3 * 4096) + 4096 * 512 * 2 + 4 * 32000);
  });

  test('full offload: CPU keeps token embeddings, GPU holds layers, output, KV', () => {
    const shape = llama7b();
    const e = estimateFromShape(shape, { ctxSize: 2048, gpuLayers: 99, devices: ['CUDA0'], gpuBaseBytes: 300 * MiB, cpuBaseBytes: 50 * MiB });
    expect(e.parts.CPU!.weights).toBe(4096 * 32000 * 2);
    expect(e.parts.CPU!.kv).toBe(0);
    expect(e.parts.CUDA0!.kv).toBe(512 * 1024 * 2048);
    expect(e.parts.CUDA0!.base).toBe(300 * MiB);
    expect(e.parts.CPU!.base).toBe(50 * MiB);
    expect(e.parts.CUDA0!.weights).toBe(shape.tensors.reduce((a, t) => a + t.bytes, 0) - 4096 * 32000 * 2);
  });

  test('tied embeddings: an offloaded output layer gets its own copy of token_embd', () => {
    const shape = llama7b();
    shape.tensors = shape.tensors.filter((t) => t.name !== 'output.weight');
    const e = estimateFromShape(shape, { ctxSize: 2048, gpuLayers: 99, devices: ['CUDA0'] });
    expect(e.parts.CPU!.weights).toBe(4096 * 32000 * 2);
    expect(e.parts.CUDA0!.weights).toBeGreaterThan(4096 * 32000 * 2);
  });

  test('no-kv-offload keeps the cache on the host', () => {
    const e = estimateFromShape(llama7b(), { ctxSize: 2048, devices: ['CUDA0'], noKvOffload: true });
    expect(e.parts.CUDA0!.kv).toBe(0);
    expect(e.parts.CPU!.kv).toBe(512 * 1024 * 2048);
  });

  test('partial offload over two GPUs adds up to the same weights', () => {
    const shape = llama7b();
    const total = shape.tensors.reduce((a, t) => a + t.bytes, 0);
    const e = estimateFromShape(shape, { ctxSize: 2048, gpuLayers: 20, tensorSplit: [1, 1], devices: ['CUDA0', 'CUDA1'] });
    expect(e.layerDevices.filter((d) => d === 'CPU')).toHaveLength(12);
    expect(e.layerDevices.filter((d) => d === 'CUDA0')).toHaveLength(10);
    expect(e.parts.CPU!.weights + e.parts.CUDA0!.weights + e.parts.CUDA1!.weights).toBe(total);
  });
});
