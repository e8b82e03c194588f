/**
 * The policy: which request runs, which model loads, which one makes room. Pure: no I/O,
 * no timers, no processes. The router is its only caller: it feeds events (with `now`)
 * and carries out the effects it gets back.
 *
 * Rules (see docs/ARCHITECTURE.md):
 * - a model with references (admitted requests) is never evicted, nor is one still loading;
 * - loads start in FIFO order of their first waiter; once a waiter cannot start its load,
 *   later loads wait behind it, and once it has waited `drainAfterMs` (the batching window)
 *   the models it needs room from stop taking new requests (they drain), so a steady stream
 *   for A cannot starve B;
 * - when a model becomes ready, every queued request for it is admitted in that turn.
 */
import { capacityOf, roomOn, shortages, type CapacityInput, type Resident, type Shortage } from './capacity.js';
import { chooseVictims, reloadValue } from './eviction.js';
import { ANY_GPU, gpusOf, place, wantsPlacement, type GpuRoom } from './placement.js';
import type {
  DeviceBytes,
  DeviceReading,
  Effect,
  ModelPolicy,
  ModelStatus,
  Rejection,
  RequestKind,
  Room,
  SchedulerConfig,
  SchedulerEvent,
  StopReason,
} from './types.js';

export interface ModelView {
  name: string;
  status: ModelStatus;
  /** Requests admitted and not yet finished. */
  refs: number;
  queued: number;
  lastUsed: number;
  failures: number;
  backoffUntil: number;
  lastError?: string;
  need?: DeviceBytes;
  usage?: DeviceBytes;
  /** The need as placed on GPUs for the current load, when the router chose them (placement.ts). */
  placed?: DeviceBytes;
  /** Why its first waiter is not being served yet, when it waits. */
  waitingFor?: string;
}

interface ModelEntry {
  policy: ModelPolicy;
  status: ModelStatus;
  refs: number;
  lastUsed: number;
  loadedAt: number;
  /** When its current child was started: a device reading older than this has seen none of it. */
  startedAt: number;
  need?: DeviceBytes;
  usage?: DeviceBytes;
  /** Placement (placement.ts): what each GPU pays again in a split ... */
  perGpuBytes?: number;
  /** ... the need on the GPUs chosen for the current load (set at start, cleared when the child is gone) ... */
  placed?: DeviceBytes;
  /** ... and the GPUs chosen for a load still waiting for room, kept so evictions made for it are not wasted. */
  tentative?: string[];
  /**
   * Elastic models: started and not yet sized, so `placed` holds the whole room its start reported; `planned`
   * is the need the load was planned with, what it holds if the router sizes it as given.
   */
  sizing?: boolean;
  planned?: DeviceBytes;
  failures: number;
  backoffUntil: number;
  lastError?: string;
  pendingUnload: boolean;
  waitingFor?: string;
  /** Reload cost (eviction.ts): how long its last load took, and the EWMA of the gap between its requests. */
  loadMs?: number;
  gapMs?: number;
  lastRequestAt?: number;
}

interface Waiter {
  id: string;
  model: string;
  kind: RequestKind;
  at: number;
}

type Plan =
  | { kind: 'start'; need: DeviceBytes }
  | { kind: 'evict'; victims: { name: string; reason: StopReason; detail: string }[] }
  | { kind: 'wait'; drain: string[]; why: string; readDevices?: boolean }
  | { kind: 'impossible'; error: Rejection };

export const defaultConfig: SchedulerConfig = {
  modelsMax: 4,
  queueMax: 256,
  queueTimeoutMs: 600_000,
  autoload: true,
  marginBytes: null,
  caps: {},
  recoverMs: 5_000,
  readingMaxAgeMs: 1_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  serial: false,
  drainAfterMs: 15_000,
  serialLoads: true,
  costAwareVictims: false,
};

export class Scheduler {
  private readonly models = new Map<string, ModelEntry>();
  private queue: Waiter[] = [];
  /** Admitted request id -> model. */
  private readonly admitted = new Map<string, string>();
  private readonly readings = new Map<string, DeviceReading>();
  private readingsAt = -Infinity;
  /** Device -> when a child holding memory on it last went away. */
  private readonly unloadedAt = new Map<string, number>();
  private shuttingDown = false;
  /** Waiter id -> the models chosen to make room for it; kept until its load starts. */
  private readonly reservations = new Map<string, string[]>();
  private effects: Effect[] = [];
  private readonly config: SchedulerConfig;

  constructor(config: Partial<SchedulerConfig> = {}, models: ModelPolicy[] = []) {
    // An option given as undefined keeps its default (an undefined window would never drain: starvation).
    const given = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined));
    this.config = { ...defaultConfig, ...given };
    for (const m of models) this.addModel(m);
  }

  /** Add or replace a model's policy (hot reload keeps its runtime state). */
  addModel(policy: ModelPolicy): void {
    const existing = this.models.get(policy.name);
    if (existing) {
      existing.policy = policy;
      return;
    }
    this.models.set(policy.name, {
      policy,
      status: 'unloaded',
      refs: 0,
      lastUsed: 0,
      loadedAt: 0,
      startedAt: -Infinity,
      failures: 0,
      backoffUntil: 0,
      pendingUnload: false,
    });
  }

  /** Forget a model that is unloaded and has no waiters; false if it is still in use. */
  removeModel(name: string): boolean {
    const m = this.models.get(name);
    if (!m) return true;
    if (m.status !== 'unloaded' && m.status !== 'failed') return false;
    if (m.refs > 0 || this.queue.some((w) => w.model === name)) return false;
    this.models.delete(name);
    return true;
  }

  handle(event: SchedulerEvent): Effect[] {
    this.effects = [];
    this.apply(event);
    this.dispatch(event.now);
    return this.effects;
  }

  view(name: string): ModelView | undefined {
    const m = this.models.get(name);
    if (!m) return undefined;
    return {
      name,
      status: m.status,
      refs: m.refs,
      queued: this.queue.filter((w) => w.model === name).length,
      lastUsed: m.lastUsed,
      failures: m.failures,
      backoffUntil: m.backoffUntil,
      lastError: m.lastError,
      need: m.need,
      usage: m.usage,
      placed: m.placed,
      waitingFor: m.waitingFor,
    };
  }

  views(): ModelView[] {
    return [...this.models.keys()].map((n) => this.view(n)!);
  }

  get queueLength(): number {
    return this.queue.length;
  }

  /** Total references held across models; zero when the router is at rest. */
  get inFlight(): number {
    return this.admitted.size;
  }

  private apply(e: SchedulerEvent): void {
    switch (e.type) {
      case 'request':
        return this.onRequest(e.id, e.model, e.kind ?? 'request', e.now);
      case 'done':
        return this.onDone(e.id, e.now);
      case 'ready': {
        const m = this.entry(e.model);
        if (m.status !== 'loading') return;
        m.failures = 0;
        m.backoffUntil = 0;
        m.lastError = undefined;
        m.loadedAt = e.now;
        m.loadMs = e.now - m.startedAt;
        this.setStatus(e.model, 'loaded');
        // Its memory is allocated now: a fresh reading lets the free check stop counting it as pending.
        if (this.readings.size > 0) this.effects.push({ type: 'readDevices' });
        return;
      }
      case 'loadFailed': {
        if (this.entry(e.model).status !== 'loading') return;
        this.fail(e.model, e.message, e.now);
        const kind = e.reason === 'timeout' ? 'load_timeout' : 'load_failed';
        this.rejectWaiters(e.model, { kind, message: e.message });
        return;
      }
      case 'exited': {
        const m = this.entry(e.model);
        if (m.status !== 'loaded' && m.status !== 'unloading') return;
        this.noteFreed(m, e.now);
        m.usage = undefined;
        m.placed = undefined;
        m.sizing = false;
        if (e.expected || m.status === 'unloading') {
          m.pendingUnload = false;
          this.setStatus(e.model, 'unloaded');
        } else {
          this.fail(e.model, e.message ?? 'the model process exited', e.now);
        }
        return;
      }
      case 'unload': {
        const m = this.entry(e.model);
        if (m.status === 'loaded' || m.status === 'loading') m.pendingUnload = true;
        return;
      }
      case 'devices':
        this.readings.clear();
        for (const r of e.readings) this.readings.set(r.name, r);
        this.readingsAt = e.at;
        return;
      case 'need': {
        const m = this.entry(e.model);
        m.need = e.devices;
        m.perGpuBytes = e.perGpuBytes;
        return;
      }
      case 'usage':
        this.entry(e.model).usage = e.devices;
        return;
      case 'sized': {
        const m = this.entry(e.model);
        if (!m.sizing) return;
        m.sizing = false;
        const sized = e.devices ?? m.planned;
        m.placed = sized && (wantsPlacement(m.need) || e.devices) ? sized : undefined;
        m.planned = undefined;
        return;
      }
      case 'shutdown':
        this.shuttingDown = true;
        for (const w of this.queue) this.reject(w, { kind: 'shutting_down', message: 'the router is shutting down' });
        this.queue = [];
        return;
      case 'tick':
        return this.onTick(e.now);
    }
  }

  private onRequest(id: string, model: string, kind: RequestKind, now: number): void {
    const m = this.entry(model);
    if (kind === 'request') {
      // EWMA of the gap between its requests (weight 1/4 on the newest): how soon it is expected back.
      if (m.lastRequestAt !== undefined) {
        const gap = now - m.lastRequestAt;
        m.gapMs = m.gapMs === undefined ? gap : 0.75 * m.gapMs + 0.25 * gap;
      }
      m.lastRequestAt = now;
    }
    const w: Waiter = { id, model, kind, at: now };
    if (this.shuttingDown) return this.reject(w, { kind: 'shutting_down', message: 'the router is shutting down' });
    if (!this.config.autoload && kind === 'request' && m.status !== 'loaded' && m.status !== 'loading') {
      return this.reject(w, { kind: 'not_loaded', message: `model '${model}' is not loaded` });
    }
    if (m.backoffUntil > now && m.status === 'failed') {
      return this.reject(w, this.backoffError(m, now));
    }
    if (this.queue.length >= this.config.queueMax) {
      return this.reject(w, {
        kind: 'queue_full',
        message: `the queue is full (${this.config.queueMax} waiting)`,
        retryAfterS: 1,
      });
    }
    this.queue.push(w);
  }

  private onDone(id: string, now: number): void {
    const model = this.admitted.get(id);
    if (model !== undefined) {
      this.admitted.delete(id);
      const m = this.entry(model);
      m.refs = Math.max(0, m.refs - 1);
      m.lastUsed = now;
      return;
    }
    // A client that left while queued: drop its place; a load it started keeps going
    // only if someone else still wants the model (see dispatch: loading with no waiters).
    this.queue = this.queue.filter((w) => w.id !== id);
  }

  private onTick(now: number): void {
    const expired = this.queue.filter((w) => now - w.at >= this.config.queueTimeoutMs);
    if (expired.length) {
      this.queue = this.queue.filter((w) => now - w.at < this.config.queueTimeoutMs);
      for (const w of expired) {
        const m = this.entry(w.model);
        this.reject(w, {
          kind: 'queue_timeout',
          message: `timed out after ${Math.round(this.config.queueTimeoutMs / 1000)} s waiting for model '${w.model}'${m.waitingFor ? ` (${m.waitingFor})` : ''}`,
          retryAfterS: 5,
        });
      }
    }
    for (const [name, m] of this.models) {
      const ttl = m.policy.ttlMs ?? this.config.ttlMs;
      if (ttl === undefined || m.status !== 'loaded' || m.refs > 0 || m.policy.pin) continue;
      if (this.queue.some((w) => w.model === name)) continue;
      const idleSince = Math.max(m.lastUsed, m.loadedAt);
      if (now - idleSince >= ttl) this.stop(name, 'ttl', `idle for ${Math.round((now - idleSince) / 1000)} s`);
    }
  }

  private dispatch(now: number): void {
    for (const [name, m] of this.models) {
      m.waitingFor = undefined;
      if (m.status === 'loaded' && m.refs === 0 && (m.pendingUnload || this.shuttingDown)) {
        this.stop(name, this.shuttingDown ? 'shutdown' : 'unload', 'requested');
      }
    }
    if (this.shuttingDown) return;

    /** Models that must not take new requests: a waiter needs their room. */
    const draining = new Set<string>();
    /** Once one load cannot start, later loads wait behind it (FIFO: no starvation). */
    let loadBlocked = false;
    let lockHeld = this.lockHolders();
    /** Waiters answered in this turn (admitted or rejected). */
    const answered = new Set<Waiter>();
    const snapshot = this.queue;

    for (const w of snapshot) {
      if (answered.has(w)) continue;
      const m = this.entry(w.model);
      const name = w.model;
      if (m.status === 'loaded') {
        // Requests that queued while the model was loading are all served in its first turn
        // (no thrash); only later arrivals wait behind a drain.
        if (m.pendingUnload || (draining.has(name) && w.at > m.loadedAt)) {
          m.waitingFor ??= m.pendingUnload ? 'unloading' : 'draining for another model';
          continue;
        }
        if (w.kind === 'load') {
          answered.add(w);
          this.effects.push({ type: 'admit', id: w.id, model: name });
          continue;
        }
        if (m.policy.concurrency !== undefined && m.refs >= m.policy.concurrency) {
          m.waitingFor ??= `concurrency limit (${m.policy.concurrency} in flight)`;
          continue;
        }
        const locked = this.config.serial || m.policy.gpuLock;
        if (locked && lockHeld > 0) {
          m.waitingFor ??= 'serial lock held by another request';
          continue;
        }
        if (locked) lockHeld++;
        answered.add(w);
        this.admit(w);
        continue;
      }
      if (m.status === 'loading' || m.status === 'unloading') continue;
      // unloaded or failed: this waiter wants a load.
      if (m.status === 'failed' && m.backoffUntil > now) {
        for (const o of snapshot) if (o.model === name && !answered.has(o)) answered.add(o), this.reject(o, this.backoffError(m, now));
        continue;
      }
      if (loadBlocked) {
        m.waitingFor ??= 'behind an earlier load';
        continue;
      }
      // One load at a time per device: while another runs on this model's device, its plan may drain busy
      // models but stops and starts nothing. An idle model evicted now for a load that can only start later
      // is often asked for meanwhile (bench/sim zipf10: the hottest model reloaded ~120 times, mostly so).
      const loadingNow = this.config.serialLoads ? this.loadingOn(name, this.needOf(m)) : undefined;
      const plan = this.planLoad(name, now, w.id, loadingNow !== undefined);
      const busyDevice =
        (plan.kind === 'evict' || plan.kind === 'start') && this.config.serialLoads
          ? (loadingNow ?? (plan.kind === 'start' ? this.loadingOn(name, plan.need) : undefined))
          : undefined;
      if (busyDevice) {
        m.waitingFor = `behind the load of ${busyDevice} on the same device`;
        loadBlocked = true;
        continue;
      }
      switch (plan.kind) {
        case 'start': {
          // Placement: a need for "one GPU" now names the GPUs chosen for this load.
          if (wantsPlacement(m.need)) m.placed = plan.need;
          // An elastic model is told the room it may take, and holds all of it until it is sized: a load
          // planned meanwhile cannot count on room it is about to take.
          const room = m.policy.elastic ? this.roomFor(name, plan.need) : undefined;
          if (room) {
            m.planned = plan.need;
            m.placed = { ...plan.need };
            for (const [d, r] of Object.entries(room)) m.placed[d] = Math.max(r.bytes, plan.need[d] ?? 0);
            m.sizing = true;
          }
          m.tentative = undefined;
          m.startedAt = now;
          this.setStatus(name, 'loading');
          const gpus = gpusOf(plan.need);
          this.effects.push({ type: 'start', model: name, ...(gpus.length > 0 ? { devices: gpus } : {}), ...(room ? { room } : {}) });
          break;
        }
        case 'evict':
          for (const v of plan.victims) this.stop(v.name, v.reason, v.detail);
          m.waitingFor = `unloading ${plan.victims.map((v) => v.name).join(', ')}`;
          loadBlocked = true;
          break;
        case 'wait':
          // Within the batching window the busy models keep serving their own requests; the waiter is
          // still first in line for the room, so nothing behind it loads meanwhile.
          // Once the window is over, the models reserved for this waiter keep draining whatever this turn's
          // plan is: a wait for a fresh memory reading (stale after readingMaxAgeMs) names no victims, and
          // letting their new requests in then restarted the drain each time (the real-router starvation).
          if (now - w.at >= this.config.drainAfterMs) {
            for (const d of plan.drain) draining.add(d);
            for (const d of this.reservations.get(w.id) ?? []) if (this.entry(d).status === 'loaded') draining.add(d);
          }
          m.waitingFor = plan.why;
          if (plan.readDevices) this.effects.push({ type: 'readDevices' });
          loadBlocked = true;
          break;
        case 'impossible':
          m.tentative = undefined;
          // Every waiter for this model gets the same answer now, not after a timeout.
          for (const o of snapshot) if (o.model === name && !answered.has(o)) answered.add(o), this.reject(o, plan.error);
          break;
      }
    }
    this.queue = snapshot.filter((w) => !answered.has(w));
    for (const id of this.reservations.keys()) {
      if (!this.queue.some((w) => w.id === id && this.entry(w.model).status !== 'loading')) this.reservations.delete(id);
    }
    for (const [name, m] of this.models) if (m.tentative && !this.hasWaiters(name)) m.tentative = undefined;

    // A load nobody waits for any more still completes (its child is already starting),
    // and then it is an ordinary idle model: evictable, never stranded in `loading`.
  }

  /** What it takes to start `name` now. */
  /** `holdIdle`: another load holds the device, so idle victims are not stopped yet (see dispatch). */
  private planLoad(name: string, now: number, waiterId: string, holdIdle = false): Plan {
    const target = this.entry(name);
    let need = target.need ?? {};
    const input: CapacityInput = {
      modelsMax: this.config.modelsMax,
      marginBytes: this.config.marginBytes,
      caps: this.config.caps,
      readings: this.readings,
    };
    const residents = this.residents();
    // Free memory is judged on a recent reading: others may have taken some since an old one.
    const freeMatters = this.config.marginBytes !== null || wantsPlacement(need);
    if (freeMatters && this.readings.size > 0 && now - this.readingsAt > this.config.readingMaxAgeMs) {
      return { kind: 'wait', drain: [], why: 'waiting for a fresh memory reading', readDevices: true };
    }
    // Placement: a need for "one GPU" is mapped onto the GPU(s) chosen now; the rest of the plan
    // (evictions on short devices only, waits, too_large) then works on those devices.
    if (wantsPlacement(need)) {
      const placed = this.placeTarget(name, need, input, residents);
      if ('plan' in placed) return placed.plan;
      need = placed.need;
    }

    for (const [device, bytes] of Object.entries(need)) {
      const capacity = capacityOf(input, device);
      if (capacity !== undefined && bytes > capacity) {
        const has = this.readings.has(device) || this.config.caps[device] !== undefined;
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
    const forced = group
      ? residents.filter((r) => r.name !== name && this.entry(r.name).policy.group === group)
      : [];
    const forcedBusy = forced.filter((r) => r.status === 'loading' || (r.status === 'loaded' && !this.idle(r.name)));
    const forcedIdle = forced.filter((r) => r.status === 'loaded' && this.idle(r.name));

    const unloading = residents.filter((r) => r.status === 'unloading');
    const stay = (gone: readonly Resident[]) => {
      const names = new Set(gone.map((g) => g.name));
      return residents.filter((r) => !names.has(r.name));
    };

    // A device whose reading predates an unload is not trusted to start anything on it.
    const stale = Object.keys(need).filter(
      (d) => (need[d] ?? 0) > 0 && this.readings.has(d) && (this.unloadedAt.get(d) ?? -Infinity) > this.readingsAt,
    );

    const nowShort = shortages(input, need, stay([]), []);
    if (forced.length === 0 && nowShort.length === 0 && stale.length === 0) return { kind: 'start', need };
    // An elastic model still choosing its size holds more than it will keep: wait for its answer rather
    // than evict for room it may give back.
    const sizing = residents.filter((r) => r.name !== name && this.entry(r.name).sizing).map((r) => r.name);
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
      (s) => s.kind === 'free' && now - (this.unloadedAt.get(s.device) ?? -Infinity) < this.config.recoverMs,
    );

    const base = [...unloading, ...forced.filter((r) => r.status !== 'unloading')];
    const candidates = residents
      .filter((r) => r.status === 'loaded' && r.name !== name && !base.some((b) => b.name === r.name))
      .filter((r) => !this.entry(r.name).policy.pin && !this.entry(r.name).pendingUnload)
      .map((r) => {
        const c = this.entry(r.name);
        const value = this.config.costAwareVictims ? reloadValue(c.loadMs, c.gapMs, now - Math.max(c.lastUsed, c.lastRequestAt ?? 0)) : 0;
        return { ...r, priority: c.policy.priority, lastUsed: c.lastUsed, value };
      });
    const short = new Set(afterUnloads.map((s) => s.device));
    const helps = (c: Resident) =>
      (short.has('count')) || [...short].some((d) => (c.hold[d] ?? 0) > 0);
    const fitsWithout = (victims: readonly Resident[]) => {
      const gone = [...base, ...victims];
      return shortages(input, need, stay(gone), gone).length === 0;
    };

    const reasonFor = (s: Shortage[]): StopReason => (s.some((x) => x.device !== 'count') ? 'memory' : 'lru');
    const detail = `making room for ${name}`;

    const idleCandidates = candidates.filter((c) => this.idle(c.name) && !this.hasWaiters(c.name));
    const idleVictims = chooseVictims(idleCandidates, helps, fitsWithout);
    if (idleVictims && forcedBusy.length === 0) {
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
    const reserved = this.reservations.get(waiterId);
    const kept = reserved ? candidates.filter((c) => reserved.includes(c.name)) : [];
    const allVictims = reserved && kept.length === reserved.length && fitsWithout(kept) ? kept : chooseVictims(candidates, helps, fitsWithout);
    if (allVictims) this.reservations.set(waiterId, allVictims.map((v) => v.name));
    if (!allVictims && forcedBusy.length === 0) {
      const pinned = residents.filter((r) => this.entry(r.name).policy.pin).map((r) => r.name);
      return {
        kind: 'wait',
        drain: [],
        why: describe(afterUnloads) + (pinned.length ? `; pinned: ${pinned.join(', ')}` : ''),
      };
    }
    const victims = [...forced.filter((r) => r.status !== 'unloading'), ...(allVictims ?? [])];
    const busy = victims.filter((v) => !this.idle(v.name) || v.status === 'loading');
    const idleNow = holdIdle ? [] : victims.filter((v) => v.status === 'loaded' && this.idle(v.name));
    for (const v of idleNow) {
      const isForced = forced.includes(v);
      this.stop(v.name, isForced ? 'group' : reasonFor(afterUnloads), isForced ? `exclusive group ${group}` : detail);
    }
    const busyDesc = busy.map((v) => `${v.name} (${this.entry(v.name).refs} requests)`).join(', ');
    return {
      kind: 'wait',
      drain: victims.map((v) => v.name),
      why: [describe(afterUnloads), busyDesc && `busy: ${busyDesc}`].filter(Boolean).join('; '),
    };
  }

  /**
   * Where the model's GPUs are, for a target being placed: room now, once idle models of its tier or
   * below are gone, and at most (placement.ts). The margin counts even when the free check is off (0).
   */
  private placeTarget(
    name: string,
    need: DeviceBytes,
    input: CapacityInput,
    residents: Resident[],
  ): { need: DeviceBytes } | { plan: Plan } {
    const m = this.entry(name);
    if (this.readings.size === 0) {
      return { plan: { kind: 'wait', drain: [], why: 'waiting for a memory reading to choose its GPU', readDevices: true } };
    }
    const others = residents.filter((r) => r.name !== name);
    const margin = input.marginBytes ?? 0;
    const priority = m.policy.priority;
    const going = others.filter((r) => {
      if (r.status === 'unloading') return true;
      const o = this.entry(r.name);
      if (r.status !== 'loaded' || o.refs > 0 || this.hasWaiters(r.name)) return false;
      return o.pendingUnload || (!o.policy.pin && o.policy.priority <= priority);
    });
    const staying = others.filter((r) => !going.includes(r));
    const rooms: GpuRoom[] = [...this.readings.values()]
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
    const stale = rooms.filter((r) => (this.unloadedAt.get(r.name) ?? -Infinity) > this.readingsAt).map((r) => r.name);
    if (stale.length > 0) {
      return { plan: { kind: 'wait', drain: [], why: `waiting for a fresh memory reading of ${stale.join(', ')}`, readDevices: true } };
    }
    // Otherwise a load that chose its GPUs earlier (and evicted for them) keeps them while they can hold
    // it: choosing afresh by room could pick other GPUs and evict there too.
    if (m.tentative) {
      const kept = rooms.filter((r) => m.tentative!.includes(r.name));
      const again = kept.length === m.tentative.length ? place({ need, perGpuBytes: m.perGpuBytes, gpus: kept }) : undefined;
      if (again && 'stage' in again) return { need: again.need };
    }
    if ('stage' in p) {
      m.tentative = p.devices;
      return { need: p.need };
    }
    const message =
      rooms.length === 0
        ? `model '${name}' needs ${gib(p.need)} on a GPU, and there is no GPU`
        : `model '${name}' needs ${gib(p.need)} on a GPU, which has ${gib(Math.max(0, p.largest))} at most` +
          (rooms.length > 1 ? `, and no split over ${rooms.map((r) => r.name).join(', ')} holds it` : '');
    return { plan: { kind: 'impossible', error: { kind: 'too_large', message } } };
  }

  private residents(): Resident[] {
    const out: Resident[] = [];
    for (const [name, m] of this.models) {
      if (m.status !== 'loading' && m.status !== 'loaded' && m.status !== 'unloading') continue;
      const need = this.needOf(m);
      // A measurement that misses a device (nvidia-smi in a container sees no per-process use) does
      // not erase what the need said it holds there.
      const hold = { ...need, ...(m.usage ?? {}) };
      const pending: DeviceBytes = {};
      if (m.status === 'loading') {
        // The last reading may have seen part of it; assume the rest is still to come.
        for (const [d, b] of Object.entries(need)) pending[d] = Math.max(0, b - (m.usage?.[d] ?? 0));
      }
      // A reading taken before its child started has seen none of it (loaded since, not read since).
      if (m.startedAt > this.readingsAt) Object.assign(pending, hold);
      out.push({ name, status: m.status, hold, pending });
    }
    return out;
  }

  /**
   * The room an elastic model starting now with `need` may take on each device it uses (capacity.ts
   * `roomOn`); undefined when no device bounds it. A GPU chosen by placement is bounded by its free memory
   * even with the free check off, as placement judged it.
   */
  private roomFor(name: string, need: DeviceBytes): Record<string, Room> | undefined {
    const input: CapacityInput = { modelsMax: 0, marginBytes: this.config.marginBytes, caps: this.config.caps, readings: this.readings };
    const others = this.residents().filter((r) => r.name !== name);
    const placed = wantsPlacement(this.entry(name).need);
    const out: Record<string, Room> = {};
    for (const [d, b] of Object.entries(need)) {
      if (!(b > 0)) continue;
      const room = roomOn(input, d, others, placed && d !== 'CPU');
      if (room) out[d] = room;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }

  /** The need a resident holds by: as placed (or sized) for this load, or as given. Never the generic GPU. */
  private needOf(m: ModelEntry): DeviceBytes {
    const need = m.placed ?? m.need ?? {};
    if (!(ANY_GPU in need)) return need;
    const specific = { ...need };
    delete specific[ANY_GPU];
    return specific;
  }

  /** Another model still loading on a device `need` uses, or undefined. */
  private loadingOn(name: string, need: DeviceBytes): string | undefined {
    const mine = Object.keys(need).filter((d) => (need[d] ?? 0) > 0);
    for (const [other, o] of this.models) {
      if (other === name || o.status !== 'loading') continue;
      const theirs = Object.keys(this.needOf(o)).filter((d) => (this.needOf(o)[d] ?? 0) > 0);
      // No known need (an external backend, a `cmd` preset without `memory =`): no device to share, no wait.
      if (mine.some((d) => theirs.includes(d))) return other;
    }
    return undefined;
  }

  private idle(name: string): boolean {
    return this.entry(name).refs === 0;
  }

  private hasWaiters(name: string): boolean {
    return this.queue.some((w) => w.model === name);
  }

  private lockHolders(): number {
    let n = 0;
    for (const model of this.admitted.values()) {
      const m = this.entry(model);
      if (this.config.serial || m.policy.gpuLock) n++;
    }
    return n;
  }

  private admit(w: Waiter): void {
    const m = this.entry(w.model);
    m.refs++;
    this.admitted.set(w.id, w.model);
    this.effects.push({ type: 'admit', id: w.id, model: w.model });
  }

  private reject(w: Waiter, error: Rejection): void {
    this.effects.push({ type: 'reject', id: w.id, model: w.model, error });
  }

  private rejectWaiters(model: string, error: Rejection): void {
    for (const w of this.queue) if (w.model === model) this.reject(w, error);
    this.queue = this.queue.filter((w) => w.model !== model);
  }

  private stop(name: string, reason: StopReason, detail: string): void {
    const m = this.entry(name);
    if (m.status !== 'loaded') return;
    this.setStatus(name, 'unloading', reason);
    this.effects.push({ type: 'stop', model: name, reason, detail });
  }

  private fail(name: string, message: string, now: number): void {
    const m = this.entry(name);
    m.failures++;
    m.lastError = message;
    m.pendingUnload = false;
    m.usage = undefined;
    // The first failure retries on the next request; repeated ones back off exponentially.
    m.backoffUntil =
      m.failures >= 2
        ? now + Math.min(this.config.backoffMaxMs, this.config.backoffBaseMs * 2 ** (m.failures - 2))
        : 0;
    this.noteFreed(m, now);
    m.placed = undefined;
    m.sizing = false;
    m.planned = undefined;
    m.tentative = undefined;
    this.setStatus(name, 'failed', message);
  }

  private noteFreed(m: ModelEntry, now: number): void {
    for (const [d, b] of Object.entries({ ...this.needOf(m), ...(m.usage ?? {}) })) if (b > 0) this.unloadedAt.set(d, now);
  }

  private backoffError(m: ModelEntry, now: number): Rejection {
    const s = Math.max(1, Math.ceil((m.backoffUntil - now) / 1000));
    return {
      kind: 'backoff',
      message: `model '${m.policy.name}' failed ${m.failures} times (${m.lastError ?? 'unknown error'}); retrying in ${s} s`,
      retryAfterS: s,
    };
  }

  private setStatus(name: string, to: ModelStatus, reason?: string): void {
    const m = this.entry(name);
    const from = m.status;
    if (from === to) return;
    m.status = to;
    this.effects.push({ type: 'status', model: name, from, to, reason });
  }

  private entry(name: string): ModelEntry {
    const m = this.models.get(name);
    if (!m) throw new Error(`scheduler: unknown model '${name}'`);
    return m;
  }
}

function total(rs: readonly Resident[], device: string, field: 'hold' | 'pending'): number {
  let sum = 0;
  for (const r of rs) sum += r[field][device] ?? 0;
  return sum;
}

function describe(s: Shortage[]): string {
  return s
    .map((x) =>
      x.device === 'count'
        ? 'models-max reached'
        : `${x.device}: need ${gib(x.need)}, free ${gib(Math.max(0, x.available))}`,
    )
    .join('; ');
}

export function gib(bytes: number): string {
  const g = bytes / 2 ** 30;
  if (g >= 1) return `${g.toFixed(1)} GiB`;
  return `${Math.round(bytes / 2 ** 20)} MiB`;
}
