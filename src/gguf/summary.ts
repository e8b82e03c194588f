/**
 * What the rest of the router wants to know about a model, from its header: shape numbers under the
 * architecture's own keys (`llama.embedding_length`, ...), reduced to plain numbers.
 */
import type { GgufHeader } from './reader.js';

export interface GgufSummary {
  /** general.architecture ("llama", "qwen2", "clip", ...); "unknown" when absent. */
  architecture: string;
  name?: string;
  /** Training context length; 0 when absent. */
  contextLength: number;
  embeddingLength: number;
  blockCount: number;
  /** Largest per-layer value when the file stores one per layer. */
  headCount: number;
  /** Defaults to headCount. */
  headCountKv: number;
  /** Per-head K width; embeddingLength / headCount when `ARCH.attention.key_length` is absent. */
  keyLength: number;
  /** Per-head V width; embeddingLength / headCount when `ARCH.attention.value_length` is absent. */
  valueLength: number;
  feedForwardLength?: number;
  /** `ARCH.vocab_size`, else the length of tokenizer.ggml.tokens. */
  vocabSize?: number;
  /** Sum of all tensors' data bytes. */
  tensorBytes: number;
  /** general.file_type (llama_ftype: 1 = F16, 7 = Q8_0, 15 = Q4_K_M, ...). */
  fileType?: number;
}

/** Never throws: missing numbers are 0 (or undefined where the field is optional), so mmproj/clip files summarize too. */
export function summarizeGguf(h: GgufHeader): GgufSummary {
  const m = h.metadata;
  const architecture = typeof m['general.architecture'] === 'string' ? m['general.architecture'] : 'unknown';
  const key = (k: string) => m[`${architecture}.${k}`];
  const embeddingLength = num(key('embedding_length')) ?? 0;
  const headCount = num(key('attention.head_count')) ?? 0;
  const perHead = headCount > 0 ? Math.floor(embeddingLength / headCount) : 0;
  const tokens = m['tokenizer.ggml.tokens'];
  const summary: GgufSummary = {
    architecture,
    contextLength: num(key('context_length')) ?? 0,
    embeddingLength,
    blockCount: num(key('block_count')) ?? 0,
    headCount,
    headCountKv: num(key('attention.head_count_kv')) ?? headCount,
    keyLength: num(key('attention.key_length')) ?? perHead,
    valueLength: num(key('attention.value_length')) ?? perHead,
    tensorBytes: h.tensors.reduce((sum, t) => sum + t.bytes, 0),
  };
  if (typeof m['general.name'] === 'string') summary.name = m['general.name'];
  const ff = num(key('feed_forward_length'));
  if (ff !== undefined) summary.feedForwardLength = ff;
  const vocab = num(key('vocab_size')) ?? (Array.isArray(tokens) ? tokens.length : undefined);
  if (vocab !== undefined) summary.vocabSize = vocab;
  const fileType = num(m['general.file_type']);
  if (fileType !== undefined) summary.fileType = fileType;
  return summary;
}

/**
 * Weight bytes per repeating layer (tensors named `blk.N.*`), and the rest: token embeddings, output norm and
 * output matrix (`output.weight`), and anything else outside the blocks.
 */
export function layerWeightBytes(h: GgufHeader): { layers: number[]; output: number; tokenEmbedding: number; other: number } {
  const layers: number[] = [];
  let output = 0;
  let tokenEmbedding = 0;
  let other = 0;
  for (const t of h.tensors) {
    const blk = /^blk\.(\d+)\./.exec(t.name);
    if (blk) {
      const i = Number(blk[1]);
      while (layers.length <= i) layers.push(0);
      layers[i]! += t.bytes;
    } else if (t.name.startsWith('output')) output += t.bytes;
    else if (t.name.startsWith('token_embd')) tokenEmbedding += t.bytes;
    else other += t.bytes;
  }
  return { layers, output, tokenEmbedding, other };
}

/** A number from a scalar, a per-layer array (its maximum) or a bigint; undefined otherwise. */
function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number')) return Math.max(...(v as number[]));
  return undefined;
}
