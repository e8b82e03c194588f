/**
 * The tiny model's shape: n_embd, layers, n_ff, heads. Sizes are chosen so the file lands near the size asked for:
 * embd and layers grow together (like real models: 128 x 2 at ~1 MB, 512 x 9 at ~50 MB, 1024 x 22 at ~500 MB), then
 * n_ff is solved for the remaining bytes, which lands within ~1% of the target.
 */
import { GgmlType, tensorBytes } from './types.js';
import { VOCAB_SIZE } from './tiny-vocab.js';

export const HEAD_DIM = 64;

export interface TinyShape {
  embd: number;
  layers: number;
  ff: number;
  heads: number;
  headsKv: number;
  vocab: number;
  ctx: number;
  /** ggml type of the matrices (norm vectors are always F32). */
  matrixType: typeof GgmlType.F16 | typeof GgmlType.F32;
}

export interface TensorShape {
  name: string;
  dims: number[];
  type: number;
}

export interface ShapeRequest {
  sizeMb?: number;
  ctx?: number;
  layers?: number;
  embd?: number;
  matrixType?: 'F16' | 'F32';
}

const MiB = 2 ** 20;
/** Bytes the header and alignment padding take, roughly (exactness comes from the writer's layout). */
const HEADER_BYTES = 12 * 1024;

export function checkShapeRequest(r: ShapeRequest): void {
  const int = (name: string, v: number | undefined, min: number, max: number) => {
    if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${v}`);
  };
  int('layers', r.layers, 1, 512);
  int('ctx', r.ctx, 32, 2 ** 24);
  int('embd', r.embd, HEAD_DIM, 16384);
  if (r.embd !== undefined && r.embd % HEAD_DIM !== 0) throw new RangeError(`embd must be a multiple of ${HEAD_DIM}, got ${r.embd}`);
  if (r.sizeMb !== undefined && (!Number.isFinite(r.sizeMb) || r.sizeMb <= 0 || r.sizeMb > 64 * 1024)) {
    throw new RangeError(`sizeMb must be a number in (0, 65536], got ${r.sizeMb}`);
  }
}

/** The shape for a request: defaults (128 x 2, ~1 MB), explicit dims, or dims chosen for a size. */
export function planShape(r: ShapeRequest): TinyShape {
  checkShapeRequest(r);
  const matrixType = r.matrixType === 'F32' ? GgmlType.F32 : GgmlType.F16;
  const bpe = matrixType === GgmlType.F32 ? 4 : 2;
  const ctx = r.ctx ?? 2048;
  const target = r.sizeMb !== undefined ? r.sizeMb * MiB : undefined;

  const embd = r.embd ?? (target === undefined ? 128 : chooseEmbd(target, bpe, r.layers));
  const defaultFf = roundTo((8 * embd) / 3, 32);
  const fixed = fixedBytes(embd, bpe);
  const perLayer = (ff: number) => layerBytes(embd, ff, bpe);
  const layers = r.layers ?? (target === undefined ? 2 : clamp(Math.round((target - fixed) / perLayer(defaultFf)), 1, 512));
  let ff = defaultFf;
  if (target !== undefined) {
    // Solve ff for the bytes left after the fixed part and attention; keep it a multiple of 32 in [32, 16 n].
    const attention = perLayer(0);
    const perFfUnit = 3 * embd * bpe;
    ff = clamp(roundTo((target - fixed - layers * attention) / (layers * perFfUnit), 32), 32, 16 * embd);
  }
  const heads = embd / HEAD_DIM;
  // Grouped-query attention (two query heads per KV head) when the head count allows, as most current models do.
  const headsKv = heads % 2 === 0 ? heads / 2 : heads;
  return { embd, layers, ff, heads, headsKv, vocab: VOCAB_SIZE, ctx, matrixType };
}

/** Every tensor of the model, in file order. */
export function tensorShapes(s: TinyShape): TensorShape[] {
  const n = s.embd;
  const kv = s.headsKv * HEAD_DIM;
  const m = s.matrixType;
  const out: TensorShape[] = [{ name: 'token_embd.weight', dims: [n, s.vocab], type: m }];
  for (let l = 0; l < s.layers; l++) {
    out.push(
      { name: `blk.${l}.attn_norm.weight`, dims: [n], type: GgmlType.F32 },
      { name: `blk.${l}.attn_q.weight`, dims: [n, n], type: m },
      { name: `blk.${l}.attn_k.weight`, dims: [n, kv], type: m },
      { name: `blk.${l}.attn_v.weight`, dims: [n, kv], type: m },
      { name: `blk.${l}.attn_output.weight`, dims: [n, n], type: m },
      { name: `blk.${l}.ffn_norm.weight`, dims: [n], type: GgmlType.F32 },
      { name: `blk.${l}.ffn_gate.weight`, dims: [n, s.ff], type: m },
      { name: `blk.${l}.ffn_up.weight`, dims: [n, s.ff], type: m },
      { name: `blk.${l}.ffn_down.weight`, dims: [s.ff, n], type: m },
    );
  }
  out.push({ name: 'output_norm.weight', dims: [n], type: GgmlType.F32 }, { name: 'output.weight', dims: [n, s.vocab], type: m });
  return out;
}

/** Data bytes of all tensors (without header and padding). */
export function shapeDataBytes(s: TinyShape): number {
  return tensorShapes(s).reduce((sum, t) => sum + tensorBytes(t.dims, t.type)!, 0);
}

/**
 * With free layers: ~0.47 n^3 bytes (F16) when layers ~ n / 51 and ff ~ 8n/3, inverted for n and rounded to whole
 * heads. With the layers given: the width whose default-ff model is nearest the target.
 */
function chooseEmbd(target: number, bpe: number, layers: number | undefined): number {
  if (layers === undefined) return clamp(Math.round(Math.cbrt(target / (0.235 * bpe)) / HEAD_DIM) * HEAD_DIM, HEAD_DIM, 8192);
  let best = HEAD_DIM;
  for (let n = HEAD_DIM; n <= 8192; n += HEAD_DIM) {
    const bytes = (n: number) => fixedBytes(n, bpe) + layers * layerBytes(n, roundTo((8 * n) / 3, 32), bpe);
    if (Math.abs(bytes(n) - target) < Math.abs(bytes(best) - target)) best = n;
  }
  return best;
}

function fixedBytes(embd: number, bpe: number): number {
  return HEADER_BYTES + 2 * VOCAB_SIZE * embd * bpe + embd * 4;
}

/** One block: q, o (n x n), k, v (n x kv), gate, up, down (n x ff), two norms. */
function layerBytes(embd: number, ff: number, bpe: number): number {
  const heads = embd / HEAD_DIM;
  const kv = (heads % 2 === 0 ? heads / 2 : heads) * HEAD_DIM;
  return (2 * embd * embd + 2 * embd * kv + 3 * embd * ff) * bpe + 2 * embd * 4;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function roundTo(v: number, step: number): number {
  return Math.round(v / step) * step;
}
