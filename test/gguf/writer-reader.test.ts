import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GgmlType, layerWeightBytes, readGgufHeader, summarizeGguf, tensorBytes } from '../../src/gguf/reader.js';
import { GgufValueType } from '../../src/gguf/types.js';
import { gv } from '../../src/gguf/values.js';
import { encodeGgufHeader, writeGguf } from '../../src/gguf/writer.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gguf-rw-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writeGguf / readGgufHeader round trip', () => {
  test('every metadata value type, arrays included, reads back as written', async () => {
    const path = join(dir, 'meta.gguf');
    await writeGguf(path, {
      metadata: {
        'general.architecture': gv.str('llama'),
        'test.u8': gv.u8(255),
        'test.i8': gv.i8(-128),
        'test.u16': gv.u16(65535),
        'test.i16': gv.i16(-32768),
        'test.u32': gv.u32(4294967295),
        'test.i32': gv.i32(-2147483648),
        'test.f32': gv.f32(0.5),
        'test.f64': gv.f64(Math.PI),
        'test.u64': gv.u64(2 ** 40),
        'test.u64.big': gv.u64(2n ** 63n),
        'test.i64': gv.i64(-(2 ** 40)),
        'test.bool': gv.bool(true),
        'test.str': gv.str('héllo ✓ <|im_end|>'),
        'test.empty': gv.str(''),
        'test.strs': gv.strs(['a', '', '▁', '<0x0A>']),
        'test.i32s': gv.i32s([1, -2, 3]),
        'test.f32s': gv.f32s([0.25, -1.5]),
        'test.bools': gv.bools([true, false]),
        'test.u64s': gv.array(GgufValueType.UINT64, [1, 2n ** 60n]),
        'test.emptyarr': gv.u32s([]),
      },
      tensors: [],
    });
    const h = await readGgufHeader(path);
    expect(h.version).toBe(3);
    expect(h.tensors).toEqual([]);
    expect(h.metadata).toEqual({
      'general.architecture': 'llama',
      'test.u8': 255,
      'test.i8': -128,
      'test.u16': 65535,
      'test.i16': -32768,
      'test.u32': 4294967295,
      'test.i32': -2147483648,
      'test.f32': 0.5,
      'test.f64': Math.PI,
      'test.u64': 2 ** 40,
      'test.u64.big': 2n ** 63n,
      'test.i64': -(2 ** 40),
      'test.bool': true,
      'test.str': 'héllo ✓ <|im_end|>',
      'test.empty': '',
      'test.strs': ['a', '', '▁', '<0x0A>'],
      'test.i32s': [1, -2, 3],
      'test.f32s': [0.25, -1.5],
      'test.bools': [true, false],
      'test.u64s': [1, 2n ** 60n],
      'test.emptyarr': [],
    });
    // Insertion order is file order.
    expect(Object.keys(h.metadata)[1]).toBe('test.u8');
  });

  test('tensor infos, alignment padding and data rows land where the header says', async () => {
    const path = join(dir, 'tensors.gguf');
    const tensors = [
      { name: 'a', dims: [3], type: GgmlType.F32 }, // 12 bytes: the next tensor needs padding
      { name: 'b', dims: [4, 2, 3], type: GgmlType.F16 },
      { name: 'q', dims: [64, 2], type: GgmlType.Q8_0 }, // 2 blocks of 34 bytes per row
    ];
    const fillRow = (name: string) => (row: number, out: Buffer) => {
      for (let i = 0; i < out.length; i++) out[i] = (name.charCodeAt(0) + row * 7 + i) & 0xff;
    };
    const layout = await writeGguf(path, {
      metadata: { 'general.alignment': gv.u32(64), 'general.name': gv.str('t') },
      tensors: tensors.map((t) => ({ ...t, fillRow: fillRow(t.name) })),
    });
    const h = await readGgufHeader(path);
    const file = readFileSync(path);
    expect(h.fileSize).toBe(file.length);
    expect(h.dataOffset % 64).toBe(0);
    expect(h.dataOffset).toBe(layout.dataOffset);
    expect(h.tensors).toEqual([
      { name: 'a', dims: [3], type: GgmlType.F32, offset: 0, bytes: 12 },
      { name: 'b', dims: [4, 2, 3], type: GgmlType.F16, offset: 64, bytes: 48 },
      { name: 'q', dims: [64, 2], type: GgmlType.Q8_0, offset: 128, bytes: 136 },
    ]);
    expect(file.length).toBe(h.dataOffset + 128 + 136);
    for (const t of h.tensors) {
      const rowLen = tensorBytes([t.dims[0]!], t.type)!;
      for (let r = 0; r < t.bytes / rowLen; r++) {
        const expected = Buffer.alloc(rowLen);
        fillRow(t.name)(r, expected);
        const at = h.dataOffset + t.offset + r * rowLen;
        expect(file.subarray(at, at + rowLen)).toEqual(expected);
      }
    }
    // Padding between tensors is zeros.
    expect(file.subarray(h.dataOffset + 12, h.dataOffset + 64).every((b) => b === 0)).toBe(true);
  });

  test('rows larger than the write chunk, async fillRow, and many rows across chunk boundaries', async () => {
    const path = join(dir, 'big-rows.gguf');
    const wide = 10_000; // 40 KB rows with an 8 KB chunk
    await writeGguf(
      path,
      {
        metadata: {},
        tensors: [
          {
            name: 'wide',
            dims: [wide, 3],
            type: GgmlType.F32,
            fillRow: async (row, out) => {
              await new Promise((r) => setImmediate(r));
              for (let i = 0; i < wide; i++) out.writeFloatLE(row * wide + i, i * 4);
            },
          },
          { name: 'many', dims: [5, 4000], type: GgmlType.F16, fillRow: (row, out) => void out.writeUInt16LE(row & 0xffff, 0) },
        ],
      },
      { chunkBytes: 8192 },
    );
    const h = await readGgufHeader(path);
    const file = readFileSync(path);
    const [wideT, many] = h.tensors;
    for (const i of [0, 1, wide - 1, wide, 3 * wide - 1]) expect(file.readFloatLE(h.dataOffset + wideT!.offset + i * 4)).toBe(i);
    for (const r of [0, 1, 819, 820, 3999]) {
      const at = h.dataOffset + many!.offset + r * 10;
      expect(file.readUInt16LE(at)).toBe(r);
      expect(file.subarray(at + 2, at + 10).every((b) => b === 0)).toBe(true); // out is zeroed before fillRow
    }
  });

  test('the writer refuses what llama.cpp would refuse', () => {
    const t = (over: object) => ({ name: 'x', dims: [32], type: GgmlType.F32, fillRow: () => {}, ...over });
    expect(() => encodeGgufHeader({ metadata: {}, tensors: [t({}), t({})] })).toThrow(/duplicate tensor/);
    expect(() => encodeGgufHeader({ metadata: {}, tensors: [t({ dims: [] })] })).toThrow(/dims/);
    expect(() => encodeGgufHeader({ metadata: {}, tensors: [t({ dims: [1, 1, 1, 1, 1] })] })).toThrow(/dims/);
    expect(() => encodeGgufHeader({ metadata: {}, tensors: [t({ type: 99 })] })).toThrow(/unknown ggml type/);
    expect(() => encodeGgufHeader({ metadata: {}, tensors: [t({ dims: [33], type: GgmlType.Q4_0 })] })).toThrow(/blocks/);
    expect(() => encodeGgufHeader({ metadata: { a: gv.u8(256) }, tensors: [] })).toThrow(/metadata a/);
    expect(() => encodeGgufHeader({ metadata: { a: gv.i32(1.5) }, tensors: [] })).toThrow(/metadata a/);
    expect(() => encodeGgufHeader({ metadata: { 'general.alignment': gv.u32(48) }, tensors: [] })).toThrow(/power of two/);
    expect(() =>
      encodeGgufHeader({
        metadata: [
          ['k', gv.u8(1)],
          ['k', gv.u8(2)],
        ],
        tensors: [],
      }),
    ).toThrow(/duplicate metadata key/);
  });
});

describe('summarizeGguf and sizes', () => {
  test('reads the architecture keys, reduces per-layer arrays, defaults key/value length to embd / heads', async () => {
    const path = join(dir, 'summary.gguf');
    await writeGguf(path, {
      metadata: {
        'general.architecture': gv.str('qwen2'),
        'general.name': gv.str('Q'),
        'general.file_type': gv.u32(15),
        'qwen2.context_length': gv.u32(32768),
        'qwen2.embedding_length': gv.u32(1024),
        'qwen2.block_count': gv.u32(2),
        'qwen2.feed_forward_length': gv.u32(2816),
        'qwen2.attention.head_count': gv.u32(16),
        'qwen2.attention.head_count_kv': gv.i32s([4, 8]),
        'tokenizer.ggml.tokens': gv.strs(['a', 'b', 'c']),
      },
      tensors: [
        { name: 'token_embd.weight', dims: [256, 3], type: GgmlType.Q4_K, fillRow: () => {} },
        { name: 'blk.0.attn_q.weight', dims: [256, 4], type: GgmlType.Q6_K, fillRow: () => {} },
        { name: 'blk.1.attn_q.weight', dims: [256, 4], type: GgmlType.Q8_0, fillRow: () => {} },
        { name: 'blk.1.attn_norm.weight', dims: [256], type: GgmlType.F32, fillRow: () => {} },
        { name: 'output.weight', dims: [256, 3], type: GgmlType.F16, fillRow: () => {} },
        { name: 'rope_freqs.weight', dims: [32], type: GgmlType.F32, fillRow: () => {} },
      ],
    });
    const h = await readGgufHeader(path);
    expect(h.tensors.map((t) => t.bytes)).toEqual([3 * 144, 4 * 210, 4 * 8 * 34, 1024, 3 * 512, 128]);
    expect(summarizeGguf(h)).toEqual({
      architecture: 'qwen2',
      name: 'Q',
      contextLength: 32768,
      embeddingLength: 1024,
      blockCount: 2,
      headCount: 16,
      headCountKv: 8,
      keyLength: 64,
      valueLength: 64,
      feedForwardLength: 2816,
      vocabSize: 3,
      tensorBytes: 432 + 840 + 1088 + 1024 + 1536 + 128,
      fileType: 15,
    });
    expect(layerWeightBytes(h)).toEqual({ layers: [840, 1088 + 1024], output: 1536, tokenEmbedding: 432, other: 128 });
  });

  test('explicit key_length/value_length win; a file without an architecture still summarizes', async () => {
    const path = join(dir, 'summary2.gguf');
    await writeGguf(path, {
      metadata: {
        'general.architecture': gv.str('gemma3'),
        'gemma3.embedding_length': gv.u32(640),
        'gemma3.attention.head_count': gv.u32(4),
        'gemma3.attention.key_length': gv.u32(256),
        'gemma3.attention.value_length': gv.u32(128),
        'gemma3.vocab_size': gv.u32(262144),
      },
      tensors: [],
    });
    const s = summarizeGguf(await readGgufHeader(path));
    expect(s).toMatchObject({ keyLength: 256, valueLength: 128, headCountKv: 4, vocabSize: 262144, contextLength: 0 });
    expect(s.feedForwardLength).toBeUndefined();

    const bare = join(dir, 'bare.gguf');
    await writeGguf(bare, { metadata: {}, tensors: [] });
    expect(summarizeGguf(await readGgufHeader(bare))).toEqual({
      architecture: 'unknown',
      contextLength: 0,
      embeddingLength: 0,
      blockCount: 0,
      headCount: 0,
      headCountKv: 0,
      keyLength: 0,
      valueLength: 0,
      tensorBytes: 0,
    });
  });

  test('block sizes of common types', () => {
    expect(tensorBytes([4096, 4096], GgmlType.F32)).toBe(4096 * 4096 * 4);
    expect(tensorBytes([4096, 4096], GgmlType.F16)).toBe(4096 * 4096 * 2);
    expect(tensorBytes([4096], GgmlType.Q8_0)).toBe(128 * 34);
    expect(tensorBytes([4096], GgmlType.Q4_0)).toBe(128 * 18);
    expect(tensorBytes([4096], GgmlType.Q4_K)).toBe(16 * 144);
    expect(tensorBytes([4096], GgmlType.Q6_K)).toBe(16 * 210);
    expect(tensorBytes([4096], GgmlType.BF16)).toBe(8192);
    expect(tensorBytes([100], GgmlType.Q4_K)).toBeUndefined();
    expect(tensorBytes([256], 1234)).toBeUndefined();
  });
});
