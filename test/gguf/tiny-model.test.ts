import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufHeader, summarizeGguf } from '../../src/gguf/reader.js';
import { makeTinyModel } from '../../src/gguf/tiny-model.js';
import { CHATML_TEMPLATE, VOCAB_SIZE } from '../../src/gguf/tiny-vocab.js';
import { MODEL_CACHE_DIR, modelName, tinyModel } from '../helpers/models.js';

const MiB = 2 ** 20;
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gguf-tiny-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

test('the default model: ~1 MB, llama 128 x 2, everything llama.cpp needs in the header', async () => {
  const info = await makeTinyModel(join(dir, 'default.gguf'));
  expect(info).toMatchObject({ embd: 128, layers: 2, heads: 2, headsKv: 1, vocab: VOCAB_SIZE, ctx: 2048, seed: 1, matrixType: 'F16' });
  expect(info.bytes).toBeGreaterThan(0.7 * MiB);
  expect(info.bytes).toBeLessThan(1.2 * MiB);
  const h = await readGgufHeader(info.path);
  expect(h.fileSize).toBe(info.bytes);
  const m = h.metadata;
  for (const key of [
    'general.architecture',
    'llama.context_length',
    'llama.embedding_length',
    'llama.block_count',
    'llama.feed_forward_length',
    'llama.attention.head_count',
    'llama.attention.layer_norm_rms_epsilon',
    'tokenizer.ggml.model',
    'tokenizer.ggml.tokens',
    'tokenizer.ggml.token_type',
  ]) {
    expect(m).toHaveProperty([key]);
  }
  expect(m['tokenizer.ggml.add_space_prefix']).toBe(false);
  expect(m['tokenizer.chat_template']).toBe(CHATML_TEMPLATE);
  expect((m['tokenizer.ggml.tokens'] as string[]).slice(0, 7)).toEqual(['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>', '\u2581', '<0x00>']);
  expect(m['tokenizer.ggml.eos_token_id']).toBe(4);
  expect(summarizeGguf(h)).toMatchObject({
    architecture: 'llama',
    contextLength: 2048,
    embeddingLength: 128,
    blockCount: 2,
    headCount: 2,
    headCountKv: 1,
    keyLength: 64,
    valueLength: 64,
    vocabSize: VOCAB_SIZE,
    fileType: 1,
  });
  expect(h.tensors).toHaveLength(1 + 2 * 9 + 2);
  expect(h.tensors.find((t) => t.name === 'blk.1.ffn_down.weight')).toMatchObject({ dims: [info.ff, 128], type: 1 });
  // Nothing but the model is left in the folder (the temp file was renamed).
  expect(readdirSync(dir)).toEqual(['default.gguf']);
});

test('same arguments give byte-identical files; another seed gives other weights, same shape', async () => {
  const a = await makeTinyModel(join(dir, 'a.gguf'), { seed: 7, ctx: 512 });
  const b = await makeTinyModel(join(dir, 'b.gguf'), { seed: 7, ctx: 512 });
  const c = await makeTinyModel(join(dir, 'c.gguf'), { seed: 8, ctx: 512 });
  expect(sha(a.path)).toBe(sha(b.path));
  expect(sha(c.path)).not.toBe(sha(a.path));
  expect(c.bytes).toBe(a.bytes);
  const [ha, hc] = [await readGgufHeader(a.path), await readGgufHeader(c.path)];
  expect(ha.tensors).toEqual(hc.tensors);
  expect(ha.metadata['llama.context_length']).toBe(512);
  // Different data in every random matrix (with one KV head, layer 0's K, V and output are all timer, no noise).
  const fa = readFileSync(a.path);
  const fc = readFileSync(c.path);
  const same = ha.tensors
    .filter((t) => t.dims.length === 2)
    .filter((t) => fa.subarray(ha.dataOffset + t.offset, ha.dataOffset + t.offset + t.bytes).equals(fc.subarray(ha.dataOffset + t.offset, ha.dataOffset + t.offset + t.bytes)))
    .map((t) => t.name);
  expect(same).toEqual(['blk.0.attn_k.weight', 'blk.0.attn_v.weight', 'blk.0.attn_output.weight']);
});

test.each([1, 50, ...(process.env.ROUTER_LONG_TESTS === '1' ? [500] : [])])('sizeMb %d lands within 20%%', async (sizeMb) => {
  const path = join(dir, `size-${sizeMb}.gguf`);
  const started = performance.now();
  const info = await makeTinyModel(path, { sizeMb });
  const ms = performance.now() - started;
  expect(statSync(path).size).toBe(info.bytes);
  expect(info.bytes / (sizeMb * MiB)).toBeGreaterThan(0.8);
  expect(info.bytes / (sizeMb * MiB)).toBeLessThan(1.2);
  const s = summarizeGguf(await readGgufHeader(path));
  expect([s.embeddingLength, s.blockCount]).toEqual([info.embd, info.layers]);
  console.log(`sizeMb ${sizeMb}: ${(info.bytes / MiB).toFixed(2)} MiB, ${info.embd} x ${info.layers}, ff ${info.ff}, written in ${ms.toFixed(0)} ms`);
  rmSync(path);
}, 120_000);

test('explicit shapes, F32 matrices, and sizes with fixed layers or width', async () => {
  const f32 = await makeTinyModel(join(dir, 'f32.gguf'), { embd: 64, layers: 1, matrixType: 'F32' });
  const h = await readGgufHeader(f32.path);
  expect(h.tensors.find((t) => t.name === 'output.weight')).toMatchObject({ type: 0, bytes: 64 * VOCAB_SIZE * 4 });
  expect(h.metadata['general.file_type']).toBe(0);
  const layers = await makeTinyModel(join(dir, 'l.gguf'), { sizeMb: 3, layers: 6 });
  expect(layers.layers).toBe(6);
  expect(Math.abs(layers.bytes / (3 * MiB) - 1)).toBeLessThan(0.2);
  const wide = await makeTinyModel(join(dir, 'w.gguf'), { sizeMb: 3, embd: 256 });
  expect(wide.embd).toBe(256);
  expect(Math.abs(wide.bytes / (3 * MiB) - 1)).toBeLessThan(0.2);
});

test('bad options are RangeErrors and leave no file behind', async () => {
  const path = join(dir, 'bad.gguf');
  await expect(makeTinyModel(path, { embd: 100 })).rejects.toThrow(/multiple of 64/);
  await expect(makeTinyModel(path, { layers: 0 })).rejects.toThrow(RangeError);
  await expect(makeTinyModel(path, { sizeMb: -1 })).rejects.toThrow(RangeError);
  await expect(makeTinyModel(path, { seed: 1.5 })).rejects.toThrow(RangeError);
  await expect(makeTinyModel(path, { ctx: 0 })).rejects.toThrow(RangeError);
  expect(readdirSync(dir).filter((f) => f.includes('bad'))).toEqual([]);
});

test('concurrent makers of the same file leave one complete file', async () => {
  const path = join(dir, 'race.gguf');
  const [a] = await Promise.all([1, 2, 3].map(() => makeTinyModel(path, { seed: 3 })));
  const h = await readGgufHeader(path);
  expect(h.fileSize).toBe(a!.bytes);
  expect(readdirSync(dir).filter((f) => f.includes('race'))).toEqual(['race.gguf']);
});

describe('test helper tinyModel', () => {
  test('makes a model once per options and reuses the file', async () => {
    const p1 = await tinyModel({ seed: 11 });
    expect(p1.startsWith(MODEL_CACHE_DIR)).toBe(true);
    expect(p1).toContain(modelName({ seed: 11 }));
    const mtime = statSync(p1).mtimeMs;
    expect(await tinyModel({ seed: 11 })).toBe(p1);
    expect(await tinyModel({ seed: 12 })).not.toBe(p1);
    expect(statSync(p1).mtimeMs).toBe(mtime);
    expect(modelName({})).toBe(modelName({ seed: 1, ctx: 2048 }));
    expect((await readGgufHeader(await tinyModel())).metadata['general.architecture']).toBe('llama');
  });
});
