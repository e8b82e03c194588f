/**
 * Which GPU(s) a new child goes on. Pure: the scheduler computes each GPU's room and calls `place`;
 * the router passes the answer to the child as CUDA_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES.
 *
 * A model the router may place has its need written for "one GPU": the GPU bytes under the generic
 * name `GPU` (`{CPU: 1.2 GiB, GPU: 9 GiB}`), the estimate for its -ngl layers on a single device.
 * (Models whose preset names devices (-dev, --tensor-split, --main-gpu, *_VISIBLE_DEVICES) keep
 * their need as it is and are never placed.)
 *
 * The rule, tried stage by stage, stopping at the first that gives an answer:
 *   1. now         - with the room free now (no eviction): the single GPU with the most room that fits;
 *                    else a split over the fewest GPUs of one kind (most room first) that fits;
 *   2. reclaimable - the same, counting the room idle, evictable models would give back;
 *   3. capacity    - the same, counting the whole device (busy models will drain first).
 * Nothing at stage 3: the model can never fit, and the request fails at once.
 *
 * So an idle model is never evicted when the newcomer fits elsewhere, even split; and a model is only
 * split when no single GPU could take it at that stage. A split gives each GPU `perGpuBytes` (what every
 * GPU used pays again: runtime context, compute buffer) plus a share of the rest proportional to its room,
 * which is how llama.cpp splits layers by default (by free memory).
 */
import type { DeviceBytes } from './types.js';

/** The device name a need uses for "whichever GPU the router picks". */
export const ANY_GPU = 'GPU';

export type Stage = 'now' | 'reclaimable' | 'capacity';
export const STAGES: readonly Stage[] = ['now', 'reclaimable', 'capacity'];

/** One GPU as placement sees it: bytes the target could take there, by stage. */
export interface GpuRoom {
  name: string;
  /** Free now, after the margin and what loading children will still take, under the device's cap. */
  now: number;
  /** As `now`, once idle evictable models (and those already unloading) on it are gone. */
  reclaimable: number;
  /** The most the device could ever give: its total less the margin, under its cap. */
  capacity: number;
}

export interface PlacementInput {
  /** The need with the GPU part under `ANY_GPU`; other devices (CPU) are copied as they are. */
  need: DeviceBytes;
  /** Bytes each GPU of a split pays on top of its share. Default 0. */
  perGpuBytes?: number;
  gpus: readonly GpuRoom[];
}

export interface Placement {
  /** The chosen GPUs, most room first. */
  devices: string[];
  /** The need with `ANY_GPU` replaced by bytes on each chosen GPU. */
  need: DeviceBytes;
  /** The first stage at which it fitted: `now` means no eviction is needed. */
  stage: Stage;
}

export interface NoPlacement {
  devices: [];
  /** GPU bytes needed on one GPU. */
  need: number;
  /** The most one GPU could ever give (0 without GPUs). */
  largest: number;
}

/** Does this need ask the router to choose a GPU? */
export function wantsPlacement(need: DeviceBytes | undefined): boolean {
  return need !== undefined && (need[ANY_GPU] ?? 0) > 0;
}

/** The GPU names a (placed or fixed) need touches: every device but CPU with bytes. */
export function gpusOf(need: DeviceBytes): string[] {
  return Object.keys(need).filter((d) => d !== 'CPU' && d !== ANY_GPU && (need[d] ?? 0) > 0);
}

/** "CUDA1" -> "CUDA": a split never mixes vendors. */
export function kindOf(device: string): string {
  return device.replace(/\d+$/, '');
}

export function place(input: PlacementInput): Placement | NoPlacement {
  const gpuBytes = input.need[ANY_GPU] ?? 0;
  const rest: DeviceBytes = { ...input.need };
  delete rest[ANY_GPU];
  const perGpu = Math.max(0, input.perGpuBytes ?? 0);
  for (const stage of STAGES) {
    const picked = alone(input.gpus, stage, gpuBytes) ?? split(input.gpus, stage, gpuBytes, perGpu);
    if (picked) {
      const need = { ...rest };
      picked.forEach((d, i) => (need[d.name] = (need[d.name] ?? 0) + picked.bytes[i]!));
      return { devices: picked.map((d) => d.name), need, stage };
    }
  }
  return { devices: [], need: gpuBytes, largest: Math.max(0, ...input.gpus.map((g) => g.capacity)) };
}

type Picked = GpuRoom[] & { bytes: number[] };

function byRoom(stage: Stage) {
  // Most room at this stage first; then most room now (fewer evictions); then the lower name.
  return (a: GpuRoom, b: GpuRoom) => b[stage] - a[stage] || b.now - a.now || a.name.localeCompare(b.name, 'en', { numeric: true });
}

function alone(gpus: readonly GpuRoom[], stage: Stage, bytes: number): Picked | undefined {
  const best = gpus.filter((g) => g[stage] >= bytes).sort(byRoom(stage))[0];
  return best ? Object.assign([best], { bytes: [bytes] }) : undefined;
}

/** The fewest GPUs of one kind whose proportional shares all fit; most total room breaks ties. */
function split(gpus: readonly GpuRoom[], stage: Stage, bytes: number, perGpu: number): Picked | undefined {
  let best: Picked | undefined;
  let bestRoom = -Infinity;
  for (const kind of new Set(gpus.map((g) => kindOf(g.name)))) {
    const sorted = gpus.filter((g) => kindOf(g.name) === kind && g[stage] > 0).sort(byRoom(stage));
    for (let k = 2; k <= sorted.length; k++) {
      if (best && k > best.length) break;
      const chosen = sorted.slice(0, k);
      const shares = splitBytes(bytes, perGpu, chosen.map((g) => g[stage]));
      if (!shares.every((s, i) => s <= chosen[i]![stage])) continue;
      const room = chosen.reduce((a, g) => a + g[stage], 0);
      if (!best || k < best.length || room > bestRoom) {
        best = Object.assign(chosen, { bytes: shares });
        bestRoom = room;
      }
      break;
    }
  }
  return best;
}

/**
 * One GPU's need cut over several: each pays `perGpu` again, and the rest is shared in proportion to
 * `weights` (their room). Rounded up, so the parts never sum to less than the whole.
 */
export function splitBytes(bytes: number, perGpu: number, weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + Math.max(0, b), 0);
  const shared = Math.max(0, bytes - perGpu);
  return weights.map((w) => Math.ceil(perGpu + (total > 0 ? (shared * Math.max(0, w)) / total : shared / weights.length)));
}
