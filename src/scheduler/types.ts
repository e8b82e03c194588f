/**
 * The scheduler's vocabulary: what it knows, what it is told, what it asks for.
 * Pure data: the router feeds events in and carries effects out.
 */

export type ModelStatus = 'unloaded' | 'loading' | 'loaded' | 'unloading' | 'failed';

/** Bytes per device name ("CPU", "CUDA0", ...). */
export type DeviceBytes = Record<string, number>;

/** Static facts about a model that the policy needs (from its preset). */
export interface ModelPolicy {
  name: string;
  /** Higher is more protected from eviction. */
  priority: number;
  /** Never evicted; only an explicit unload stops it. */
  pin: boolean;
  /** Models of one group never run together. */
  group?: string;
  /** Unload after this long idle. */
  ttlMs?: number;
  /** At most this many requests in flight at the child. */
  concurrency?: number;
  /** Takes part in the global one-at-a-time lock. */
  gpuLock?: boolean;
  /**
   * Sizes itself to the room it is given (`ctx-size = auto`): its need is its smallest size; its start
   * reports the room it may take, which it holds until the router sends `sized`.
   */
  elastic?: boolean;
}

export interface SchedulerConfig {
  /** Count limit on models resident at once; 0 = none. */
  modelsMax: number;
  queueMax: number;
  queueTimeoutMs: number;
  /** Requests for unloaded models load them; false = reject with `not_loaded`. */
  autoload: boolean;
  /** Bytes that must stay free on every device a load touches; null = no free-memory check. */
  marginBytes: number | null;
  /** Upper bound on what the router's children may use per device. */
  caps: DeviceBytes;
  /** After an unload, how long a short reading is blamed on memory not yet released. */
  recoverMs: number;
  /**
   * A load is planned on a device reading at most this old when free memory matters (a margin is set, or
   * the model is to be placed on a GPU); an older one is refreshed first. Memory others took since is seen.
   */
  readingMaxAgeMs: number;
  /** Backoff after repeated failures: base * 2^(n-2), capped. The first failure retries at once. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** One request at a time across all models (`--serial`). */
  serial: boolean;
  /**
   * Batching window: a waiter whose load needs room from busy models lets them keep taking their own new
   * requests until it has waited this long; then they drain. Swapping costs an unload and a load, so a hot
   * model serves its burst first; the window bounds how long that can delay the waiter (0 = drain at once).
   */
  drainAfterMs: number;
  /**
   * One load at a time per device: a load whose devices overlap one still loading waits for it (its waiters
   * batch behind). Loads on one device share its bandwidth, so running them together delays the first and
   * speeds up none (the simulator, bench/sim). A model with no known need (an external
   * backend, a `cmd` preset without `memory =`) waits for nothing and holds nothing up.
   */
  serialLoads: boolean;
  /** Victims by reload cost (eviction.ts `reloadValue`) before recency, within a priority tier. */
  costAwareVictims: boolean;
  /** Global default TTL (`--models-ttl`); a model's own ttl wins. */
  ttlMs?: number;
}

export interface DeviceReading {
  name: string;
  total: number;
  free: number;
}

export type RequestKind = 'request' | 'load';

export type SchedulerEvent =
  | { type: 'request'; id: string; model: string; kind?: RequestKind; now: number }
  /** The request finished, or its client went away (queued or admitted). Exactly once per id. */
  | { type: 'done'; id: string; now: number }
  | { type: 'ready'; model: string; now: number }
  | { type: 'loadFailed'; model: string; reason: 'timeout' | 'exited' | 'spawn'; message: string; now: number }
  /** The child of a loaded/unloading model is gone; `expected` when we asked it to stop. */
  | { type: 'exited'; model: string; expected: boolean; message?: string; now: number }
  | { type: 'unload'; model: string; now: number }
  | { type: 'devices'; readings: DeviceReading[]; at: number; now: number }
  /**
   * What the model needs per device before it loads (estimate/probe/override/measured). A need with a
   * `GPU` entry is for one GPU the scheduler picks (placement.ts); `perGpuBytes` is what each GPU pays
   * again when it is split over several.
   */
  | { type: 'need'; model: string; devices: DeviceBytes; perGpuBytes?: number; now: number }
  /** What a running child actually uses per device. */
  | { type: 'usage'; model: string; devices: DeviceBytes; now: number }
  /**
   * An elastic model chose its size for this load: what it will hold per device (undefined: its need as
   * given). Until then it holds the whole room its start reported.
   */
  | { type: 'sized'; model: string; devices?: DeviceBytes; now: number }
  | { type: 'shutdown'; now: number }
  | { type: 'tick'; now: number };

export type StopReason = 'lru' | 'memory' | 'group' | 'ttl' | 'unload' | 'shutdown';

export type RejectKind =
  | 'queue_full'
  | 'queue_timeout'
  | 'backoff'
  | 'load_failed'
  | 'load_timeout'
  | 'not_loaded'
  | 'too_large'
  | 'shutting_down';

export interface Rejection {
  kind: RejectKind;
  message: string;
  retryAfterS?: number;
}

/** What an elastic load may take on one device, and what bounds it. */
export interface Room {
  bytes: number;
  /** 'free': free memory after the margin and what loading children still take; 'cap': --models-memory-max less what others hold. */
  limit: 'free' | 'cap';
}

export type Effect =
  /**
   * `devices`: the GPUs the load was planned on (placed or named by its need); the router pins the child to them.
   * `room` (elastic models only): per device, the most this load may take; a device without an entry has no limit.
   */
  | { type: 'start'; model: string; devices?: string[]; room?: Record<string, Room> }
  | { type: 'stop'; model: string; reason: StopReason; detail: string }
  | { type: 'admit'; id: string; model: string }
  | { type: 'reject'; id: string; model: string; error: Rejection }
  /** The router should take a fresh device reading and send it back as a `devices` event. */
  | { type: 'readDevices' }
  | { type: 'status'; model: string; from: ModelStatus; to: ModelStatus; reason?: string };
