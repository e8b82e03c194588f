/**
 * KV cache arithmetic. One token of context costs, in every attention layer, a key and a value per
 * KV head: head_count_kv × key_length elements of K and head_count_kv × value_length elements of V,
 * each stored in the cache type chosen by --cache-type-k / --cache-type-v.
 */

/** Bytes per element of the cache types llama.cpp accepts (block size / elements per block for quants). */
export const CACHE_TYPE_BYTES: Record<string, number> = {
  f32: 4,
  f16: 2,
  bf16: 2,
  q8_0: 34 / 32, // 1.0625
  q4_0: 18 / 32, // 0.5625
  q4_1: 20 / 32,
  iq4_nl: 18 / 32,
  q5_0: 22 / 32,
  q5_1: 24 / 32,
};

export function cacheTypeBytes(type: string | undefined): number {
  const t = (type ?? 'f16').toLowerCase();
  const b = CACHE_TYPE_BYTES[t];
  if (b === undefined) throw new Error(`unknown KV cache type "${type}" (known: ${Object.keys(CACHE_TYPE_BYTES).join(', ')})`);
  return b;
}

/** The attention shape the KV cache depends on. head_count_kv may differ per layer (GGUF allows an array). */
export interface AttentionShape {
  blockCount: number;
  headCountKv: number | number[];
  keyLength: number;
  valueLength: number;
}

export function headsKvOfLayer(shape: AttentionShape, layer: number): number {
  const h = shape.headCountKv;
  return Array.isArray(h) ? (h[layer] ?? 0) : h;
}

/** Bytes of K and V one token adds in one layer. */
export function kvBytesPerTokenOfLayer(shape: AttentionShape, layer: number, cacheTypeK?: string, cacheTypeV?: string): number {
  const heads = headsKvOfLayer(shape, layer);
  return heads * shape.keyLength * cacheTypeBytes(cacheTypeK) + heads * shape.valueLength * cacheTypeBytes(cacheTypeV);
}

/**
 * Bytes one token of context costs across all layers:
 * Σ over layers of head_count_kv × (key_length × bytes(K) + value_length × bytes(V)).
 * With a constant head count this is 2 × block_count × head_count_kv × head_dim × bytes for f16 K and V.
 * Multiply by context cells (ctx × parallel) for the whole cache.
 */
export function kvBytesPerTokenOfShape(shape: AttentionShape, cacheTypeK?: string, cacheTypeV?: string): number {
  let total = 0;
  for (let l = 0; l < shape.blockCount; l++) total += kvBytesPerTokenOfLayer(shape, l, cacheTypeK, cacheTypeV);
  return total;
}

/** llama.cpp pads the KV cache size up to a multiple of 256 cells. */
export const KV_PAD = 256;
export function padCells(n: number): number {
  return Math.ceil(n / KV_PAD) * KV_PAD;
}
