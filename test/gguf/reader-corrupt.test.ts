/**
 * Truncated and corrupt files: readGgufHeader must throw GgufError (naming the file) quickly, never hang, never
 * allocate what a garbage count asks for.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GgmlType, GgufError, readGgufHeader } from '../../src/gguf/reader.js';
import { xorshift32 } from '../../src/gguf/prng.js';
import { gv } from '../../src/gguf/values.js';
import { encodeGgufHeader, writeGguf } from '../../src/gguf/writer.js';

let dir: string;
let good: Buffer;
let headerEnd: number;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gguf-bad-'));
  const path = join(dir, 'good.gguf');
  const layout = await writeGguf(path, {
    metadata: {
      'general.architecture': gv.str('llama'),
      'llama.block_count': gv.u32(1),
      'tokenizer.ggml.tokens': gv.strs(['<unk>', 'a', 'b']),
      'tokenizer.ggml.scores': gv.f32s([0, 0, 0]),
    },
    tensors: [
      { name: 'token_embd.weight', dims: [32, 3], type: GgmlType.F16, fillRow: (_r, out) => void out.fill(1) },
      { name: 'output_norm.weight', dims: [32], type: GgmlType.F32, fillRow: () => {} },
    ],
  });
  good = readFileSync(path);
  headerEnd = layout.dataOffset;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(bytes: Buffer): string {
  const path = join(dir, `f${n++}.gguf`);
  writeFileSync(path, bytes);
  return path;
}

async function expectGgufError(path: string, message?: RegExp): Promise<GgufError> {
  const started = Date.now();
  const err = await readGgufHeader(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GgufError);
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).message).toContain(path);
  if (message) expect((err as Error).message).toMatch(message);
  expect(Date.now() - started).toBeLessThan(1000);
  return err as GgufError;
}

/** A header with one field replaced: patch(buffer) edits a copy of the good file. */
function patched(patch: (b: Buffer) => void): string {
  const b = Buffer.from(good);
  patch(b);
  return file(b);
}

test('the good file reads', async () => {
  const h = await readGgufHeader(file(good));
  expect(h.tensors.map((t) => t.name)).toEqual(['token_embd.weight', 'output_norm.weight']);
});

test('empty, tiny and non-GGUF files', async () => {
  await expectGgufError(file(Buffer.alloc(0)), /not a GGUF file/);
  await expectGgufError(file(Buffer.from('GG')), /not a GGUF file/);
  await expectGgufError(file(Buffer.from('{"model": "not gguf at all"}')), /magic "\{"mo"/);
  await expectGgufError(file(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0])), /magic/);
});

test('every truncation of the header, and of the data, is an error', async () => {
  // Each prefix of the header (and a few cuts in the data) must fail; none may hang or read garbage.
  const cuts = [...Array(headerEnd).keys(), headerEnd + 1, good.length - 1];
  const started = Date.now();
  for (const cut of cuts) await expectGgufError(file(good.subarray(0, cut)), cut < headerEnd ? /truncated|not a GGUF/ : /truncated: tensor/);
  expect(Date.now() - started).toBeLessThan(10_000);
});

test('absurd counts and lengths fail before allocating', async () => {
  // Offsets in the good file: magic 0, version 4, tensor count 8, kv count 16, first key length 24.
  await expectGgufError(patched((b) => b.writeBigUInt64LE(2n ** 62n, 8)), /tensor count .* absurd/);
  await expectGgufError(patched((b) => b.writeBigUInt64LE(1_000_000n, 8)), /truncated or corrupt: tensor count 1000000 needs/);
  await expectGgufError(patched((b) => b.writeBigUInt64LE(2n ** 64n - 1n, 16)), /metadata count .* absurd/);
  await expectGgufError(patched((b) => b.writeBigUInt64LE(2n ** 40n, 24)), /string length .* absurd/);
  // Array item count of tokenizer.ggml.tokens: find it after its key and type fields.
  const key = good.indexOf('tokenizer.ggml.tokens');
  const countAt = key + 'tokenizer.ggml.tokens'.length + 4 + 4;
  expect(good.readBigUInt64LE(countAt)).toBe(3n);
  await expectGgufError(patched((b) => b.writeBigUInt64LE(2n ** 33n, countAt)), /item count .* absurd/);
  await expectGgufError(patched((b) => b.writeBigUInt64LE(100_000n, countAt)), /truncated or corrupt: tokenizer.ggml.tokens item count 100000/);
  await expectGgufError(patched((b) => b.writeUInt32LE(77, countAt - 4)), /unknown array item type 77/);
  await expectGgufError(patched((b) => b.writeUInt32LE(13, key - 8 + 8 + 'tokenizer.ggml.tokens'.length)), /unknown value type 13/);
});

test('bad versions, dimensions, types and offsets', async () => {
  await expectGgufError(patched((b) => b.writeUInt32LE(1, 4)), /version 1 is not supported/);
  await expectGgufError(patched((b) => b.writeUInt32LE(99, 4)), /unsupported GGUF version 99/);
  await expectGgufError(patched((b) => b.writeUInt32LE(0x03000000, 4)), /big-endian/);
  const name = good.indexOf('token_embd.weight', 30);
  const nDimsAt = name + 'token_embd.weight'.length;
  await expectGgufError(patched((b) => b.writeUInt32LE(9, nDimsAt)), /9 dimensions/);
  await expectGgufError(patched((b) => b.writeBigUInt64LE(2n ** 60n, nDimsAt + 4)), /absurd|truncated/);
  const typeAt = nDimsAt + 4 + 16;
  await expectGgufError(patched((b) => b.writeUInt32LE(GgmlType.Q4_K, typeAt)), /not a whole number of Q4_K blocks/);
  await expectGgufError(patched((b) => b.writeBigUInt64LE(7n, typeAt + 4)), /not a multiple of the alignment/);
  await expectGgufError(patched((b) => b.writeBigUInt64LE(2n ** 50n, typeAt + 4)), /past the end/);
});

test('a tensor of an unknown type gets the bytes up to the next tensor', async () => {
  const name = good.indexOf('token_embd.weight', 30);
  const typeAt = name + 'token_embd.weight'.length + 4 + 16;
  const h = await readGgufHeader(patched((b) => b.writeUInt32LE(200, typeAt)));
  expect(h.tensors[0]).toMatchObject({ type: 200, offset: 0, bytes: h.tensors[1]!.offset });
});

test('not a regular file, missing file, FIFO: errors, not hangs', async () => {
  await expectGgufError(dir, /not a regular file/);
  await expectGgufError(join(dir, 'missing.gguf'), /cannot read/);
  await expectGgufError('/dev/zero', /not a regular file/);
  const fifo = join(dir, 'fifo.gguf');
  execFileSync('mkfifo', [fifo]);
  await expectGgufError(fifo, /not a regular file/);
});

test('random corruption never escapes as anything but GgufError', async () => {
  const rng = xorshift32(42);
  const started = Date.now();
  for (let i = 0; i < 300; i++) {
    const b = Buffer.from(good);
    const flips = 1 + (rng() % 4);
    for (let k = 0; k < flips; k++) b[8 + (rng() % (headerEnd - 8))] = rng() & 0xff;
    const err = await readGgufHeader(file(b)).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (err !== undefined) expect(err).toBeInstanceOf(GgufError);
  }
  expect(Date.now() - started).toBeLessThan(15_000);
});

test('a header bigger than the read window is read in pieces', async () => {
  const tokens = Array.from({ length: 20_000 }, (_, i) => `token-${i}`);
  const path = join(dir, 'wide.gguf');
  await writeGguf(path, { metadata: { 'tokenizer.ggml.tokens': gv.strs(tokens), 'x.f32s': gv.f32s(tokens.map((_, i) => i)) }, tensors: [] });
  const h = await readGgufHeader(path);
  expect(h.metadata['tokenizer.ggml.tokens']).toEqual(tokens);
  expect((h.metadata['x.f32s'] as number[])[19_999]).toBe(19_999);
  // and the same file cut in the middle of the token array
  truncateSync(path, 100_000);
  await expectGgufError(path, /truncated/);
  expect(encodeGgufHeader({ metadata: {}, tensors: [] }).header.length).toBe(32);
});
