/**
 * The policy: which request runs, which model loads, which one makes room. Pure: no I/O,
 * no timers, no processes. The router is its only caller: it feeds events (with `now`)
 * and carries out the effects it gets back.
 *
 * This file is the class: events applied to the state (`apply`), and `dispatch`, which walks the queue,
 * admits, and carries out the plans the pure planner makes (plan-load.ts). The state itself: state.ts.
 *
 * Rules (see docs/ARCHITECTURE.md):
 * - a model with references (admitted requests) is never evicted, nor is one still loading;
 * - loads start in FIFO order of their first waiter; once a waiter cannot start its load,
 *   later loads wait behind it, and once it has waited `drainAfterMs` (the batching window)
 *   the models it needs room from stop taking new requests (they drain), so a steady stream
 *   for A cannot starve B;
 * - when a model becomes ready, every queued request for it is admitted in that turn.
 */
import { configOf } from './config.js';
import { drainsNow, loadLeftMs, nextRequestMs } from './drain.js';
import { planLoad, type Plan } from './plan-load.js';
import { gpusOf, wantsPlacement } from './placement.js';
import { loadingOn, needOf } from './residents.js';
import { backoffError, hasWaiters, newEntry, type ModelEntry, type ModelView, type SchedulerState, type Waiter, viewOf } from './state.js';
import type { DeviceReading, Effect, ModelPolicy, ModelStatus, Rejection } from './types.js';
import type { RequestKind, SchedulerConfig, SchedulerEvent, StopReason } from './types.js';

export { defaultConfig } from './config.js';
export { gib } from './plan-load.js';
export type { ModelView } from './state.js';

export class Scheduler {
  private readonly models = new Map<string, ModelEntry>();
  private queue: Waiter[] = [];
  /** Admitted request id -> its model and when it was admitted (how long requests take: `requestMs`). */
  private readonly admitted = new Map<string, { model: string; at: number }>();
  private readonly readings = new Map<string, DeviceReading>();
  private readingsAt = -Infinity;
  /** Device -> when a child holding memory on it last went away. */
  private readonly unloadedAt = new Map<string, number>();
  private shuttingDown = false;
  /** Waiter id -> the models chosen to make room for it; kept until its load starts. */
  private readonly reservations = new Map<string, readonly string[]>();
  private effects: Effect[] = [];
  private readonly config: SchedulerConfig;

  /** The state as the planner sees it: read-only (plan-load.ts). */
  private get state(): SchedulerState {
    return {
      config: this.config,
      models: this.models,
      queue: this.queue,
      readings: this.readings,
      readingsAt: this.readingsAt,
      unloadedAt: this.unloadedAt,
      reservations: this.reservations,
    };
  }

  constructor(config: Partial<SchedulerConfig> = {}, models: ModelPolicy[] = []) {
    this.config = configOf(config);
    for (const m of models) this.addModel(m);
  }

  /** Add or replace a model's policy (hot reload keeps its runtime state). */
  addModel(policy: ModelPolicy): void {
    const existing = this.models.get(policy.name);
    if (existing) {
      existing.policy = policy;
      return;
    }
    this.models.set(policy.name, newEntry(policy));
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
    return viewOf(this.state, name);
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
      return this.reject(w, backoffError(m, now));
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
    const admitted = this.admitted.get(id);
    if (admitted !== undefined) {
      this.admitted.delete(id);
      const m = this.entry(admitted.model);
      m.refs = Math.max(0, m.refs - 1);
      m.lastUsed = now;
      m.requestMs = nextRequestMs(m.requestMs, now - admitted.at);
      m.requestsDone = (m.requestsDone ?? 0) + 1;
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
        this.admit(w, now);
        continue;
      }
      if (m.status === 'loading' || m.status === 'unloading') continue;
      // unloaded or failed: this waiter wants a load.
      if (m.status === 'failed' && m.backoffUntil > now) {
        for (const o of snapshot) if (o.model === name && !answered.has(o)) answered.add(o), this.reject(o, backoffError(m, now));
        continue;
      }
      if (loadBlocked) {
        m.waitingFor ??= 'behind an earlier load';
        continue;
      }
      // One load at a time per device: while another runs on this model's device, its plan may drain busy
      // models but stops and starts nothing. An idle model evicted now for a load that can only start later
      // is often asked for meanwhile (bench/sim zipf10: the hottest model reloaded ~120 times, mostly so).
      const loadingNow = this.config.serialLoads ? loadingOn(this.state, name, needOf(m)) : undefined;
      // The planner only reads; everything it decided is carried out here, in the order it lists.
      const plan = planLoad(this.state, name, now, w.id);
      if (plan.tentative) m.tentative = plan.tentative;
      const busyDevice =
        (plan.kind === 'evict' || plan.kind === 'start') && this.config.serialLoads
          ? (loadingNow ?? (plan.kind === 'start' ? loadingOn(this.state, name, plan.need) : undefined))
          : undefined;
      if (busyDevice) {
        m.waitingFor = `behind the load of ${busyDevice} on the same device`;
        loadBlocked = true;
        continue;
      }
      switch (plan.kind) {
        case 'start':
          this.start(name, plan, now);
          break;
        case 'evict':
          for (const v of plan.victims) this.stop(v.name, v.reason, v.detail);
          m.waitingFor = `unloading ${plan.victims.map((v) => v.name).join(', ')}`;
          loadBlocked = true;
          break;
        case 'wait':
          if (!loadingNow) for (const v of plan.stop ?? []) this.stop(v.name, v.reason, v.detail);
          if (plan.reserve) this.reservations.set(w.id, plan.reserve);
          // Within the batching window the busy models keep serving their own requests; the waiter is
          // still first in line for the room, so nothing behind it loads meanwhile.
          // Once the window is over, the models reserved for this waiter keep draining whatever this turn's
          // plan is: a wait for a fresh memory reading (stale after readingMaxAgeMs) names no victims, and
          // letting their new requests in then restarted the drain each time (the real-router starvation).
          // While another load holds the device, each victim drains just in time for it to end (drain.ts).
          if (now - w.at >= this.config.drainAfterMs) {
            const loading = loadingNow ? this.entry(loadingNow) : undefined;
            const left = loading ? loadLeftMs(loading.startedAt, loading.loadMs, now) : undefined;
            const due = (d: string) => drainsNow(this.entry(d), left, this.config.drainAfterMs);
            for (const d of plan.drain) if (due(d)) draining.add(d);
            for (const d of this.reservations.get(w.id) ?? []) if (this.entry(d).status === 'loaded' && due(d)) draining.add(d);
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
    for (const [name, m] of this.models) if (m.tentative && !hasWaiters(this.state, name)) m.tentative = undefined;

    // A load nobody waits for any more still completes (its child is already starting),
    // and then it is an ordinary idle model: evictable, never stranded in `loading`.
  }

  /** Carry out a start plan: the load's placement and room are remembered, and the child is asked for. */
  private start(name: string, plan: Extract<Plan, { kind: 'start' }>, now: number): void {
    const m = this.entry(name);
    // Placement: a need for "one GPU" now names the GPUs chosen for this load.
    if (wantsPlacement(m.need)) m.placed = plan.need;
    // An elastic model is told the room it may take, and holds all of it until it is sized: a load
    // planned meanwhile cannot count on room it is about to take.
    const room = plan.room;
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
  }

  private lockHolders(): number {
    let n = 0;
    for (const { model } of this.admitted.values()) {
      const m = this.entry(model);
      if (this.config.serial || m.policy.gpuLock) n++;
    }
    return n;
  }

  private admit(w: Waiter, now: number): void {
    const m = this.entry(w.model);
    m.refs++;
    this.admitted.set(w.id, { model: w.model, at: now });
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
    for (const [d, b] of Object.entries({ ...needOf(m), ...(m.usage ?? {}) })) if (b > 0) this.unloadedAt.set(d, now);
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

