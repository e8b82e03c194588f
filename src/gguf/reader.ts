/**
 * readGgufHeader: the metadata and tensor infos of a GGUF file (v2 or v3), never the weights.
 *
 * Corrupt input fails fast with GgufError: every count and length is checked against the bytes left in the file
 * (and against generous caps) before anything is allocated, so garbage cannot make this hang or ask for
 * gigabytes. A file truncated in its data section fails too: its tensors would point past the end.
 */
import { open, stat } from 'node:fs/promises';
import { ByteReader } from './byte-reader.js';
import { GgufError } from './errors.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_SCALAR_BYTES, GgufValueType as T, alignUp, ggmlTypeInfo, ggmlTypeName, tensorBytes } from './types.js';

export { summarizeGguf, layerWeightBytes, type GgufSummary } from './summary.js';
export { GgufError } from './errors.js';
export { GGML_TYPES, GgmlType, ggmlTypeInfo, ggmlTypeName, rowBytes, tensorBytes, type GgmlTypeInfo } from './types.js';

export interface GgufTensorInfo {
  name: string;
  /** Dimensions inner-first, as stored: [row length, rows, ...]. */
  dims: number[];
  /** ggml type number (see GgmlType). */
  type: number;
  /** Offset of the data relative to dataOffset. */
  offset: number;
  /** Bytes of data; for a type this module does not know, the distance to the next tensor (or end of file). */
  bytes: number;
}

export interface GgufHeader {
  version: number;
  /**
   * Key -> value. Integers are numbers (u64/i64 beyond 2^53 stay bigint), bools are booleans, arrays are arrays.
   */
  metadata: Record<string, unknown>;
  tensors: GgufTensorInfo[];
  /** Absolute file offset where tensor data starts. */
  dataOffset: number;
  fileSize: number;
}

/** Caps far above any real model (vocabularies are ~256k tokens, chat templates a few KB). */
const LIMITS = {
  string: 16 * 2 ** 20,
  arrayItems: 2 ** 24,
  kvCount: 2 ** 20,
  tensorCount: 2 ** 20,
  arrayDepth: 3,
};

/**
 * Header reads running at once. Each holds a file handle, a 64 KiB window and its parsed metadata until done; a
 * router starting on a folder of 500 models asks for all their estimates together, and 500 reads at once took
 * ~80 MB of RSS (kept by the heap afterwards) against ~6 MB one after another, for the same CPU time.
 */
const MAX_CONCURRENT_READS = 4;
let reading = 0;
const queued: (() => void)[] = [];

async function slot(): Promise<() => void> {
  if (reading >= MAX_CONCURRENT_READS) await new Promise<void>((resolve) => queued.push(resolve));
  else reading++;
  // The slot passes straight to the next waiter (reading stays counted), so no newcomer can overtake it.
  return () => {
    const next = queued.shift();
    if (next) next();
    else reading--;
  };
}

export interface ReadGgufOptions {
  /**
   * String arrays (the vocabulary, its merges) come back as empty arrays of their length, their items checked and
   * passed over, not decoded: a 150k-token vocabulary is ~150k strings, and a memory estimate needs only its length.
   */
  skipStringArrays?: boolean;
}

export async function readGgufHeader(path: string, opts: ReadGgufOptions = {}): Promise<GgufHeader> {
  const release = await slot();
  try {
    return await readHeaderNow(path, opts);
  } finally {
    release();
  }
}

async function readHeaderNow(path: string, opts: ReadGgufOptions): Promise<GgufHeader> {
  let size: number;
  try {
    const st = await stat(path);
    // A FIFO or device would block or never end: only regular files are read.
    if (!st.isFile()) throw new GgufError(path, 'not a regular file');
    size = st.size;
  } catch (err) {
    if (err instanceof GgufError) throw err;
    throw new GgufError(path, `cannot read: ${(err as Error).message}`, { cause: err });
  }
  const fh = await open(path, 'r').catch((err: Error) => {
    throw new GgufError(path, `cannot open: ${err.message}`, { cause: err });
  });
  try {
    return await parse(new ByteReader(fh, size, path), opts.skipStringArrays === true);
  } catch (err) {
    if (err instanceof GgufError) throw err;
    throw new GgufError(path, `cannot read: ${(err as Error).message}`, { cause: err });
  } finally {
    await fh.close();
  }
}

async function parse(r: ByteReader, skipStrings: boolean): Promise<GgufHeader> {
  if (r.size < 4) r.fail(`not a GGUF file (${r.size} bytes)`);
  const magic = await r.u32('magic');
  if (magic !== GGUF_MAGIC) r.fail(`not a GGUF file (magic ${describeMagic(magic)})`);
  const version = await r.u32('version');
  if (version === 1) r.fail('GGUF version 1 is not supported (convert the file with a newer llama.cpp)');
  if (version !== 2 && version !== 3) {
    r.fail(version > 0xffff && (version & 0xffff) === 0 ? 'big-endian GGUF is not supported' : `unsupported GGUF version ${version}`);
  }
  const tensorCount = await count(r, 'tensor count', LIMITS.tensorCount, 8 + 4 + 4 + 8);
  const kvCount = await count(r, 'metadata count', LIMITS.kvCount, 8 + 4 + 1);

  const metadata: Record<string, unknown> = Object.create(null);
  for (let i = 0; i < kvCount; i++) {
    const key = await str(r, `metadata key #${i}`);
    if (key in metadata) r.fail(`duplicate metadata key ${key}`);
    const type = await r.u32(`type of ${key}`);
    metadata[key] = await value(r, type, key, 0, skipStrings);
  }

  const alignment = metadata['general.alignment'] ?? GGUF_DEFAULT_ALIGNMENT;
  if (typeof alignment !== 'number' || !Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    r.fail(`general.alignment must be a power of two, got ${String(alignment)}`);
  }

  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = await str(r, `tensor #${i} name`);
    if (names.has(name)) r.fail(`duplicate tensor ${name}`);
    names.add(name);
    const nDims = await r.u32(`tensor ${name} dimension count`);
    if (nDims < 1 || nDims > 4) r.fail(`tensor ${name} has ${nDims} dimensions (1 to 4 allowed)`);
    const dims: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const n = await r.u64(`tensor ${name} dimension ${d}`);
      if (n > BigInt(Number.MAX_SAFE_INTEGER)) r.fail(`tensor ${name} dimension ${d} is absurd (${n})`);
      dims.push(Number(n));
      elements *= Number(n);
    }
    if (!Number.isSafeInteger(elements)) r.fail(`tensor ${name} has an absurd element count`);
    const type = await r.u32(`tensor ${name} type`);
    const offset = await r.u64(`tensor ${name} offset`);
    if (offset > BigInt(r.size)) r.fail(`tensor ${name} offset ${offset} is past the end of the file`);
    if (Number(offset) % alignment !== 0) r.fail(`tensor ${name} offset ${offset} is not a multiple of the alignment ${alignment}`);
    const info = ggmlTypeInfo(type);
    let bytes = -1;
    if (info) {
      const b = tensorBytes(dims, type);
      if (b === undefined) r.fail(`tensor ${name}: row length ${dims[0]} is not a whole number of ${ggmlTypeName(type)} blocks`);
      bytes = b;
    }
    tensors.push({ name, dims, type, offset: Number(offset), bytes });
  }

  const dataOffset = alignUp(r.pos, alignment);
  if (tensorCount > 0 && dataOffset > r.size) r.fail(`truncated: tensor data would start at byte ${dataOffset}, the file ends at ${r.size}`);
  fillUnknownSizes(tensors, r.size - dataOffset);
  for (const t of tensors) {
    const end = dataOffset + t.offset + t.bytes;
    if (end > r.size) r.fail(`truncated: tensor ${t.name} ends at byte ${end}, the file ends at ${r.size}`);
  }
  return { version, metadata: { ...metadata }, tensors, dataOffset, fileSize: r.size };
}

/** A tensor of a type unknown here gets the bytes up to the next tensor (or the end of the data). */
function fillUnknownSizes(tensors: GgufTensorInfo[], dataBytes: number): void {
  if (!tensors.some((t) => t.bytes < 0)) return;
  const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 0; i < byOffset.length; i++) {
    const t = byOffset[i]!;
    if (t.bytes < 0) t.bytes = Math.max(0, (byOffset[i + 1]?.offset ?? dataBytes) - t.offset);
  }
}

async function count(r: ByteReader, what: string, cap: number, minBytesEach: number): Promise<number> {
  const n = await r.u64(what);
  if (n > BigInt(cap)) r.fail(`${what} ${n} is absurd (at most ${cap})`);
  const least = Number(n) * minBytesEach;
  if (least > r.remaining) r.fail(`truncated or corrupt: ${what} ${n} needs at least ${least} bytes, ${r.remaining} left in the file`);
  return Number(n);
}

async function str(r: ByteReader, what: string): Promise<string> {
  return (await strBytes(r, what)).toString('utf8');
}

async function strBytes(r: ByteReader, what: string): Promise<Buffer> {
  const len = await r.u64(`${what} length`);
  if (len > BigInt(LIMITS.string)) r.fail(`${what}: string length ${len} is absurd (at most ${LIMITS.string})`);
  if (len > BigInt(r.remaining)) r.fail(`truncated or corrupt: ${what} needs ${len} bytes, ${r.remaining} left in the file`);
  return r.bytes(Number(len), what);
}

async function value(r: ByteReader, type: number, key: string, depth: number, skipStrings = false): Promise<unknown> {
  switch (type) {
    case T.UINT8:
      return r.u8(key);
    case T.INT8:
      return ((await r.u8(key)) << 24) >> 24;
    case T.UINT16:
      return (await r.bytes(2, key)).readUInt16LE(0);
    case T.INT16:
      return (await r.bytes(2, key)).readInt16LE(0);
    case T.UINT32:
      return r.u32(key);
    case T.INT32:
      return r.i32(key);
    case T.FLOAT32:
      return (await r.bytes(4, key)).readFloatLE(0);
    case T.FLOAT64:
      return (await r.bytes(8, key)).readDoubleLE(0);
    case T.UINT64:
      return narrow(await r.u64(key));
    case T.INT64:
      return narrow(await r.i64(key));
    case T.BOOL: {
      const b = await r.u8(key);
      if (b > 1) r.fail(`${key}: bool byte ${b} is neither 0 nor 1`);
      return b === 1;
    }
    case T.STRING:
      return str(r, key);
    case T.ARRAY: {
      if (depth >= LIMITS.arrayDepth) r.fail(`${key}: arrays nested deeper than ${LIMITS.arrayDepth}`);
      const itemType = await r.u32(`${key} item type`);
      if (itemType > T.FLOAT64) r.fail(`${key}: unknown array item type ${itemType}`);
      const minBytes = GGUF_SCALAR_BYTES[itemType] ?? 8; // strings and arrays: at least their u64 length
      const n = await count(r, `${key} item count`, LIMITS.arrayItems, minBytes);
      if (itemType !== T.STRING && itemType !== T.ARRAY) return fixedArray(r, itemType, n, key);
      const items: unknown[] = new Array(n);
      if (itemType === T.STRING && skipStrings) {
        for (let i = 0; i < n; i++) await strBytes(r, key);
        return items;
      }
      for (let i = 0; i < n; i++) items[i] = await value(r, itemType, key, depth + 1, skipStrings);
      return items;
    }
    default:
      return r.fail(`${key}: unknown value type ${type}`);
  }
}

/** Fixed-size items are read in slices of at most 64 KiB, so a big array never needs one big read. */
async function fixedArray(r: ByteReader, itemType: number, n: number, key: string): Promise<unknown[]> {
  const size = GGUF_SCALAR_BYTES[itemType]!;
  const out: unknown[] = new Array(n);
  const perSlice = Math.max(1, Math.floor(65536 / size));
  for (let i = 0; i < n; i += perSlice) {
    const k = Math.min(perSlice, n - i);
    const b = await r.bytes(k * size, key);
    for (let j = 0; j < k; j++) out[i + j] = decodeFixed(b, j * size, itemType, key, r);
  }
  return out;
}

function decodeFixed(b: Buffer, at: number, type: number, key: string, r: ByteReader): unknown {
  switch (type) {
    case T.UINT8:
      return b.readUInt8(at);
    case T.INT8:
      return b.readInt8(at);
    case T.UINT16:
      return b.readUInt16LE(at);
    case T.INT16:
      return b.readInt16LE(at);
    case T.UINT32:
      return b.readUInt32LE(at);
    case T.INT32:
      return b.readInt32LE(at);
    case T.FLOAT32:
      return b.readFloatLE(at);
    case T.FLOAT64:
      return b.readDoubleLE(at);
    case T.UINT64:
      return narrow(b.readBigUInt64LE(at));
    case T.INT64:
      return narrow(b.readBigInt64LE(at));
    case T.BOOL: {
      const v = b.readUInt8(at);
      if (v > 1) r.fail(`${key}: bool byte ${v} is neither 0 nor 1`);
      return v === 1;
    }
    default:
      return r.fail(`${key}: unknown array item type ${type}`);
  }
}

function narrow(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
}

function describeMagic(magic: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(magic);
  const text = b.toString('latin1');
  return /^[\x20-\x7e]{4}$/.test(text) ? `"${text}"` : `0x${magic.toString(16).padStart(8, '0')}`;
}
