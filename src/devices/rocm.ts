import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { DeviceReading } from './types.js';

/**
 * AMD GPUs: totals from `rocm-smi --showmeminfo vram --json`, per-process VRAM from the KFD's sysfs
 * files (the same files rocm-smi --showpids reads, but per GPU, which --showpids does not give).
 * Written from rocm-smi's source and documentation; no AMD GPU was at hand to try it on.
 */
export const ROCM_SMI = 'rocm-smi';
export const VRAM_QUERY = ['--showmeminfo', 'vram', '--json'];

export interface RocmCard {
  index: number;
  label?: string;
  uuid?: string;
  total: number;
  used: number;
}

/** `{"card0": {"VRAM Total Memory (B)": "17163091968", "VRAM Total Used Memory (B)": "12288000"}, ...}` */
export function parseRocmVramJson(stdout: string): RocmCard[] {
  // rocm-smi may print warnings before the JSON object.
  const start = stdout.indexOf('{');
  if (start < 0) throw new Error('rocm-smi printed no JSON');
  const data = JSON.parse(stdout.slice(start)) as Record<string, Record<string, string>>;
  const cards: RocmCard[] = [];
  for (const [key, fields] of Object.entries(data)) {
    const m = /^card(\d+)$/.exec(key);
    if (!m || typeof fields !== 'object' || fields === null) continue;
    const find = (re: RegExp) => Object.entries(fields).find(([k]) => re.test(k))?.[1];
    const total = Number(find(/^VRAM Total Memory \(B\)$/i));
    const used = Number(find(/^VRAM Total Used Memory \(B\)$/i));
    if (!Number.isFinite(total) || total <= 0 || !Number.isFinite(used)) continue;
    cards.push({
      index: Number(m[1]),
      total,
      used,
      label: find(/^card series$/i) ?? find(/^card model$/i),
      uuid: find(/^unique id$/i),
    });
  }
  return cards.sort((a, b) => a.index - b.index);
}

/** Names cards ROCm0, ROCm1, ... honouring ROCR_VISIBLE_DEVICES then HIP_VISIBLE_DEVICES (indices). */
export function nameRocmDevices(cards: RocmCard[], env: NodeJS.ProcessEnv): DeviceReading[] {
  let visible = cards;
  for (const v of [env.ROCR_VISIBLE_DEVICES, env.HIP_VISIBLE_DEVICES]) {
    if (v === undefined) continue;
    const picked: RocmCard[] = [];
    for (const token of v.split(',').map((t) => t.trim())) {
      const card = /^\d+$/.test(token) ? visible[Number(token)] : undefined;
      if (!card || picked.includes(card)) break;
      picked.push(card);
    }
    visible = picked;
  }
  return visible.map((c, i) => ({
    name: `ROCm${i}`,
    kind: 'rocm',
    index: c.index,
    uuid: c.uuid,
    label: c.label,
    total: c.total,
    free: Math.max(0, c.total - c.used),
  }));
}

/**
 * VRAM bytes per GPU for one process: /sys/class/kfd/kfd/proc/PID/vram_GPUID, where GPUID is a KFD
 * topology node's gpu_id. Returns bytes keyed by the GPU's ordinal among KFD GPU nodes (0, 1, ...),
 * which is the order ROCm enumerates them before any *_VISIBLE_DEVICES filter. Empty when the process
 * has no KFD context or the files are not readable.
 */
export async function kfdVramByGpuOrdinal(pid: number, sysRoot = '/sys'): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  const kfd = path.join(sysRoot, 'class/kfd/kfd');
  let files: string[];
  try {
    files = await readdir(path.join(kfd, 'proc', String(pid)));
  } catch {
    return out;
  }
  const ordinals = await kfdGpuOrdinals(kfd);
  for (const f of files) {
    const m = /^vram_(\d+)$/.exec(f);
    if (!m) continue;
    const ordinal = ordinals.get(Number(m[1]));
    if (ordinal === undefined) continue;
    try {
      const bytes = Number((await readFile(path.join(kfd, 'proc', String(pid), f), 'utf8')).trim());
      if (Number.isFinite(bytes)) out.set(ordinal, (out.get(ordinal) ?? 0) + bytes);
    } catch {
      /* the process exited between readdir and read */
    }
  }
  return out;
}

async function kfdGpuOrdinals(kfd: string): Promise<Map<number, number>> {
  const map = new Map<number, number>();
  let nodes: string[];
  try {
    nodes = (await readdir(path.join(kfd, 'topology/nodes'))).filter((n) => /^\d+$/.test(n));
  } catch {
    return map;
  }
  nodes.sort((a, b) => Number(a) - Number(b));
  let ordinal = 0;
  for (const n of nodes) {
    try {
      const id = Number((await readFile(path.join(kfd, 'topology/nodes', n, 'gpu_id'), 'utf8')).trim());
      if (id > 0) map.set(id, ordinal++); // gpu_id 0 is a CPU node
    } catch {
      /* unreadable node: skip */
    }
  }
  return map;
}
