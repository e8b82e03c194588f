/**
 * The load planner: what it takes to start a model now, given the scheduler's state. Pure and
 * read-only: it returns a `Plan` naming everything to do (models to stop, to drain, the reservation to
 * keep, the GPUs chosen), and `Scheduler.dispatch` (scheduler.ts) carries it out. Planning twice from one
 * state gives the same plan, so a plan can be tested on its own (test/scheduler/plan-load.test.ts).
 */
import { capacityOf, shortages, type CapacityInput, type Resident, type Shortage } from './capacity.js';
import { chooseVictims, reloadValue } from './eviction.js';
import { place, wantsPlacement, type GpuRoom } from './placement.js';
import { residents as residentsOf, roomFor, total } from './residents.js';
import { entryOf, hasWaiters, isIdle, type SchedulerState } from './state.js';
import type { DeviceBytes, Rejection, Room, StopReason } from './types.js';

/** A model to stop now, and why (the `stop` effect's reason and detail). */
export interface Victim {
  name: string;
  reason: StopReason;
  detail: string;
}

export type Plan = (
  /** Start now. `need` is as placed on GPUs; `room` (elastic models) is what the load may take per device. */
  | { kind: 'start'; need: DeviceBytes; room?: Record<string, Room> }
  /** Stop these idle models; the load waits for them to unload. */
  | { kind: 'evict'; victims: Victim[] }
  /**
   * Not yet, because `why`. `stop`: idle models to stop now; `drain`: models that stop taking new requests
   * once the waiter has waited the batching window; `reserve`: the victims chosen for this waiter, kept
   * while they still make room so a drain is not thrown away; `readDevices`: a fresh reading is needed.
   */
  | { kind: 'wait'; why: string; drain: string[]; stop?: Victim[]; reserve?: string[]; readDevices?: boolean }
  /** Can never be served (too large for any device): every waiter for the model gets this answer. */
  | { kind: 'impossible'; error: Rejection }
) & {
  /** GPUs placement chose for a load that cannot start yet: remember them so evictions made for it count. */
  tentative?: string[];
};

/** What it takes to start `name` now, for the waiter `waiterId` (the first in line for it). */
export function planLoad(s: SchedulerState, name: string, now: number, waiterId: string): Plan {
  const target = entryOf(s, name);
  let need = target.need ?? {};
  const input: CapacityInput = {
    modelsMax: s.config.modelsMax,
    marginBytes: s.config.marginBytes,
    caps: s.config.caps,
    readings: s.readings,
  };
  const residents = residentsOf(s);
  // Free memory is judged on a recent reading: others may have taken some since an old one.
  const freeMatters = s.config.marginBytes !== null || wantsPlacement(need);
  if (freeMatters && s.readings.size > 0 && now - s.readingsAt > s.config.readingMaxAgeMs) {
    return { kind: 'wait', drain: [], why: 'waiting for a fresh memory reading', readDevices: true };
  }
  // Placement: a need for "one GPU" is mapped onto the GPU(s) chosen now; the rest of the plan
  // (evictions on short devices only, waits, too_large) then works on those devices.
  let tentative: string[] | undefined;
  if (wantsPlacement(need)) {
    const placed = placeTarget(s, name, need, input, residents);
    if ('plan' in placed) return placed.plan;
    need = placed.need;
    tentative = placed.tentative;
  }
  const plan = planRoom(s, name, now, waiterId, need, input, residents);
  // An elastic model is told the room it may take (and holds all of it until it is sized).
  const room = plan.kind === 'start' && target.policy.elastic ? roomFor(s, name, need) : undefined;
  return { ...plan, ...(room ? { room } : {}), ...(tentative ? { tentative } : {}) };
}

/** With `need` on known devices: start, make room, wait, or refuse. */
function planRoom(
  s: SchedulerState,
  name: string,
  now: number,
  waiterId: string,
  need: DeviceBytes,
  input: CapacityInput,
  residents: Resident[],
): Plan {
  const target = entryOf(s, name);
  for (const [device, bytes] of Object.entries(need)) {
    const capacity = capacityOf(input, device);
    if (capacity !== undefined && bytes > capacity) {
      const has = s.readings.has(device) || s.config.caps[device] !== undefined;
      return {
        kind: 'impossible',
        error: {
          kind: 'too_large',
          message: has
            ? `model '${name}' needs ${gib(bytes)} on ${device}, which has ${gib(Math.max(0, capacity))}`
            : `model '${name}' needs ${gib(bytes)} on ${device}, and there is no such device`,
        },
      };
    }
  }

  // Members of the target's exclusive group must go, whatever the room.
  const group = target.policy.group;
  const forced = group ? residents.filter((r) => r.name !== name && entryOf(s, r.name).policy.group === group) : [];
  const forcedBusy = forced.filter((r) => r.status === 'loading' || (r.status === 'loaded' && !isIdle(s, r.name)));
  const forcedIdle = forced.filter((r) => r.status === 'loaded' && isIdle(s, r.name));

  const unloading = residents.filter((r) => r.status === 'unloading');
  const stay = (gone: readonly Resident[]) => {
    const names = new Set(gone.map((g) => g.name));
    return residents.filter((r) => !names.has(r.name));
  };

  // A device whose reading predates an unload is not trusted to start anything on it.
  const stale = Object.keys(need).filter(
    (d) => (need[d] ?? 0) > 0 && s.readings.has(d) && (s.unloadedAt.get(d) ?? -Infinity) > s.readingsAt,
  );

  const nowShort = shortages(input, need, stay([]), []);
  if (forced.length === 0 && nowShort.length === 0 && stale.length === 0) return { kind: 'start', need };
  // An elastic model still choosing its size holds more than it will keep: wait for its answer rather
  // than evict for room it may give back.
  const sizing = residents.filter((r) => r.name !== name && entryOf(s, r.name).sizing).map((r) => r.name);
  if (sizing.length > 0) return { kind: 'wait', drain: [], why: `waiting for ${sizing.join(', ')} to choose its context size` };

  // Room that in-flight unloads will give back: wait for it rather than evict more.
  const afterUnloads = shortages(input, need, stay(unloading), unloading);
  if (forcedBusy.length === 0 && forcedIdle.length === 0 && afterUnloads.length === 0 && unloading.length > 0) {
    return { kind: 'wait', drain: [], why: `waiting for ${unloading.map((r) => r.name).join(', ')} to unload` };
  }
  if (stale.length > 0) {
    return { kind: 'wait', drain: [], why: `waiting for a fresh memory reading of ${stale.join(', ')}`, readDevices: true };
  }
  // Only a reading can lag behind an unload; caps and counts are our own bookkeeping.
  const recovering = nowShort.some(
    (x) => x.kind === 'free' && now - (s.unloadedAt.get(x.device) ?? -Infinity) < s.config.recoverMs,
  );

  const base = [...unloading, ...forced.filter((r) => r.status !== 'unloading')];
  const candidates = residents
    .filter((r) => r.status === 'loaded' && r.name !== name && !base.some((b) => b.name === r.name))
    .filter((r) => !entryOf(s, r.name).policy.pin && !entryOf(s, r.name).pendingUnload)
    .map((r) => {
      const c = entryOf(s, r.name);
      const value = s.config.costAwareVictims ? reloadValue(c.loadMs, c.gapMs, now - Math.max(c.lastUsed, c.lastRequestAt ?? 0)) : 0;
      return { ...r, priority: c.policy.priority, lastUsed: c.lastUsed, value };
    });
  const short = new Set(afterUnloads.map((x) => x.device));
  const helps = (c: Resident) => short.has('count') || [...short].some((d) => (c.hold[d] ?? 0) > 0);
  const fitsWithout = (victims: readonly Resident[]) => {
    const gone = [...base, ...victims];
    return shortages(input, need, stay(gone), gone).length === 0;
  };

  const reasonFor = (x: Shortage[]): StopReason => (x.some((y) => y.device !== 'count') ? 'memory' : 'lru');
  const detail = `making room for ${name}`;

  const idleCandidates = candidates.filter((c) => isIdle(s, c.name) && !hasWaiters(s, c.name));
  const idleVictims = chooseVictims(idleCandidates, helps, fitsWithout);
  // Fewest stops, busy models counted: when fewer busy models than idle ones would make the room, drain
  // those (after the window) rather than stop the idle ones. Every model stopped is a load later if it is
  // asked for again; the drain delays this load by the window and the busy requests, no more (bench/sim
  // cold-big seed 20240621: two small idle models stopped for a big one and both loaded again within 25 s,
  // where draining the one busy model would have made the room).
  const fewerBusy =
    idleVictims && idleVictims.length > 1 && forced.length === 0
      ? chooseVictims(candidates.filter((c) => !idleCandidates.includes(c)), helps, fitsWithout)
      : undefined;
  const drainInstead = fewerBusy && fewerBusy.length > 0 && fewerBusy.length < idleVictims!.length ? fewerBusy : undefined;
  if (idleVictims && forcedBusy.length === 0 && !drainInstead) {
    if (idleVictims.length === 0 && forcedIdle.length === 0) {
      if (recovering) {
        return { kind: 'wait', drain: [], why: describe(nowShort) + ' (memory still being released)', readDevices: true };
      }
      return { kind: 'wait', drain: [], why: `waiting for ${unloading.map((r) => r.name).join(', ')} to unload` };
    }
    if (recovering && forcedIdle.length === 0) {
      return { kind: 'wait', drain: [], why: describe(nowShort) + ' (memory still being released)', readDevices: true };
    }
    return {
      kind: 'evict',
      victims: [
        ...forcedIdle.map((r) => ({ name: r.name, reason: 'group' as StopReason, detail: `exclusive group ${group}` })),
        ...idleVictims.map((v) => ({ name: v.name, reason: reasonFor(afterUnloads), detail })),
      ],
    };
  }

  // Not enough idle room: some busy models must drain first. Pick them by the same rule,
  // counting busy ones too, and stop new requests to them until they are idle. Once chosen,
  // the victims stay chosen while they still make room: re-picking by recency after one
  // drains would throw that drain away and start another.
  const reserved = s.reservations.get(waiterId);
  const kept = reserved ? candidates.filter((c) => reserved.includes(c.name)) : [];
  const allVictims =
    reserved && kept.length === reserved.length && fitsWithout(kept) ? kept : (drainInstead ?? chooseVictims(candidates, helps, fitsWithout));
  if (!allVictims && forcedBusy.length === 0) {
    const pinned = residents.filter((r) => entryOf(s, r.name).policy.pin).map((r) => r.name);
    return {
      kind: 'wait',
      drain: [],
      why: describe(afterUnloads) + (pinned.length ? `; pinned: ${pinned.join(', ')}` : ''),
    };
  }
  const victims = [...forced.filter((r) => r.status !== 'unloading'), ...(allVictims ?? [])];
  const busy = victims.filter((v) => !isIdle(s, v.name) || v.status === 'loading');
  // The idle ones among them stop now; the busy ones drain.
  const stop = victims
    .filter((v) => v.status === 'loaded' && isIdle(s, v.name))
    .map((v): Victim => (forced.includes(v) ? { name: v.name, reason: 'group', detail: `exclusive group ${group}` } : { name: v.name, reason: reasonFor(afterUnloads), detail }));
  const busyDesc = busy.map((v) => `${v.name} (${entryOf(s, v.name).refs} requests)`).join(', ');
  return {
    kind: 'wait',
    drain: victims.map((v) => v.name),
    why: [describe(afterUnloads), busyDesc && `busy: ${busyDesc}`].filter(Boolean).join('; '),
    ...(stop.length > 0 ? { stop } : {}),
    ...(allVictims ? { reserve: allVictims.map((v) => v.name) } : {}),
  };
}

/**
 * Where the model's GPUs are, for a target being placed: room now, once idle models of its tier or
 * below are gone, and at most (placement.ts). The margin counts even when the free check is off (0).
 * `tentative`: GPUs newly chosen for a load that will have to wait for room.
 */
function placeTarget(
  s: SchedulerState,
  name: string,
  need: DeviceBytes,
  input: CapacityInput,
  residents: Resident[],
): { need: DeviceBytes; tentative?: string[] } | { plan: Plan } {
  const m = entryOf(s, name);
  if (s.readings.size === 0) {
    return { plan: { kind: 'wait', drain: [], why: 'waiting for a memory reading to choose its GPU', readDevices: true } };
  }
  const others = residents.filter((r) => r.name !== name);
  const margin = input.marginBytes ?? 0;
  const priority = m.policy.priority;
  const going = others.filter((r) => {
    if (r.status === 'unloading') return true;
    const o = entryOf(s, r.name);
    if (r.status !== 'loaded' || o.refs > 0 || hasWaiters(s, r.name)) return false;
    return o.pendingUnload || (!o.policy.pin && o.policy.priority <= priority);
  });
  const staying = others.filter((r) => !going.includes(r));
  const rooms: GpuRoom[] = [...s.readings.values()]
    .filter((r) => r.name !== 'CPU')
    .map((reading) => {
      const d = reading.name;
      const cap = input.caps[d];
      const room = (remaining: readonly Resident[], freed: readonly Resident[]) => {
        const free = reading.free + total(freed, d, 'hold') - total(freed, d, 'pending') - total(remaining, d, 'pending') - margin;
        return cap === undefined ? free : Math.min(free, cap - total(remaining, d, 'hold'));
      };
      return {
        name: d,
        now: room(others, []),
        reclaimable: room(staying, going),
        capacity: Math.min(capacityOf(input, d) ?? Infinity, reading.total - margin),
      };
    });
  const p = place({ need, perGpuBytes: m.perGpuBytes, gpus: rooms });
  // Room now, without evicting anything: take it.
  if ('stage' in p && p.stage === 'now') return { need: p.need };
  // A GPU whose reading predates an unload has more room than it shows: read again before choosing.
  const stale = rooms.filter((r) => (s.unloadedAt.get(r.name) ?? -Infinity) > s.readingsAt).map((r) => r.name);
  if (stale.length > 0) {
    return { plan: { kind: 'wait', drain: [], why: `waiting for a fresh memory reading of ${stale.join(', ')}`, readDevices: true } };
  }
  // Otherwise a load that chose its GPUs earlier (and evicted for them) keeps them while they can hold
  // it: choosing afresh by room could pick other GPUs and evict there too.
  const earlier = m.tentative;
  if (earlier) {
    const kept = rooms.filter((r) => earlier.includes(r.name));
    const again = kept.length === earlier.length ? place({ need, perGpuBytes: m.perGpuBytes, gpus: kept }) : undefined;
    if (again && 'stage' in again) return { need: again.need };
  }
  if ('stage' in p) return { need: p.need, tentative: p.devices };
  const message =
    rooms.length === 0
      ? `model '${name}' needs ${gib(p.need)} on a GPU, and there is no GPU`
      : `model '${name}' needs ${gib(p.need)} on a GPU, which has ${gib(Math.max(0, p.largest))} at most` +
        (rooms.length > 1 ? `, and no split over ${rooms.map((r) => r.name).join(', ')} holds it` : '');
  return { plan: { kind: 'impossible', error: { kind: 'too_large', message } } };
}

/** A waiter's reason in words: what is short, by how much. */
function describe(x: Shortage[]): string {
  return x
    .map((y) =>
      y.device === 'count' ? 'models-max reached' : `${y.device}: need ${gib(y.need)}, free ${gib(Math.max(0, y.available))}`,
    )
    .join('; ');
}

export function gib(bytes: number): string {
  const g = bytes / 2 ** 30;
  if (g >= 1) return `${g.toFixed(1)} GiB`;
  return `${Math.round(bytes / 2 ** 20)} MiB`;
}
