/**
 * What the scheduler remembers: one entry per model, the queue, the last device reading, the
 * reservations. `Scheduler` (scheduler.ts) owns it and is the only one that changes it; the planner
 * (plan-load.ts) gets it as a `SchedulerState`, read-only, so a plan can be made, compared and thrown
 * away without side effects.
 */
import type { DeviceBytes, DeviceReading, ModelPolicy, ModelStatus, Rejection, RequestKind, SchedulerConfig } from './types.js';

/**
 * One model's runtime state, its fields grouped by concern; each group says what changes it. Kept flat
 * (not sub-records) because the planner reads across the groups in most of its rules.
 */
export interface ModelEntry {
  policy: ModelPolicy;

  // Lifecycle: the status machine and who uses it (events `ready`/`exited`/`unload`, admit/done).
  status: ModelStatus;
  /** Requests admitted and not yet finished. */
  refs: number;
  /** When its last request finished: the LRU order of eviction. */
  lastUsed: number;
  loadedAt: number;
  /** When its current child was started: a device reading older than this has seen none of it. */
  startedAt: number;
  /** An explicit unload waits for its references to finish. */
  pendingUnload: boolean;
  /** Why its first waiter is not being served yet; recomputed every dispatch. */
  waitingFor?: string;

  // Backoff: repeated failures make later requests fail fast (`fail`, cleared on `ready`).
  failures: number;
  backoffUntil: number;
  lastError?: string;

  // What it needs and holds per device (events `need`, `usage`).
  need?: DeviceBytes;
  usage?: DeviceBytes;

  // Placement (placement.ts; `perGpuBytes` from `need`, `placed` set by a start and `sized`, cleared when the
  // child is gone, `tentative` from a plan, cleared at start, on too_large, on failure or once nobody waits): what each GPU pays again
  // in a split ...
  perGpuBytes?: number;
  /** ... the need on the GPUs chosen for the current load (set at start, cleared when the child is gone) ... */
  placed?: DeviceBytes;
  /** ... and the GPUs chosen for a load still waiting for room, kept so evictions made for it are not wasted. */
  tentative?: string[];

  // Sizing (elastic models; set by their start, cleared by `sized`, exit or failure): started and not yet
  // sized, so `placed` holds the whole room its start reported; `planned` is the need the load was planned
  // with, what it holds if the router sizes it as given.
  sizing?: boolean;
  planned?: DeviceBytes;

  // Reload cost (eviction.ts `reloadValue`; `loadMs` on `ready`, the others on each request): how long its
  // last load took, and the EWMA of the gap between its requests.
  loadMs?: number;
  gapMs?: number;
  lastRequestAt?: number;

  // Request time (drain.ts; on each `done` of an admitted request): how long its requests take from
  // admission to done, leaning to the long ones, and how many have finished.
  requestMs?: number;
  requestsDone?: number;
}

export interface Waiter {
  id: string;
  model: string;
  kind: RequestKind;
  at: number;
}

/** The scheduler's state as the planner sees it: nothing here can be changed through it. */
export interface SchedulerState {
  readonly config: Readonly<SchedulerConfig>;
  readonly models: ReadonlyMap<string, Readonly<ModelEntry>>;
  /** FIFO: the order loads are planned in. */
  readonly queue: readonly Readonly<Waiter>[];
  readonly readings: ReadonlyMap<string, DeviceReading>;
  /** When the readings were taken. */
  readonly readingsAt: number;
  /** Device -> when a child holding memory on it last went away. */
  readonly unloadedAt: ReadonlyMap<string, number>;
  /** Waiter id -> the models chosen to make room for it; kept until its load starts. */
  readonly reservations: ReadonlyMap<string, readonly string[]>;
}

/** What the router sees of a model (status page, /v1/models, logs). */
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

export function viewOf(s: SchedulerState, name: string): ModelView | undefined {
  const m = s.models.get(name);
  if (!m) return undefined;
  return {
    name,
    status: m.status,
    refs: m.refs,
    queued: s.queue.filter((w) => w.model === name).length,
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

export function newEntry(policy: ModelPolicy): ModelEntry {
  return {
    policy,
    status: 'unloaded',
    refs: 0,
    lastUsed: 0,
    loadedAt: 0,
    startedAt: -Infinity,
    failures: 0,
    backoffUntil: 0,
    pendingUnload: false,
  };
}

export function entryOf(s: SchedulerState, name: string): Readonly<ModelEntry> {
  const m = s.models.get(name);
  if (!m) throw new Error(`scheduler: unknown model '${name}'`);
  return m;
}

export function isIdle(s: SchedulerState, name: string): boolean {
  return entryOf(s, name).refs === 0;
}

export function hasWaiters(s: SchedulerState, name: string): boolean {
  return s.queue.some((w) => w.model === name);
}

/** The answer to a request for a model that is backing off after failures. */
export function backoffError(m: Readonly<ModelEntry>, now: number): Rejection {
  const s = Math.max(1, Math.ceil((m.backoffUntil - now) / 1000));
  return {
    kind: 'backoff',
    message: `model '${m.policy.name}' failed ${m.failures} times (${m.lastError ?? 'unknown error'}); retrying in ${s} s`,
    retryAfterS: s,
  };
}
