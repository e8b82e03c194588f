/** A seeded source of choices for the fuzz generators: one seed, the same requests in the same order. */
import { xorshift32 } from '../../../src/gguf/prng.js';

export class Random {
  private readonly next: () => number;

  constructor(readonly seed: number) {
    this.next = xorshift32(seed);
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next() / 2 ** 32;
  }

  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)]!;
  }

  /** A short printable word (lowercase letters). */
  word(min = 1, max = 8): string {
    let s = '';
    for (let n = this.int(min, max); n > 0; n--) s += String.fromCharCode(97 + this.int(0, 25));
    return s;
  }

  /** Arbitrary bytes, invalid UTF-8 included. */
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }
}
