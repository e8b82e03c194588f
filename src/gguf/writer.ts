/**
 * A streaming GGUF v3 writer. The header (metadata and tensor infos) is built in memory, since it is small; tensor
 * data is produced row by row through a callback into a pair of reused chunk buffers, written with FileHandle
 * writes that are awaited before a buffer is reused. Memory stays flat whatever the file size: two chunks
 * (1 MiB each by default, or one row if a row is larger) plus the header.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { GgufError } from './errors.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_SCALAR_BYTES, GGUF_VERSION, GgufValueType as T, alignUp, ggmlTypeInfo, ggmlTypeName, rowBytes } from './types.js';
import type { GgufScalarType, GgufValue } from './values.js';

export interface GgufTensorSource {
  name: string;
  /** Dimensions inner-first, as GGUF stores them: [row length, rows, ...]. */
  dims: readonly number[];
  /** ggml type number (GgmlType.F16, ...). */
  type: number;
  /**
   * Produce row `row` (0-based over all rows of the tensor) into `out`, which is exactly one row long
   * (dims[0] elements encoded in `type`) and zeroed beforehand. May return a promise.
   */
  fillRow(row: number, out: Buffer): void | Promise<void>;
}

export interface GgufWriteSpec {
  /** Key/value metadata in file order. `general.alignment` (u32) is honoured if present. */
  metadata: Record<string, GgufValue> | Iterable<readonly [string, GgufValue]>;
  tensors: readonly GgufTensorSource[];
}

export interface GgufWriteOptions {
  /** Bytes per write (default 1 MiB). */
  chunkBytes?: number;
}

export interface GgufLayout {
  alignment: number;
  /** File offset where tensor data starts. */
  dataOffset: number;
  /** Per tensor: offset relative to dataOffset, and its byte size. */
  tensors: { name: string; offset: number; bytes: number; rowBytes: number; rows: number }[];
  /** Total file size. */
  bytes: number;
}

/** Write a GGUF file at `path` (created or truncated). Returns where everything landed. */
export async function writeGguf(path: string, spec: GgufWriteSpec, options: GgufWriteOptions = {}): Promise<GgufLayout> {
  const { header, layout } = encodeGgufHeader(spec, path);
  const fh = await open(path, 'w');
  try {
    const sink = new ChunkSink(fh, Math.max(4096, options.chunkBytes ?? 1 << 20));
    sink.take(header.length).set(header);
    let pos = header.length;
    for (let i = 0; i < spec.tensors.length; i++) {
      const src = spec.tensors[i]!;
      const info = layout.tensors[i]!;
      const start = layout.dataOffset + info.offset;
      if (start > pos) (await sink.reserve(start - pos)).fill(0);
      for (let r = 0; r < info.rows; r++) {
        const out = await sink.reserve(info.rowBytes);
        out.fill(0);
        const done = src.fillRow(r, out);
        if (done) await done;
      }
      pos = start + info.bytes;
    }
    await sink.close();
  } finally {
    await fh.close();
  }
  return layout;
}

/**
 * The header bytes of a GGUF file (everything before the tensor data, padding included) and the layout of the
 * data after it. Exported for tests and tools that want to craft files by hand.
 */
export function encodeGgufHeader(spec: GgufWriteSpec, path = '<memory>'): { header: Buffer; layout: GgufLayout } {
  const entries = Symbol.iterator in spec.metadata ? [...(spec.metadata as Iterable<readonly [string, GgufValue]>)] : Object.entries(spec.metadata);
  const keys = new Set<string>();
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  for (const [key, value] of entries) {
    if (keys.has(key)) throw new GgufError(path, `duplicate metadata key ${key}`);
    keys.add(key);
    if (key === 'general.alignment') {
      if (value.type !== T.UINT32 || !Number.isInteger(value.value) || value.value <= 0 || (value.value & (value.value - 1)) !== 0) {
        throw new GgufError(path, 'general.alignment must be a u32 power of two');
      }
      alignment = value.value;
    }
  }

  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(spec.tensors.length);
  w.u64(entries.length);
  for (const [key, value] of entries) {
    w.str(key);
    w.u32(value.type);
    try {
      if (value.type === T.ARRAY) {
        w.u32(value.itemType);
        w.u64(value.value.length);
        for (const item of value.value) writeScalar(w, value.itemType, item);
      } else {
        writeScalar(w, value.type, value.value);
      }
    } catch (err) {
      throw new GgufError(path, `metadata ${key}: ${(err as Error).message}`, { cause: err });
    }
  }

  const names = new Set<string>();
  const tensors: GgufLayout['tensors'] = [];
  let offset = 0;
  for (const t of spec.tensors) {
    if (names.has(t.name)) throw new GgufError(path, `duplicate tensor name ${t.name}`);
    names.add(t.name);
    if (t.dims.length < 1 || t.dims.length > 4 || !t.dims.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw new GgufError(path, `tensor ${t.name}: dims must be 1 to 4 positive integers, got [${t.dims.join(', ')}]`);
    }
    if (!ggmlTypeInfo(t.type)) throw new GgufError(path, `tensor ${t.name}: unknown ggml type ${t.type}`);
    const row = rowBytes(t.dims[0]!, t.type);
    if (row === undefined) throw new GgufError(path, `tensor ${t.name}: row length ${t.dims[0]} is not a whole number of ${ggmlTypeName(t.type)} blocks`);
    const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
    offset = alignUp(offset, alignment);
    tensors.push({ name: t.name, offset, bytes: row * rows, rowBytes: row, rows });
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type);
    w.u64(offset);
    offset += row * rows;
  }
  const dataOffset = alignUp(w.length, alignment);
  w.zeros(dataOffset - w.length);
  const bytes = tensors.length ? dataOffset + offset : dataOffset;
  return { header: w.toBuffer(), layout: { alignment, dataOffset, tensors, bytes } };
}

function writeScalar(w: ByteWriter, type: GgufScalarType, v: unknown): void {
  const int = (lo: number, hi: number) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`${String(v)} is not an integer in [${lo}, ${hi}]`);
    return v;
  };
  switch (type) {
    case T.UINT8:
      return w.raw(1, (b) => b.writeUInt8(int(0, 0xff)));
    case T.INT8:
      return w.raw(1, (b) => b.writeInt8(int(-0x80, 0x7f)));
    case T.UINT16:
      return w.raw(2, (b) => b.writeUInt16LE(int(0, 0xffff)));
    case T.INT16:
      return w.raw(2, (b) => b.writeInt16LE(int(-0x8000, 0x7fff)));
    case T.UINT32:
      return w.u32(int(0, 0xffffffff));
    case T.INT32:
      return w.raw(4, (b) => b.writeInt32LE(int(-0x80000000, 0x7fffffff)));
    case T.FLOAT32:
    case T.FLOAT64:
      if (typeof v !== 'number') throw new TypeError(`${String(v)} is not a number`);
      return type === T.FLOAT32 ? w.raw(4, (b) => b.writeFloatLE(v)) : w.raw(8, (b) => b.writeDoubleLE(v));
    case T.UINT64:
    case T.INT64: {
      const big = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : undefined;
      if (big === undefined) throw new TypeError(`${String(v)} is not a safe integer or bigint`);
      return type === T.UINT64 ? w.raw(8, (b) => b.writeBigUInt64LE(big)) : w.raw(8, (b) => b.writeBigInt64LE(big));
    }
    case T.BOOL:
      if (typeof v !== 'boolean') throw new TypeError(`${String(v)} is not a boolean`);
      return w.raw(1, (b) => b.writeUInt8(v ? 1 : 0));
    case T.STRING:
      if (typeof v !== 'string') throw new TypeError(`${String(v)} is not a string`);
      return w.str(v);
    default:
      throw new TypeError(`unsupported value type ${String(type)}`);
  }
}

/** Growable little-endian byte buffer for the header. */
class ByteWriter {
  private buf = Buffer.alloc(64 * 1024);
  length = 0;

  private room(n: number): Buffer {
    if (this.length + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    const slice = this.buf.subarray(this.length, this.length + n);
    this.length += n;
    return slice;
  }

  raw(n: number, write: (b: Buffer) => void): void {
    write(this.room(n));
  }
  u32(v: number): void {
    this.room(4).writeUInt32LE(v);
  }
  u64(v: number): void {
    this.room(8).writeBigUInt64LE(BigInt(v));
  }
  str(s: string): void {
    const bytes = Buffer.byteLength(s, 'utf8');
    this.u64(bytes);
    this.room(bytes).write(s, 'utf8');
  }
  zeros(n: number): void {
    this.room(n).fill(0);
  }
  toBuffer(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * Two reused buffers: one is filled while the other is being written. A buffer is reused only after its write
 * resolved, which is the backpressure: a slow disk makes `reserve` wait instead of memory growing.
 */
class ChunkSink {
  private bufs: [Buffer, Buffer];
  private cur = 0;
  private fill = 0;
  private pending: Promise<void> | undefined;
  private position = 0;

  constructor(
    private readonly fh: FileHandle,
    private size: number,
  ) {
    this.bufs = [Buffer.alloc(size), Buffer.alloc(size)];
  }

  /** n bytes of the current buffer, if they fit without a flush (header only: may exceed the chunk size). */
  take(n: number): Buffer {
    if (this.fill + n > this.size) this.grow(this.fill + n);
    const out = this.bufs[this.cur]!.subarray(this.fill, this.fill + n);
    this.fill += n;
    return out;
  }

  /** n bytes to fill, flushing the current buffer first when they do not fit. */
  async reserve(n: number): Promise<Buffer> {
    if (this.fill + n > this.size) {
      await this.flush();
      if (n > this.size) {
        if (this.pending) await this.pending;
        this.grow(n);
      }
    }
    return this.take(n);
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.pending) await this.pending;
  }

  private grow(n: number): void {
    // Only reached with the other buffer idle (nothing pending) or for the first chunk.
    const bigger = Buffer.alloc(n);
    this.bufs[this.cur]!.copy(bigger, 0, 0, this.fill);
    this.bufs = this.cur === 0 ? [bigger, Buffer.alloc(n)] : [Buffer.alloc(n), bigger];
    this.size = n;
  }

  private async flush(): Promise<void> {
    if (this.fill === 0) return;
    if (this.pending) await this.pending;
    const buf = this.bufs[this.cur]!;
    const len = this.fill;
    const at = this.position;
    this.position += len;
    this.pending = writeAll(this.fh, buf, len, at);
    this.cur ^= 1;
    this.fill = 0;
  }
}

async function writeAll(fh: FileHandle, buf: Buffer, len: number, position: number): Promise<void> {
  let done = 0;
  while (done < len) {
    const { bytesWritten } = await fh.write(buf, done, len - done, position + done);
    done += bytesWritten;
  }
}
