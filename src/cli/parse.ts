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

/** --allowed-hosts: "gpu-box.lan,.example.org" (a leading dot: the domain and its subdomains; `*`: any). */
export function hostList(value: string, previous: string[] = []): string[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError('give at least one host name.');
  for (const h of items) {
    if (h === '*') continue;
    const name = h.startsWith('.') ? h.slice(1) : h;
    if (!/^(?:[A-Za-z0-9_-]+\.)*[A-Za-z0-9_-]+\.?(?::\d{1,5})?$/.test(name) && !/^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/.test(name)) {
      throw new InvalidArgumentError(`'${h}' is not a host name (NAME, .DOMAIN or *).`);
    }
  }
  return [...previous, ...items];
}

/** --cors-origin: "https://app.example,http://localhost:3000" or `*`. An origin is scheme://host[:port], no path. */
export function originList(value: string, previous: string[] = []): string[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError('give at least one origin.');
  for (const o of items) {
    if (o === '*') continue;
    let u: URL;
    try {
      u = new URL(o);
    } catch {
      throw new InvalidArgumentError(`'${o}' is not an origin (scheme://host[:port], or *).`);
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.pathname !== '/' || u.search || u.hash || u.username || /\/./.test(o.slice(u.protocol.length + 2))) {
      throw new InvalidArgumentError(`'${o}' is not an origin (scheme://host[:port], no path, or *).`);
    }
  }
  return [...previous, ...items];
}
