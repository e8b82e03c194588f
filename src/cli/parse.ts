/** Flag value parsers: each throws commander's InvalidArgumentError so bad input exits 2 with usage. */
import { InvalidArgumentError } from 'commander';
import { parseDeviceSizes, parseSize } from '../devices/size.js';

export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`'${value}' is not an integer.`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${n} is out of range (${min}..${max}).`);
    return n;
  };
}

export function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(`'${value}' is not a number of seconds.`);
  }
  return n;
}

/** "64MiB", "1.5G", "1048576" -> bytes (the devices room owns size syntax). */
export function bytes(value: string): number {
  try {
    return parseSize(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** "CUDA0=8GiB,CPU=512MiB" -> bytes per device. */
export function deviceSizes(value: string): Record<string, number> {
  try {
    return parseDeviceSizes(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export function oneOf<T extends string>(choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`'${value}' is not one of ${choices.join(', ')}.`);
    }
    return value as T;
  };
}
