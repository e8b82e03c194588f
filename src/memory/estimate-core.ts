import { cacheTypeBytes, headsKvOfLayer, kvBytesPerTokenOfLayer, padCells, type AttentionShape } from './kv.js';

/**
 * The header-only memory estimate: what llama.cpp allocates for a model, computed from its GGUF shape.
 * The least trusted source (after an override, a measurement and a probe) but always available.
 *
 * Per device it adds:
 *  - weights: each tensor on the device of its layer. llama.cpp offloads the LAST -ngl layers; an -ngl
 *    above block_count also moves the output layer. GPU layers are cut among GPUs by --tensor-split
 *    proportions (default: free memory, else equal) as llama.cpp does (upper_bound on cumulative shares).
 *    Token embeddings always stay on the CPU; with tied embeddings (no output.weight) an offloaded
 *    output layer gets its own copy of token_embd.
 *  - KV cache: per layer, on the layer's device (CPU with --no-kv-offload):
 *    cells × head_count_kv × (key_length × bytes(K) + value_length × bytes(V)), cells = ctx padded to
 *    256, × parallel when the context is per sequence (our engine; node-llama-cpp) or once when it is
 *    the total shared by all slots (llama-server). See `ctxScope`.
 *  - compute buffer: llama.cpp reserves, per device with work, one graph's intermediates for a ubatch
 *    of n_ub tokens (default 512); its allocator reuses memory between layers, so the peak is the largest
 *    single-layer working set, not a sum, plus the attention mask that lives through the whole graph:
 *        4 × n_ub × max( n_head × cells_per_seq + 7·n_embd   (attention scores, f32; without flash attention)
 *                       , 3·n_ff + 3·n_embd                    (feed-forward)
 *                       , n_vocab + n_embd  if the output layer is here )
 *      + cells_per_seq × n_ub × (4, or 2 with flash attention)  (the KQ mask)
 *    With flash attention the score matrix is gone (the first term drops to 7·n_embd). A CPU with no
 *    layers still holds the input embeddings: 4 × n_ub × n_embd. The 7·n_embd and 3·n_embd terms are
 *    fitted on llama.cpp's own "CPU compute buffer size" (node-llama-cpp 3.22.1) for tiny llama models
 *    of 0.9/51/199 MB × ctx 2048×1, 8192×2, 4096×4 slots × flash attention off/on: 17 of 18 within
 *    0.02 MiB, the last (a 4 MiB buffer) 1.1 MiB over. Only that architecture was measured (head_dim
 *    32/64, n_ff = 2·n_embd, 262-token vocabulary); the dominant terms for real models (scores, logits)
 *    are first principles, not fits.
 *    Note the buffer is allocated, not touched: RSS only shows it after a long prompt. Counted whole,
 *    because the scheduler must plan for that prompt.
 *  - the logits buffer on the host: 4 × n_vocab × parallel.
 *  - a runtime base: `cpuBaseBytes` for the process itself (default 120 MiB: our engine holds 88 MiB with
 *    node-llama-cpp loaded and no model, and a further 30-40 MiB once a model is loaded and a request was
 *    served (JS heap, HTTP server, thread stacks), measured on 0.9-200 MB models), `gpuBaseBytes` per GPU
 *    used (default 256 MiB for the CUDA/HIP context and BLAS workspace: a common figure, NOT measured
 *    here for lack of a GPU). llama-server's own base is smaller: engine.ts has each engine's options.
 *  - with `repackWeights`, a second copy of the CPU layers' weights (`repack`): the CPU backend's AMX buffer.
 *
 * Not modelled (all make this an over-estimate, the safe side): sliding-window layers (gemma, ...) keep
 * less KV; recurrent layers (mamba) keep a state instead; MoE compute is bounded by experts used.
 */
export interface ModelShape extends AttentionShape {
  architecture?: string;
  /** Training context, used when ctxSize is 0 or not given. */
  contextLength?: number;
  embeddingLength: number;
  headCount: number;
  feedForwardLength: number;
  vocabSize: number;
  tensors: { name: string; bytes: number }[];
}

export interface EstimateOptions {
  /** Context tokens; 0 or undefined = the model's training context (4096 if unknown). */
  ctxSize?: number;
  /**
   * llama-server with no -c: each slot gets the training context, so the cache holds parallel × n_ctx_train
   * cells (with -c it holds -c in all). Only with ctxScope 'total' and no ctxSize.
   */
  ctxFromModelPerSlot?: boolean;
  /** Sequences (slots) served at once. Default 1. */
  parallel?: number;
  /**
   * 'per-sequence' (default): ctxSize is each slot's context and the cache holds ctx × parallel cells,
   * as in our bundled engine (node-llama-cpp). 'total': ctxSize is shared by all slots, as in llama-server.
   */
  ctxScope?: 'per-sequence' | 'total';
  /** -ngl. undefined, 'auto', 'all' or any value above block_count = every layer and the output. */
  gpuLayers?: number | 'auto' | 'all';
  /** Shares per GPU in `devices` order (--tensor-split 3,1). */
  tensorSplit?: number[];
  /** --split-mode: 'none' puts every GPU layer on `mainGpu`; 'row' is treated like 'layer' here. */
  splitMode?: 'layer' | 'row' | 'none';
  mainGpu?: number;
  cacheTypeK?: string;
  cacheTypeV?: string;
  /**
   * Flash attention removes the attention-score matrix from the compute buffer. Default false: our engine
   * creates contexts without it (node-llama-cpp's default), and it is the larger, safe figure.
   */
  flashAttention?: boolean;
  /** --ubatch-size; default 512. */
  ubatchSize?: number;
  /** --no-kv-offload: the KV cache stays in host memory. */
  noKvOffload?: boolean;
  /** GPU names available to the child, in its order: ["CUDA0", "CUDA1"]. [] = CPU only. */
  devices: string[];
  /** Free bytes per GPU: the default split when tensorSplit is not given (llama.cpp splits by free memory). */
  deviceFree?: Record<string, number>;
  /** The process itself on the host; default 120 MiB (our engine, measured). */
  cpuBaseBytes?: number;
  /** Per GPU holding anything; default 256 MiB. */
  gpuBaseBytes?: number;
  /**
   * The CPU backend keeps a second, repacked copy of the layers' matrices in anonymous memory (an "extra buffer
   * type": AMX on Intel CPUs that have it, in node-llama-cpp's build), while the mapped file pages it was read
   * from stay resident too. Counted as `repack` on the CPU: the weights of every block tensor on the CPU but norms.
   */
  repackWeights?: boolean;
}

export interface DevicePart {
  weights: number;
  kv: number;
  compute: number;
  base: number;
  /** A repacked copy of CPU weights (see EstimateOptions.repackWeights); absent when there is none. */
  repack?: number;
}

export interface Estimate {
  /** Bytes per device: what the scheduler compares with free memory. */
  devices: Record<string, number>;
  /** The same, split by what it is for (for logs and the dashboard). */
  parts: Record<string, DevicePart>;
  /** Device of each block (index = layer), then of the output layer. */
  layerDevices: string[];
  outputDevice: string;
  /** KV cells allocated in total (all sequences). */
  kvCells: number;
  ctxSize: number;
}

const MiB = 1024 * 1024;
export const DEFAULT_CPU_BASE = 120 * MiB;
export const DEFAULT_GPU_BASE = 256 * MiB;

/** Which device holds each layer, llama.cpp's rule (llama_model::load_tensors). */
export function assignLayers(
  blockCount: number,
  opts: Pick<EstimateOptions, 'gpuLayers' | 'tensorSplit' | 'splitMode' | 'mainGpu' | 'devices' | 'deviceFree'>,
): { layers: string[]; output: string } {
  const gpus = opts.devices;
  let ngl: number;
  if (gpus.length === 0) ngl = 0;
  else if (opts.gpuLayers === undefined || opts.gpuLayers === 'auto' || opts.gpuLayers === 'all' || opts.gpuLayers < 0) ngl = blockCount + 1;
  else ngl = Math.min(Math.floor(opts.gpuLayers), blockCount + 1);

  const iGpuStart = Math.max(blockCount - ngl, 0);
  const act = Math.min(ngl, blockCount + 1);
  let shares: number[];
  if (opts.splitMode === 'none') {
    const main = Math.min(Math.max(opts.mainGpu ?? 0, 0), gpus.length - 1);
    shares = gpus.map((_, i) => (i === main ? 1 : 0));
  } else if (opts.tensorSplit && opts.tensorSplit.some((x) => x > 0)) {
    shares = gpus.map((_, i) => Math.max(0, opts.tensorSplit![i] ?? 0));
  } else if (opts.deviceFree && gpus.every((g) => (opts.deviceFree![g] ?? 0) > 0)) {
    shares = gpus.map((g) => opts.deviceFree![g]!);
  } else {
    shares = gpus.map(() => 1);
  }
  // Cumulative end of each device's share, normalised: 3,1 -> [0.75, 1].
  const sum = shares.reduce((a, b) => a + b, 0) || 1;
  const ends: number[] = [];
  let acc = 0;
  for (const s of shares) {
    acc += s;
    ends.push(acc / sum);
  }
  const deviceOf = (il: number): string => {
    if (il < iGpuStart || il - iGpuStart >= act) return 'CPU';
    // std::upper_bound(splits, (il - i_gpu_start) / act_gpu_layers): the first device whose end is past x.
    const x = (il - iGpuStart) / act;
    const idx = ends.findIndex((e) => e > x);
    return gpus[idx === -1 ? gpus.length - 1 : idx]!;
  };
  const layers = Array.from({ length: blockCount }, (_, il) => deviceOf(il));
  return { layers, output: deviceOf(blockCount) };
}

export function estimateFromShape(shape: ModelShape, opts: EstimateOptions): Estimate {
  const parallel = Math.max(1, Math.floor(opts.parallel ?? 1));
  const perSequence = (opts.ctxScope ?? 'per-sequence') === 'per-sequence';
  const fromModel = shape.contextLength && shape.contextLength > 0 ? shape.contextLength : 4096;
  const ctxSize =
    opts.ctxSize && opts.ctxSize > 0 ? Math.floor(opts.ctxSize) : !perSequence && opts.ctxFromModelPerSlot ? fromModel * parallel : fromModel;
  const kvCells = perSequence ? padCells(ctxSize) * parallel : padCells(ctxSize);
  const cellsPerSeq = perSequence ? padCells(ctxSize) : padCells(Math.ceil(ctxSize / parallel));
  const ubatch = Math.max(1, Math.min(opts.ubatchSize ?? 512, kvCells));

  const { layers, output } = assignLayers(shape.blockCount, opts);
  const parts: Record<string, DevicePart> = {};
  const part = (d: string) => (parts[d] ??= { weights: 0, kv: 0, compute: 0, base: 0 });
  part('CPU');

  // Weights.
  let hasOutputWeight = false;
  let tokenEmbd = 0;
  for (const t of shape.tensors) {
    const m = /^blk\.(\d+)\./.exec(t.name);
    let dev = 'CPU';
    if (m) dev = layers[Number(m[1])] ?? 'CPU';
    else if (/^output(_norm)?\./.test(t.name)) dev = output;
    if (t.name === 'output.weight') hasOutputWeight = true;
    if (t.name === 'token_embd.weight') tokenEmbd = t.bytes;
    part(dev).weights += t.bytes;
    if (opts.repackWeights && m && dev === 'CPU' && !/norm/.test(t.name)) part('CPU').repack = (part('CPU').repack ?? 0) + t.bytes;
  }
  if (!hasOutputWeight && output !== 'CPU') part(output).weights += tokenEmbd;

  // KV cache.
  for (let il = 0; il < shape.blockCount; il++) {
    const dev = opts.noKvOffload ? 'CPU' : layers[il]!;
    part(dev).kv += kvCells * kvBytesPerTokenOfLayer(shape, il, opts.cacheTypeK, opts.cacheTypeV);
  }

  // Compute buffers.
  const n = shape.embeddingLength;
  const attention = (opts.flashAttention ? 0 : shape.headCount * cellsPerSeq) + 7 * n;
  const ffn = 3 * shape.feedForwardLength + 3 * n;
  const mask = cellsPerSeq * ubatch * (opts.flashAttention ? 2 : 4);
  const logits = shape.vocabSize + n;
  const withLayers = new Set(layers);
  for (const dev of new Set([...withLayers, output, 'CPU'])) {
    const terms: number[] = [n];
    if (withLayers.has(dev)) terms.push(attention, ffn);
    if (dev === output) terms.push(logits);
    part(dev).compute += 4 * ubatch * Math.max(...terms) + (withLayers.has(dev) ? mask : 0);
  }
  part('CPU').compute += 4 * shape.vocabSize * parallel; // host logits buffer

  // Runtime bases.
  part('CPU').base += opts.cpuBaseBytes ?? DEFAULT_CPU_BASE;
  for (const dev of Object.keys(parts)) if (dev !== 'CPU') part(dev).base += opts.gpuBaseBytes ?? DEFAULT_GPU_BASE;

  const devices: Record<string, number> = {};
  for (const [dev, p] of Object.entries(parts)) devices[dev] = Math.ceil(p.weights + p.kv + p.compute + p.base + (p.repack ?? 0));
  return { devices, parts, layerDevices: layers, outputDevice: output, kvCells, ctxSize };
}

/** Re-exported for callers that size a context to memory: bytes per token of one sequence. */
export function kvBytesPerTokenFromShape(shape: AttentionShape, opts: { cacheTypeK?: string; cacheTypeV?: string } = {}): number {
  let total = 0;
  for (let l = 0; l < shape.blockCount; l++) total += kvBytesPerTokenOfLayer(shape, l, opts.cacheTypeK, opts.cacheTypeV);
  return total;
}

export { cacheTypeBytes, headsKvOfLayer };
