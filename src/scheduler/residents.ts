/**
 * Who holds what: the models with a child (loading, loaded, unloading) as capacity.ts counts them, the
 * room an elastic load may take beside them, and which load a device is busy with. Read-only over the
 * scheduler's state; shared by the planner and by `Scheduler` when it starts a load.
 */
import { roomOn, type CapacityInput, type Resident } from './capacity.js';
import { ANY_GPU, wantsPlacement } from './placement.js';
import { entryOf, type ModelEntry, type SchedulerState } from './state.js';
import type { DeviceBytes, Room } from './types.js';

/** The need a resident holds by: as placed (or sized) for this load, or as given. Never the generic GPU. */
export function needOf(m: Readonly<ModelEntry>): DeviceBytes {
  const need = m.placed ?? m.need ?? {};
  if (!(ANY_GPU in need)) return need;
  const specific = { ...need };
  delete specific[ANY_GPU];
  return specific;
}

export function residents(s: SchedulerState): Resident[] {
  const out: Resident[] = [];
  for (const [name, m] of s.models) {
    if (m.status !== 'loading' && m.status !== 'loaded' && m.status !== 'unloading') continue;
    const need = needOf(m);
    // A measurement that misses a device (nvidia-smi in a container sees no per-process use) does
    // not erase what the need said it holds there.
    const hold = { ...need, ...(m.usage ?? {}) };
    const pending: DeviceBytes = {};
    if (m.status === 'loading') {
      // The last reading may have seen part of it; assume the rest is still to come.
      for (const [d, b] of Object.entries(need)) pending[d] = Math.max(0, b - (m.usage?.[d] ?? 0));
    }
    // A reading taken before its child started has seen none of it (loaded since, not read since).
    if (m.startedAt > s.readingsAt) Object.assign(pending, hold);
    out.push({ name, status: m.status, hold, pending });
  }
  return out;
}

/**
 * The room an elastic model starting now with `need` may take on each device it uses (capacity.ts
 * `roomOn`); undefined when no device bounds it. A GPU chosen by placement is bounded by its free memory
 * even with the free check off, as placement judged it.
 */
export function roomFor(s: SchedulerState, name: string, need: DeviceBytes): Record<string, Room> | undefined {
  const input: CapacityInput = { modelsMax: 0, marginBytes: s.config.marginBytes, caps: s.config.caps, readings: s.readings };
  const others = residents(s).filter((r) => r.name !== name);
  const placed = wantsPlacement(entryOf(s, name).need);
  const out: Record<string, Room> = {};
  for (const [d, b] of Object.entries(need)) {
    if (!(b > 0)) continue;
    const room = roomOn(input, d, others, placed && d !== 'CPU');
    if (room) out[d] = room;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Another model still loading on a device `need` uses, or undefined. */
export function loadingOn(s: SchedulerState, name: string, need: DeviceBytes): string | undefined {
  const mine = Object.keys(need).filter((d) => (need[d] ?? 0) > 0);
  for (const [other, o] of s.models) {
    if (other === name || o.status !== 'loading') continue;
    const theirs = Object.keys(needOf(o)).filter((d) => (needOf(o)[d] ?? 0) > 0);
    // No known need (an external backend, a `cmd` preset without `memory =`): no device to share, no wait.
    if (mine.some((d) => theirs.includes(d))) return other;
  }
  return undefined;
}

/** Bytes the residents hold (or will take) on one device. */
export function total(rs: readonly Resident[], device: string, field: 'hold' | 'pending'): number {
  let sum = 0;
  for (const r of rs) sum += r[field][device] ?? 0;
  return sum;
}
