/**
 * Byte sizes as people write them on the command line and in presets.
 *
 * Units: `KiB MiB GiB TiB` are binary, `KB MB GB TB` are decimal (SI), bare `K M G T` are binary
 * (as in `docker -m 8g` and llama.cpp's own size flags). A plain number is bytes. Case and one
 * space between number and unit are accepted: "8 GiB", "512mib", "1.5G".
 */

const KI = 1024;
const UNITS: Record<string, number> = {
  b: 1,
  k: KI,
  m: KI ** 2,
  g: KI ** 3,
  t: KI ** 4,
  kib: KI,
  mib: KI ** 2,
  gib: KI ** 3,
  tib: KI ** 4,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
};

/** A size or a device size list that cannot be read; the message names the input and what is expected. */
export class SizeError extends Error {
  constructor(
    message: string,
    readonly input: string,
  ) {
    super(message);
    this.name = 'SizeError';
  }
}

const SIZE_RE = /^(\d+(?:\.\d+)?|\.\d+)\s?([a-z]*)$/i;

/** "512MiB" | "8GiB" | "1.5G" | "1024" | "2GB" -> bytes (an integer, rounded down). */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new SizeError(`invalid size ${input}: expected a non-negative number of bytes`, String(input));
    return Math.floor(input);
  }
  const text = String(input).trim();
  const m = SIZE_RE.exec(text);
  if (!m) {
    throw new SizeError(
      `invalid size "${input}": expected a number with an optional unit, e.g. 512MiB, 8GiB, 1.5G, 2GB or 1024 (bytes)`,
      String(input),
    );
  }
  const unit = m[2]!.toLowerCase();
  const factor = unit === '' ? 1 : UNITS[unit];
  if (factor === undefined) {
    throw new SizeError(
      `invalid size "${input}": unknown unit "${m[2]}" (use B, K/KiB/KB, M/MiB/MB, G/GiB/GB or T/TiB/TB)`,
      String(input),
    );
  }
  const bytes = Math.floor(Number(m[1]) * factor);
  if (!Number.isSafeInteger(bytes)) throw new SizeError(`invalid size "${input}": too large`, String(input));
  return bytes;
}

/**
 * Canonical device name: llama.cpp's spelling for the backends we know (`CPU`, `CUDA0`, `ROCm1`,
 * `Vulkan0`, `Metal`), so `cuda0=8g` and `CUDA0=8g` mean the same device. Other names pass unchanged.
 */
export function canonicalDeviceName(name: string): string {
  const m = /^(cpu|cuda|rocm|vulkan|metal|sycl)(\d*)$/i.exec(name.trim());
  if (!m) return name.trim();
  const prefix = { cpu: 'CPU', cuda: 'CUDA', rocm: 'ROCm', vulkan: 'Vulkan', metal: 'Metal', sycl: 'SYCL' }[
    m[1]!.toLowerCase() as 'cpu'
  ];
  return prefix + m[2];
}

const DEVICE_RE = /^[A-Za-z][A-Za-z0-9_]*$/;

/**
 * "CUDA0=8GiB,CPU=512MiB" or "CUDA0:8GiB, CPU:1GiB" -> {CUDA0: 8589934592, CPU: 536870912}.
 * `=` is the flag form (`--models-memory-max`), `:` the preset form (`memory = ...`); both are accepted
 * everywhere. A device named twice, an empty entry or a bad size is an error naming the entry.
 */
export function parseDeviceSizes(input: string): Record<string, number> {
  const text = String(input).trim();
  if (text === '') throw new SizeError('empty device size list: expected e.g. CUDA0=8GiB,CPU=512MiB', String(input));
  const out: Record<string, number> = {};
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    const m = /^([^=:]+)[=:](.*)$/.exec(entry);
    if (!m) {
      throw new SizeError(
        `invalid device size "${entry}" in "${input}": expected DEVICE=SIZE (or DEVICE:SIZE), e.g. CUDA0=8GiB`,
        String(input),
      );
    }
    const name = canonicalDeviceName(m[1]!);
    if (!DEVICE_RE.test(name)) {
      throw new SizeError(`invalid device name "${m[1]!.trim()}" in "${input}": expected e.g. CPU, CUDA0, ROCm0`, String(input));
    }
    if (name in out) throw new SizeError(`device ${name} is named twice in "${input}"`, String(input));
    try {
      out[name] = parseSize(m[2]!);
    } catch (err) {
      throw new SizeError(`${(err as Error).message} (for device ${name} in "${input}")`, String(input));
    }
  }
  return out;
}

/** bytes -> "7.9 GiB", "512 MiB", "100 B": binary units, one decimal unless whole. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const sign = bytes < 0 ? '-' : '';
  let v = Math.abs(bytes);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${sign}${Math.round(v)} B`;
  let rounded = Math.round(v * 10) / 10;
  // 1023.96 KiB would print as "1024 KiB": carry into the next unit instead.
  if (rounded >= 1024 && i < units.length - 1) {
    rounded = Math.round((v / 1024) * 10) / 10;
    i++;
  }
  return `${sign}${Number.isInteger(rounded) ? rounded.toFixed(0) : rounded.toFixed(1)} ${units[i]}`;
}

/** {CUDA0: 8589934592, CPU: 536870912} -> "CUDA0=8 GiB, CPU=512 MiB" (for logs and error messages). */
export function formatDeviceSizes(devices: Record<string, number>): string {
  return Object.entries(devices)
    .map(([d, b]) => `${d}=${formatBytes(b)}`)
    .join(', ');
}
