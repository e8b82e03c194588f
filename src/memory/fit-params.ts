/**
 * llama-fit-params as a memory probe for llama-server children.
 *
 * `llama-fit-params -m FILE [the child's memory flags] -lv 4` loads the model's header and builds its
 * context without allocating (no weights read), and logs llama.cpp's own per-device breakdown
 * (common_memory_breakdown_print, common/fit.cpp), in MiB rounded down:
 *
 *   common_memory_breakdown_print: | memory breakdown [MiB] | total   free    self   model   context   compute    unaccounted |
 *   common_memory_breakdown_print: |   - CUDA0 (RTX 4090)   | 24080 = 23000 + (  900 =   600 +     200 +     100) +         180 |
 *   common_memory_breakdown_print: |   - Host               |                    82 =    50 +      18 +      14                |
 *   common_memory_breakdown_print: |   - CPU_REPACK         |                    12 =    12 +       0 +       0                |
 *
 * One row per GPU the model uses (`NAME (description)`, with `total = free + (self = model + context +
 * compute) + unaccounted`), one for host memory, then one per other buffer type. It is what llama.cpp will
 * allocate for the model; the server's own base (code, heap, threads; a GPU's driver context) is not in it
 * and is added by the caller (engine.ts, server-base.ts).
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { canonicalDeviceName } from '../devices/size.js';
import { memoryArgs } from './args.js';
import { ProbeError, runProbe, type ProbeOptions } from './probe.js';

const MiB = 1024 * 1024;

export interface BreakdownRow {
  /** The row's name as printed: `Host`, `CUDA0`, `CPU_REPACK`. */
  name: string;
  /** Our device name: Host -> CPU, CUDA0 -> CUDA0, ROCm1 -> ROCm1, Vulkan0 -> Vulkan0, MTL0 -> Metal0. */
  device: string;
  description?: string;
  /** MiB, as printed (rounded down). total/free/unaccounted only on GPU rows. */
  total?: number;
  free?: number;
  self: number;
  model: number;
  context: number;
  compute: number;
  unaccounted?: number;
}

export interface Breakdown {
  rows: BreakdownRow[];
  /** Bytes per device: each row's `self` (rounded up by the MiB it was rounded down), summed per device. */
  devices: Record<string, number>;
  /** The same split into model (weights), context (KV cache and outputs) and compute, bytes per device. */
  parts: Record<string, { weights: number; kv: number; compute: number }>;
}

/** llama.cpp's device name -> ours. GPUs keep their name (CUDA0, ROCm0, Vulkan0); host buffers are the CPU. */
export function deviceOfRow(name: string): string {
  if (name === 'Host') return 'CPU';
  // MTL0 is llama.cpp's Metal device; our devices are named Metal.
  const m = /^(CUDA|ROCm|Vulkan|MTL|SYCL|CANN|OpenCL|HTP)(\d+)(?=$|[-_])/.exec(name);
  if (m) return canonicalDeviceName(m[1] === 'MTL' ? `Metal${m[2]}` : `${m[1]}${m[2]}`);
  // Other buffer types (CPU_REPACK, CUDA_Host pinned memory, ...) live in host memory.
  return 'CPU';
}

const NUM = String.raw`(-?\d+)`;
const GPU_ROW = new RegExp(String.raw`^(.*?)\s*\|\s*${NUM}\s*=\s*${NUM}\s*\+\s*\(\s*${NUM}\s*=\s*${NUM}\s*\+\s*${NUM}\s*\+\s*${NUM}\s*\)\s*\+\s*${NUM}\s*\|\s*$`);
const OTHER_ROW = new RegExp(String.raw`^(.*?)\s*\|\s*${NUM}\s*=\s*${NUM}\s*\+\s*${NUM}\s*\+\s*${NUM}\s*\|\s*$`);

/**
 * The LAST breakdown table in the text (fit-params prints one per attempt when it has to shrink the
 * context or move layers; the last is what it settled on). Lines may carry any log prefix before `| `.
 * Throws when there is no table.
 */
export function parseBreakdown(text: string): Breakdown {
  const lines = text.split(/\r?\n/);
  let start = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (/\|\s*memory breakdown \[MiB\]\s*\|/.test(lines[i]!)) {
      start = i;
      break;
    }
  }
  if (start === -1) throw new Error('no memory breakdown table in its output (a llama.cpp build without common_memory_breakdown_print?)');
  const rows: BreakdownRow[] = [];
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i]!;
    const bar = line.indexOf('|   - ') >= 0 ? line.indexOf('|   - ') : line.indexOf('| - ');
    if (bar < 0) break; // the table ends at the first line that is not a row
    const body = line.slice(line.indexOf('-', bar) + 1).trim();
    let m = GPU_ROW.exec(body);
    if (m) {
      const { name, description } = splitName(m[1]!);
      const n = m.slice(2).map(Number);
      rows.push({ name, description, device: deviceOfRow(name), total: n[0], free: n[1], self: n[2]!, model: n[3]!, context: n[4]!, compute: n[5]!, unaccounted: n[6] });
      continue;
    }
    m = OTHER_ROW.exec(body);
    if (m) {
      const { name, description } = splitName(m[1]!);
      const n = m.slice(2).map(Number);
      rows.push({ name, description, device: deviceOfRow(name), self: n[0]!, model: n[1]!, context: n[2]!, compute: n[3]! });
      continue;
    }
    throw new Error(`unreadable memory breakdown row: ${JSON.stringify(line.trim())}`);
  }
  if (rows.length === 0) throw new Error('a memory breakdown table without rows');
  const devices: Record<string, number> = {};
  const parts: Breakdown['parts'] = {};
  for (const r of rows) {
    // Each figure was rounded down to whole MiB: add back up to 1 MiB per row (the safe side).
    devices[r.device] = (devices[r.device] ?? 0) + (r.self + 1) * MiB;
    const p = (parts[r.device] ??= { weights: 0, kv: 0, compute: 0 });
    p.weights += r.model * MiB;
    p.kv += r.context * MiB;
    p.compute += (r.self + 1 - r.model - r.context) * MiB;
  }
  return { rows, devices, parts };
}

function splitName(raw: string): { name: string; description?: string } {
  const m = /^(\S+)\s*(?:\((.*)\))?$/.exec(raw.trim());
  return m ? { name: m[1]!, ...(m[2] !== undefined ? { description: m[2] } : {}) } : { name: raw.trim() };
}

/**
 * The child's flags that fit-params takes and that change memory, spelled llama-server's way. Others are
 * dropped: fit-params rejects server flags (--port, --api-key, ...), and a secret must not reach its argv.
 * Not passed (fit-params does not take them; their memory is not in its figure): --kv-unified, --cache-ram,
 * --mmproj, draft-model flags.
 */
export function fitParamsArgs(childArgs: readonly string[], env?: Record<string, string | undefined>): string[] {
  const a = memoryArgs(childArgs, env);
  const out: string[] = [];
  const value = (name: string, flag = `--${name}`) => {
    if (a[name] !== undefined) out.push(flag, a[name]!);
  };
  for (const name of ['ctx-size', 'parallel', 'n-gpu-layers', 'cache-type-k', 'cache-type-v', 'tensor-split', 'split-mode', 'main-gpu', 'device', 'batch-size', 'ubatch-size', 'flash-attn', 'n-cpu-moe', 'fit', 'fit-target', 'fit-ctx']) {
    value(name);
  }
  const toggles: Array<[string, string, string]> = [
    ['no-mmap', '--no-mmap', '--mmap'],
    ['no-kv-offload', '--no-kv-offload', '--kv-offload'],
    ['mlock', '--mlock', ''],
    ['swa-full', '--swa-full', ''],
    ['cpu-moe', '--cpu-moe', ''],
  ];
  for (const [name, on, off] of toggles) {
    if (a[name] === '1') out.push(on);
    else if (a[name] === '0' && off) out.push(off);
  }
  for (const ot of a['override-tensor']?.split(';') ?? []) if (ot) out.push('--override-tensor', ot);
  for (const lora of a.lora?.split(';') ?? []) if (lora) out.push('--lora', lora);
  return out;
}

/** `[bin, '-m', model, ...flags, '-lv', '4']`: the verbosity that prints the breakdown table. */
export function fitParamsArgv(bin: string, modelPath: string, childArgs: readonly string[], env?: Record<string, string | undefined>): string[] {
  return [bin, '-m', modelPath, ...fitParamsArgs(childArgs, env), '-lv', '4'];
}

/**
 * Where llama-fit-params is: the flag's path (`--fit-params-bin`; must be executable), else beside the
 * server binary (llama.cpp builds both into one folder), else on PATH. Undefined when none is found.
 */
export function findFitParams(opts: { flag?: string; serverBin?: string; pathEnv?: string }): string | undefined {
  const name = process.platform === 'win32' ? 'llama-fit-params.exe' : 'llama-fit-params';
  if (opts.flag) return opts.flag;
  if (opts.serverBin?.includes(path.sep)) {
    const beside = path.join(path.dirname(path.resolve(opts.serverBin)), name);
    if (executable(beside)) return beside;
  }
  for (const dir of (opts.pathEnv ?? process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const full = path.join(dir, name);
    if (executable(full)) return full;
  }
  return undefined;
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface FitParamsResult extends Breakdown {
  /** The argv it ran. */
  command: string[];
}

/**
 * Runs llama-fit-params for a model with a child's flags and parses its breakdown. Same process handling
 * as every probe (runProbe): its own process group, killed on timeout or when `signal` aborts.
 * Throws ProbeError when it fails or prints no table.
 */
export async function runFitParams(
  bin: string,
  modelPath: string,
  childArgs: readonly string[],
  opts: ProbeOptions & { childEnv?: Record<string, string | undefined> } = {},
): Promise<FitParamsResult> {
  const command = fitParamsArgv(bin, modelPath, childArgs, opts.childEnv);
  let parsed: Breakdown | undefined;
  await runProbe(command, {
    ...opts,
    // It reads LLAMA_ARG_* as the child does: give it the child's environment.
    env: { ...(opts.env ?? process.env), ...definedOnly(opts.childEnv) },
    parse: (stdout, stderr, shown, details) => {
      try {
        parsed = parseBreakdown(`${stderr}\n${stdout}`);
      } catch (err) {
        throw new ProbeError(`llama-fit-params: ${(err as Error).message} (${shown})`, shown, details);
      }
      return { devices: parsed.devices, report: {} };
    },
  });
  return { ...parsed!, command };
}

function definedOnly(env: Record<string, string | undefined> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(env ?? {}).filter((e): e is [string, string] => e[1] !== undefined));
}
