/**
 * makeTinyModel: a loadable llama-architecture GGUF v3 with deterministic pseudo-random weights, a byte-level
 * vocabulary and a ChatML template (shared notes/tiny-gguf.md). Same arguments, same bytes. Replies are printable
 * ASCII and stop on their own (see tiny-weights.ts for how).
 *
 * The file is written under a temporary name in the same folder and renamed into place, so a reader never sees a
 * half-written model under the final name, and concurrent makers of the same file do not corrupt each other.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { GgmlType } from './types.js';
import { gv, type GgufValue } from './values.js';
import { writeGguf } from './writer.js';
import { HEAD_DIM, planShape, tensorShapes, type ShapeRequest, type TinyShape } from './tiny-shape.js';
import { ROPE_FREQ_BASE, rowFiller } from './tiny-weights.js';
import { tokenizerMetadata } from './tiny-vocab.js';

/** Bump when the bytes produced for the same options change (caches key on it). 2: xorshift32 weights. */
export const TINY_MODEL_FORMAT = 2;

export interface TinyModelOptions {
  /** Aim for a file of about this many MiB (within 20%, usually ~1%). Default: 128 x 2 layers, ~1 MiB. */
  sizeMb?: number;
  /** PRNG seed (default 1). Different seeds give different weights. */
  seed?: number;
  /** llama.context_length, the training context (default 2048). */
  ctx?: number;
  /** Number of blocks; with sizeMb, the feed-forward width is solved for the rest. */
  layers?: number;
  /** n_embd, a multiple of 64 (one head per 64). */
  embd?: number;
  /** Matrix type (default F16; norms are always F32). */
  matrixType?: 'F16' | 'F32';
}

export interface TinyModelInfo {
  path: string;
  bytes: number;
  embd: number;
  layers: number;
  ff: number;
  heads: number;
  headsKv: number;
  vocab: number;
  ctx: number;
  seed: number;
  matrixType: 'F16' | 'F32';
}

export async function makeTinyModel(outPath: string, opts: TinyModelOptions = {}): Promise<TinyModelInfo> {
  const seed = opts.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
  const request: ShapeRequest = { sizeMb: opts.sizeMb, ctx: opts.ctx, layers: opts.layers, embd: opts.embd, matrixType: opts.matrixType };
  const shape = planShape(request);

  await mkdir(dirname(outPath), { recursive: true });
  const tmp = join(dirname(outPath), `.${basename(outPath)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeGguf(tmp, {
      metadata: modelMetadata(shape, seed),
      tensors: tensorShapes(shape).map((t) => ({ ...t, fillRow: rowFiller(t, shape, seed) })),
    });
    await rename(tmp, outPath);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const { size } = await stat(outPath);
  return {
    path: outPath,
    bytes: size,
    embd: shape.embd,
    layers: shape.layers,
    ff: shape.ff,
    heads: shape.heads,
    headsKv: shape.headsKv,
    vocab: shape.vocab,
    ctx: shape.ctx,
    seed,
    matrixType: shape.matrixType === GgmlType.F32 ? 'F32' : 'F16',
  };
}

function modelMetadata(s: TinyShape, seed: number): [string, GgufValue][] {
  return [
    ['general.architecture', gv.str('llama')],
    ['general.name', gv.str(`tiny-llama ${s.embd}x${s.layers} seed ${seed}`)],
    // llama_ftype: 0 = all F32, 1 = mostly F16.
    ['general.file_type', gv.u32(s.matrixType === GgmlType.F32 ? 0 : 1)],
    ['llama.context_length', gv.u32(s.ctx)],
    ['llama.embedding_length', gv.u32(s.embd)],
    ['llama.block_count', gv.u32(s.layers)],
    ['llama.feed_forward_length', gv.u32(s.ff)],
    ['llama.attention.head_count', gv.u32(s.heads)],
    ['llama.attention.head_count_kv', gv.u32(s.headsKv)],
    ['llama.attention.layer_norm_rms_epsilon', gv.f32(1e-5)],
    ['llama.rope.dimension_count', gv.u32(HEAD_DIM)],
    ['llama.rope.freq_base', gv.f32(ROPE_FREQ_BASE)],
    ['llama.vocab_size', gv.u32(s.vocab)],
    ...tokenizerMetadata(),
  ];
}
