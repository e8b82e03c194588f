/**
 * Parsers for preset values. Each returns the value or throws a ValueError with a message that reads well after
 * "file [section] key: ". The caller adds file, section and key.
 */

import type { HttpRoute } from './model-spec.js';

export class ValueError extends Error {}

const TRUE = new Set(['true', '1', 'yes', 'on', 'enabled']);
const FALSE = new Set(['false', '0', 'no', 'off', 'disabled']);

/** true/false/1/0/yes/no/on/off (and llama.cpp's enabled/disabled), any case. */
export function parseBool(v: string): boolean {
  const s = v.trim().toLowerCase();
  if (TRUE.has(s)) return true;
  if (FALSE.has(s)) return false;
  throw new ValueError(`"${v}" is not a boolean (use true/false, 1/0, yes/no, on/off)`);
}

export function isBoolWord(v: string): boolean {
  const s = v.trim().toLowerCase();
  return TRUE.has(s) || FALSE.has(s);
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

export function parseNumber(v: string): number {
  if (!NUMBER.test(v.trim())) throw new ValueError(`"${v}" is not a number`);
  return Number(v);
}

export function parseInteger(v: string): number {
  if (!/^[+-]?\d+$/.test(v.trim())) throw new ValueError(`"${v}" is not an integer`);
  return Number(v);
}

export function parsePositiveInteger(v: string): number {
  const n = parseInteger(v);
  if (n <= 0) throw new ValueError(`"${v}" must be a positive integer`);
  return n;
}

export function parseNonNegativeInteger(v: string): number {
  const n = parseInteger(v);
  if (n < 0) throw new ValueError(`"${v}" must not be negative`);
  return n;
}

/** A duration in seconds: a non-negative number (fractions allowed). */
export function parseSeconds(v: string): number {
  if (!NUMBER.test(v.trim())) throw new ValueError(`"${v}" is not a number of seconds`);
  const n = Number(v);
  if (n < 0) throw new ValueError(`"${v}" must not be negative`);
  return n;
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  // Single letters and IEC names are binary: "8G" of VRAM means what nvidia-smi calls 8 GiB.
  k: 2 ** 10,
  kib: 2 ** 10,
  m: 2 ** 20,
  mib: 2 ** 20,
  g: 2 ** 30,
  gib: 2 ** 30,
  t: 2 ** 40,
  tib: 2 ** 40,
  // Explicit SI names are decimal.
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
};

/** A size: bytes (`1048576`), or a number with a unit (`512MiB`, `8GiB`, `1.5G`, `2GB`). Returns whole bytes. */
export function parseSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*([A-Za-z]*)$/.exec(v.trim());
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new ValueError(`"${v}" is not a size (use bytes, or e.g. 512MiB, 8GiB, 1.5G)`);
  }
  return Math.round(Number(m[1]) * unit);
}

/** `CUDA0:8GiB,CPU:1GiB` -> {CUDA0: 8589934592, CPU: 1073741824}. */
export function parseMemory(v: string): Record<string, number> {
  const out: Record<string, number> = {};
  const parts = v.split(',').map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0) throw new ValueError('needs at least one DEVICE:SIZE, e.g. CUDA0:8GiB,CPU:1GiB');
  for (const part of parts) {
    const colon = part.lastIndexOf(':');
    const device = colon < 0 ? '' : part.slice(0, colon).trim();
    if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(device)) {
      throw new ValueError(`"${part}" is not DEVICE:SIZE (e.g. CUDA0:8GiB)`);
    }
    if (device in out) throw new ValueError(`device ${device} is given twice`);
    out[device] = parseSize(part.slice(colon + 1));
  }
  return out;
}

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** `POST /models/load {"model": "x"}` -> {method, path, body}. */
export function parseRoute(v: string): HttpRoute {
  const m = /^(\S+)\s+(\S+)(?:\s+([\s\S]+))?$/.exec(v.trim());
  const method = m?.[1]!.toUpperCase();
  if (!m || !METHODS.has(method!)) {
    throw new ValueError(`"${v}" is not "METHOD PATH [BODY]" (METHOD one of ${[...METHODS].join(', ')})`);
  }
  const path = m[2]!;
  if (!path.startsWith('/')) throw new ValueError(`path "${path}" must start with /`);
  const body = m[3]?.trim();
  return body ? { method: method!, path, body } : { method: method!, path };
}

/** An external backend's base URL: http(s), a host, optionally a port and a path prefix. Trailing slash dropped. */
export function parseBackendUrl(v: string): string {
  let u: URL;
  try {
    u = new URL(v.trim());
  } catch {
    throw new ValueError(`"${v}" is not a URL (e.g. http://127.0.0.1:8000)`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) {
    throw new ValueError(`"${v}" must be an http:// or https:// URL with a host`);
  }
  if (u.search || u.hash || u.username || u.password) {
    throw new ValueError(`"${v}" must not carry a query, fragment or credentials`);
  }
  return u.toString().replace(/\/+$/, '');
}

export function parseNonEmpty(v: string, what: string): string {
  const s = v.trim();
  if (!s) throw new ValueError(`needs ${what}`);
  return s;
}
