import { MiB, type DeviceReading } from './types.js';

/**
 * nvidia-smi's CSV answers, parsed. The queries are fixed here so the fake in test/fixtures answers
 * exactly what production asks. With `nounits` every memory figure is MiB.
 */
export const NVIDIA_SMI = 'nvidia-smi';
export const GPU_QUERY = [
  '--query-gpu=index,uuid,name,memory.total,memory.used,memory.free',
  '--format=csv,noheader,nounits',
];
export const APPS_QUERY = ['--query-compute-apps=pid,gpu_uuid,used_memory', '--format=csv,noheader,nounits'];

export interface NvidiaGpu {
  index: number;
  uuid: string;
  label: string;
  total: number;
  used: number;
  free: number;
}

export interface NvidiaApp {
  pid: number;
  uuid: string;
  /** Bytes; undefined when the driver cannot tell (`[N/A]`, e.g. WDDM or some containers). */
  used?: number;
}

function mib(field: string | undefined): number | undefined {
  if (field === undefined) return undefined;
  const n = Number(field.trim());
  return field.trim() !== '' && Number.isFinite(n) ? Math.round(n * MiB) : undefined;
}

/**
 * `0, GPU-1a2b..., NVIDIA GeForce RTX 4090, 24564, 1020, 23144` per line. Fields are taken from both ends
 * so a comma inside a product name cannot shift them. Lines whose memory is `[N/A]` (unified-memory
 * boards such as GB10 report no dedicated total) are returned in `skipped` for the caller to log.
 */
export function parseGpuCsv(stdout: string): { gpus: NvidiaGpu[]; skipped: string[] } {
  const gpus: NvidiaGpu[] = [];
  const skipped: string[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const f = line.split(',').map((s) => s.trim());
    if (f.length < 6) {
      skipped.push(line);
      continue;
    }
    const index = Number(f[0]);
    const uuid = f[1]!;
    const label = f.slice(2, f.length - 3).join(', ');
    const [total, used, free] = f.slice(-3).map(mib);
    if (!Number.isInteger(index) || total === undefined || free === undefined) {
      skipped.push(line);
      continue;
    }
    gpus.push({ index, uuid, label, total, used: used ?? Math.max(0, total - free), free });
  }
  return { gpus, skipped };
}

/** `12345, GPU-1a2b..., 1536` per line; nothing at all when no process uses a GPU. */
export function parseAppsCsv(stdout: string): NvidiaApp[] {
  const apps: NvidiaApp[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    if (line.trim() === '' || /no running/i.test(line)) continue;
    const f = line.split(',').map((s) => s.trim());
    const pid = Number(f[0]);
    if (f.length < 3 || !Number.isInteger(pid) || pid <= 0) continue;
    apps.push({ pid, uuid: f[1]!, used: mib(f[2]) });
  }
  return apps;
}

/**
 * Names the GPUs as llama.cpp's CUDA backend will: CUDA0, CUDA1, ... in the order the CUDA runtime
 * enumerates them, which is what CUDA_VISIBLE_DEVICES selects (indices or UUID prefixes; CUDA stops
 * at the first entry it cannot match, and so do we; "" or "-1" hides every GPU).
 *
 * Caveat: without CUDA_DEVICE_ORDER=PCI_BUS_ID the CUDA runtime may order unlike GPUs "fastest first",
 * while nvidia-smi indexes by PCI bus. `orderWarning` says so when it could matter (mixed models).
 */
export function nameCudaDevices(
  gpus: NvidiaGpu[],
  env: NodeJS.ProcessEnv,
): { readings: DeviceReading[]; orderWarning?: string } {
  let visible: NvidiaGpu[];
  const cvd = env.CUDA_VISIBLE_DEVICES;
  if (cvd === undefined) {
    visible = [...gpus].sort((a, b) => a.index - b.index);
  } else {
    visible = [];
    for (const token of cvd.split(',').map((t) => t.trim())) {
      if (token === '') break;
      let gpu: NvidiaGpu | undefined;
      if (/^-?\d+$/.test(token)) gpu = gpus.find((g) => g.index === Number(token));
      else gpu = gpus.find((g) => g.uuid.toLowerCase().startsWith(token.toLowerCase().replace(/^(gpu-)?/, 'gpu-')));
      if (!gpu || visible.includes(gpu)) break;
      visible.push(gpu);
    }
  }
  const readings = visible.map<DeviceReading>((g, i) => ({
    name: `CUDA${i}`,
    kind: 'cuda',
    index: g.index,
    uuid: g.uuid,
    label: g.label,
    total: g.total,
    free: g.free,
  }));
  const mixed = new Set(visible.map((g) => g.label)).size > 1;
  const orderWarning =
    mixed && env.CUDA_DEVICE_ORDER !== 'PCI_BUS_ID'
      ? 'GPUs of different models and CUDA_DEVICE_ORDER is not PCI_BUS_ID: CUDA may number them unlike nvidia-smi, so CUDAn here may not be CUDAn in the child. Set CUDA_DEVICE_ORDER=PCI_BUS_ID.'
      : undefined;
  return { readings, orderWarning };
}
