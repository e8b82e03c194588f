/**
 * Deterministic pseudo-random numbers for generated weights: same seed, same bytes, on every machine.
 * mulberry32 is tiny, fast in JS (32-bit integer ops only) and good enough for weights nobody trains.
 */

export type Rng = () => number;

/** A generator of uniform 32-bit unsigned integers. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A 32-bit seed from a number and a label (FNV-1a over the label, mixed with the number), so each tensor gets its own stream. */
export function deriveSeed(seed: number, label: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= Math.floor(seed / 0x100000000);
  return Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
}

/** Uniform float in [-1, 1) from a 32-bit integer generator. */
export function uniform(rng: Rng): number {
  return rng() / 0x80000000 - 1;
}
