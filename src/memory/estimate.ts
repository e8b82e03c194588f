import { readGgufHeader, summarizeGguf, type GgufHeader } from '../gguf/reader.js';
import { memoryArgs } from './args.js';
import { estimateFromShape, kvBytesPerTokenFromShape, type Estimate, type EstimateOptions, type ModelShape } from './estimate-core.js';

export type { Estimate, EstimateOptions, ModelShape } from './estimate-core.js';

/**
 * The shape of a model as the estimate needs it, from its GGUF header. Per-layer head_count_kv arrays
 * are kept as arrays (summarizeGguf reduces them to their maximum); a missing vocabulary size is read
 * from token_embd's second dimension.
 */
export function shapeFromGguf(h: GgufHeader): ModelShape {
  const s = summarizeGguf(h);
  const kvRaw = h.metadata[`${s.architecture}.attention.head_count_kv`];
  const headCountKv = Array.isArray(kvRaw) && kvRaw.every((x) => typeof x === 'number') ? (kvRaw as number[]) : s.headCountKv;
  const embd = h.tensors.find((t) => t.name === 'token_embd.weight');
  return {
    architecture: s.architecture,
    contextLength: s.contextLength,
    blockCount: s.blockCount,
    embeddingLength: s.embeddingLength,
    headCount: s.headCount,
    headCountKv,
    keyLength: s.keyLength,
    valueLength: s.valueLength,
    feedForwardLength: s.feedForwardLength ?? 4 * s.embeddingLength,
    vocabSize: s.vocabSize ?? embd?.dims[1] ?? 0,
    tensors: h.tensors.map((t) => ({ name: t.name, bytes: t.bytes })),
  };
}

/** The estimate for a header already read (synchronous). */
export function estimateFromHeader(header: GgufHeader, opts: EstimateOptions): Estimate {
  return estimateFromShape(shapeFromGguf(header), opts);
}

/**
 * estimateFromGguf(headerOrPath, {ctxSize, parallel, gpuLayers, tensorSplit?, cacheTypeK?, cacheTypeV?, devices})
 * -> {devices: {CPU: bytes, CUDA0: bytes, ...}, parts, ...}. Reads only the header, never the weights.
 * The formula is documented on estimateFromShape (src/memory/estimate-core.ts).
 */
export async function estimateFromGguf(headerOrPath: GgufHeader | string, opts: EstimateOptions): Promise<Estimate> {
  const header = typeof headerOrPath === 'string' ? await readGgufHeader(headerOrPath, { skipStringArrays: true }) : headerOrPath;
  return estimateFromHeader(header, opts);
}

/**
 * Bytes of KV cache one token of context costs in one sequence, over all layers:
 * Σ head_count_kv × (key_length × bytes(K) + value_length × bytes(V)). For fitting a context to memory:
 * ctx = floor(free_for_kv / (kvBytesPerToken × parallel)).
 */
export function kvBytesPerToken(header: GgufHeader, opts: { cacheTypeK?: string; cacheTypeV?: string } = {}): number {
  return kvBytesPerTokenFromShape(shapeFromGguf(header), opts);
}

/**
 * Estimate options from a child's arguments (llama-server/engine spelling), so the router does not
 * translate flags itself. `ctxScope` defaults to 'per-sequence' (our engine); pass 'total' for llama-server.
 * `-ngl auto` and anything unreadable leave gpuLayers undefined (= all, as both servers default to now).
 */
export function estimateOptionsFromArgs(
  args: readonly string[],
  base: Pick<EstimateOptions, 'devices'> & Partial<EstimateOptions> & { env?: Record<string, string | undefined> },
): EstimateOptions {
  const { env, ...rest } = base;
  const a = memoryArgs(args, env);
  const num = (k: string) => (a[k] !== undefined && Number.isFinite(Number(a[k])) ? Number(a[k]) : undefined);
  const opts: EstimateOptions = { ...rest };
  if (num('ctx-size') !== undefined) opts.ctxSize = num('ctx-size');
  if (num('parallel') !== undefined && num('parallel')! > 0) opts.parallel = num('parallel');
  if (num('n-gpu-layers') !== undefined) opts.gpuLayers = num('n-gpu-layers');
  if (a['tensor-split']) opts.tensorSplit = a['tensor-split'].split(',').map(Number).filter(Number.isFinite);
  if (a['split-mode'] === 'none' || a['split-mode'] === 'layer' || a['split-mode'] === 'row') opts.splitMode = a['split-mode'];
  if (num('main-gpu') !== undefined) opts.mainGpu = num('main-gpu');
  if (a['cache-type-k']) opts.cacheTypeK = a['cache-type-k'];
  if (a['cache-type-v']) opts.cacheTypeV = a['cache-type-v'];
  if (a['flash-attn'] !== undefined) opts.flashAttention = a['flash-attn'] === 'on';
  if (num('ubatch-size') !== undefined) opts.ubatchSize = num('ubatch-size');
  else if (num('batch-size') !== undefined) opts.ubatchSize = Math.min(512, num('batch-size')!);
  if (a['no-kv-offload'] === '1') opts.noKvOffload = true;
  return opts;
}
