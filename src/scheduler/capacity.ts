/**
 * Does a target fit, given who stays resident? Count (`--models-max`), per-device caps
 * (`--models-memory-max`) and free memory after the margin (`--models-memory-margin`). Pure.
 */
import type { DeviceBytes, DeviceReading, Room } from './types.js';

export interface Resident {
  name: string;
  status: 'loading' | 'loaded' | 'unloading';
  /** What it holds (measured) or will hold (need) per device. */
  hold: DeviceBytes;
  /** What it holds or will take beyond what the last reading saw (loading, or started since that reading). */
  pending: DeviceBytes;
}

export interface CapacityInput {
  modelsMax: number;
  /** null = the free-memory check is off. */
  marginBytes: number | null;
  caps: DeviceBytes;
  readings: ReadonlyMap<string, DeviceReading>;
}

export interface Shortage {
  /** What ran out: the count limit, a device's cap, or a device's free memory. */
  kind: 'count' | 'cap' | 'free';
  device: string;
  need: number;
  available: number;
}

/**
 * Why the target does not fit with `remaining` resident and `freed` gone; empty when it fits.
 * `freed` are models whose memory the last reading still counted as used.
 */
export function shortages(
  input: CapacityInput,
  need: DeviceBytes,
  remaining: readonly Resident[],
  freed: readonly Resident[],
): Shortage[] {
  const out: Shortage[] = [];
  if (input.modelsMax > 0 && remaining.length + 1 > input.modelsMax) {
    out.push({ kind: 'count', device: 'count', need: 1, available: input.modelsMax - remaining.length });
  }
  for (const [device, bytes] of Object.entries(need)) {
    if (!(bytes > 0)) continue;
    const cap = input.caps[device];
    if (cap !== undefined) {
      const held = sum(remaining, device, 'hold');
      if (held + bytes > cap) out.push({ kind: 'cap', device, need: bytes, available: cap - held });
    }
    const reading = input.readings.get(device);
    if (input.marginBytes !== null && reading) {
      // A model going away gives back what the reading saw it hold (not its pending part: never seen).
      const available =
        reading.free +
        sum(freed, device, 'hold') -
        sum(freed, device, 'pending') -
        sum(remaining, device, 'pending') -
        input.marginBytes;
      if (bytes > available) out.push({ kind: 'free', device, need: bytes, available });
    }
  }
  return out;
}

/**
 * The most a device could ever give this target: its total less the margin, under the cap.
 * A need above it can never be met, so the request fails at once instead of timing out.
 * (Total, not free: memory held by other processes, or not yet released by the driver
 * after an unload, may come back; a request waiting for it says so in `waitingFor`.)
 */
export function capacityOf(input: CapacityInput, device: string): number | undefined {
  let capacity: number | undefined = input.caps[device];
  if (input.marginBytes !== null && input.readings.size > 0) {
    const reading = input.readings.get(device);
    if (!reading) return 0; // no such device on this machine
    const empty = reading.total - input.marginBytes;
    capacity = capacity === undefined ? empty : Math.min(capacity, empty);
  }
  return capacity;
}

/**
 * The most a target starting now may take on `device` with `remaining` resident: free memory after the
 * margin and what loading children still take (when the free check is on, or `freeCheck` forces it), and the
 * cap less what the others hold; the smaller one. undefined when neither bounds it.
 */
export function roomOn(input: CapacityInput, device: string, remaining: readonly Resident[], freeCheck = false): Room | undefined {
  let room: Room | undefined;
  const cap = input.caps[device];
  if (cap !== undefined) room = { bytes: cap - sum(remaining, device, 'hold'), limit: 'cap' };
  const reading = input.readings.get(device);
  if ((input.marginBytes !== null || freeCheck) && reading) {
    const free = reading.free - sum(remaining, device, 'pending') - (input.marginBytes ?? 0);
    if (!room || free < room.bytes) room = { bytes: free, limit: 'free' };
  }
  return room && { bytes: Math.max(0, room.bytes), limit: room.limit };
}

function sum(rs: readonly Resident[], device: string, field: 'hold' | 'pending'): number {
  let total = 0;
  for (const r of rs) total += r[field][device] ?? 0;
  return total;
}
