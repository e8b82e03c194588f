import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufHeader, summarizeGguf } from '../../src/gguf/reader.js';
import { makeTinyModel } from '../../src/gguf/tiny-model.js';
import { gv } from '../../src/gguf/values.js';
import { writeGguf } from '../../src/gguf/writer.js';
import { estimateFromGguf } from '../../src/memory/estimate.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gguf-skip-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The memory estimate reads headers without decoding the vocabulary: the same figures, no token strings. */
describe('readGgufHeader with skipStringArrays', () => {
  test('string arrays keep their length, not their items; everything else reads as without it', async () => {
    const path = join(dir, 'meta.gguf');
    await writeGguf(path, {
      metadata: {
        'general.architecture': gv.str('llama'),
        'general.name': gv.str('kept'),
        'tokenizer.ggml.tokens': gv.strs(['<s>', '</s>', '▁a', 'héllo']),
        'test.i32s': gv.i32s([1, -2, 3]),
        'test.after': gv.u32(7),
      },
      tensors: [],
    });
    const full = await readGgufHeader(path);
    const skipped = await readGgufHeader(path, { skipStringArrays: true });
    const tokens = skipped.metadata['tokenizer.ggml.tokens'] as unknown[];
    expect(Array.isArray(tokens)).toBe(true);
    expect(tokens).toHaveLength(4);
    expect(tokens.some((t) => t !== undefined)).toBe(false);
    expect(full.metadata['tokenizer.ggml.tokens']).toEqual(['<s>', '</s>', '▁a', 'héllo']);
    const { ['tokenizer.ggml.tokens']: _a, ...restSkipped } = skipped.metadata;
    const { ['tokenizer.ggml.tokens']: _b, ...restFull } = full.metadata;
    expect(restSkipped).toEqual(restFull);
    expect(skipped.metadata['test.after']).toBe(7);
  });

  test('a model file gives the same summary and memory estimate either way', async () => {
    const path = join(dir, 'tiny.gguf');
    await makeTinyModel(path, {});
    const full = await readGgufHeader(path);
    const skipped = await readGgufHeader(path, { skipStringArrays: true });
    expect(summarizeGguf(skipped)).toEqual(summarizeGguf(full));
    expect(skipped.tensors).toEqual(full.tensors);
    expect(skipped.dataOffset).toBe(full.dataOffset);
    const opts = { ctxSize: 512, devices: [] };
    expect(await estimateFromGguf(path, opts)).toEqual(await estimateFromGguf(full, opts));
  });

  test('many reads at once all complete (they are queued, a few at a time)', async () => {
    const path = join(dir, 'tiny-many.gguf');
    await makeTinyModel(path, {});
    const headers = await Promise.all(Array.from({ length: 40 }, () => readGgufHeader(path, { skipStringArrays: true })));
    expect(new Set(headers.map((h) => h.dataOffset)).size).toBe(1);
    const failed = await Promise.allSettled(Array.from({ length: 8 }, () => readGgufHeader(join(dir, 'absent.gguf'))));
    expect(failed.every((f) => f.status === 'rejected' && /cannot read/.test(String(f.reason)))).toBe(true);
    // Failed reads give their slots back (more failed than there are slots): later reads still run.
    expect((await readGgufHeader(path)).tensors.length).toBeGreaterThan(0);
  });
});
