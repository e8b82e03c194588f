/**
 * A bounded, buffered reader over a file: reads forward through a window of at most `window` bytes (or one item,
 * if a single item is larger), so reading the header of a 500 MB file touches a few KB to a few MB. Every read
 * first checks the bytes exist, so a truncated file fails with GgufError instead of returning garbage.
 */
import type { FileHandle } from 'node:fs/promises';
import { GgufError } from './errors.js';

export class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  /** File offset of buf[0]. */
  private bufStart = 0;
  /** File offset of the next byte to read. */
  pos = 0;

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    readonly path: string,
    private readonly window = 64 * 1024,
  ) {}

  get remaining(): number {
    return this.size - this.pos;
  }

  fail(message: string): never {
    throw new GgufError(this.path, message);
  }

  /** Make n bytes at pos available in buf; throws when the file ends first. */
  private async need(n: number, what: string): Promise<number> {
    if (n > this.remaining) this.fail(`truncated: ${what} at byte ${this.pos} needs ${n} bytes, the file ends at ${this.size}`);
    const at = this.pos - this.bufStart;
    if (at >= 0 && at + n <= this.buf.length) return at;
    const len = Math.min(Math.max(n, this.window), this.remaining);
    const next = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await this.fh.read(next, got, len - got, this.pos + got);
      if (bytesRead === 0) this.fail(`truncated: file shrank while reading at byte ${this.pos + got}`);
      got += bytesRead;
    }
    this.buf = next;
    this.bufStart = this.pos;
    return 0;
  }

  async bytes(n: number, what: string): Promise<Buffer> {
    const at = await this.need(n, what);
    this.pos += n;
    return this.buf.subarray(at, at + n);
  }

  async u8(what: string): Promise<number> {
    const at = await this.need(1, what);
    this.pos += 1;
    return this.buf[at]!;
  }
  async u32(what: string): Promise<number> {
    const at = await this.need(4, what);
    this.pos += 4;
    return this.buf.readUInt32LE(at);
  }
  async i32(what: string): Promise<number> {
    const at = await this.need(4, what);
    this.pos += 4;
    return this.buf.readInt32LE(at);
  }
  /** u64 as a bigint (callers decide what is absurd). */
  async u64(what: string): Promise<bigint> {
    const at = await this.need(8, what);
    this.pos += 8;
    return this.buf.readBigUInt64LE(at);
  }
  async i64(what: string): Promise<bigint> {
    const at = await this.need(8, what);
    this.pos += 8;
    return this.buf.readBigInt64LE(at);
  }
}
