/**
 * What the router shows the rooms around it: its options (and the memory hooks it is given), the leases it hands
 * the HTTP room, what it says about models, and the events it emits. Re-exported by router.ts.
 */
import type { Logger } from 'pino';
import type { ModelSpec } from '../catalog/model-spec.js';
import type { DeviceBytes, DeviceReading, ModelStatus, SchedulerConfig } from '../scheduler/types.js';
import type { BackendFactory } from './backends.js';
import type { ServerBin } from './child-command.js';
import type { ChosenCtx, CtxSizer } from './ctx-auto.js';
import type { NeedParts } from './model-record.js';

/** A need as the memory hooks answer it; `parts` says what it adds up per device (weights, kv, compute, base). */
export interface NeedAnswer {
  devices: DeviceBytes;
  source: string;
  perGpuBytes?: number;
  parts?: Record<string, NeedParts>;
}

export interface MemoryHooks extends CtxSizer {
  /**
   * What a model needs per device before it loads, and where the figure came from, answered fast (override, measured, estimate); a slower,
   * better answer (a probe) may follow later through `refine`.
   */
  need(
    spec: ModelSpec,
    refine?: (need: NeedAnswer) => void,
  ): Promise<NeedAnswer | undefined>;
  /** Fresh readings of every device. */
  readDevices(): Promise<DeviceReading[]>;
  /** What a running child uses per device (its process group). */
  usage(spec: ModelSpec, pid: number): Promise<DeviceBytes | undefined>;
  /** The measured figure is worth keeping for the next load of this configuration. */
  measured?(spec: ModelSpec, devices: DeviceBytes): void;
  /**
   * Placement (docs/memory.md): the environment that pins a child to the GPUs its load was planned on
   * (CUDA_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES); undefined when the preset chooses its own devices.
   * Throws when a GPU cannot be named (it vanished from the reading): the load fails.
   */
  placementEnv?(spec: ModelSpec, devices: string[]): Promise<Record<string, string> | undefined>;
  /** Shutdown: cancel what is still running for memory figures (probes are processes). */
  close?(): void;
}

export interface RouterOptions {
  models: ModelSpec[];
  server: ServerBin;
  host?: string;
  loadTimeoutMs: number;
  stopTimeoutMs: number;
  scheduler: Partial<SchedulerConfig>;
  logger: Logger;
  memory?: MemoryHooks;
  /** How often timeouts and TTLs are checked. */
  tickMs?: number;
  logLines?: number;
  /** Models whose preset is bad from the start (listed failed, their requests refused with the reason). */
  invalid?: { name: string; error: string }[];
  /** Makes each load's backend; default: a supervisor Child, or an ExternalBackend for a preset with `url`. */
  backends?: BackendFactory;
}

export interface ReloadSummary {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
  invalid: string[];
}

export interface Lease {
  model: string;
  /** Base URL of the child (or external backend). */
  target: string;
  /** Headers the proxy adds (the child's own key). */
  headers: Record<string, string>;
  release(): void;
}

export interface ModelInfo {
  spec: ModelSpec;
  status: ModelStatus;
  refs: number;
  queued: number;
  lastUsed: number;
  failures: number;
  lastError?: string;
  exitCode?: number | null;
  waitingFor?: string;
  pid?: number;
  port?: number;
  memory?: { devices: DeviceBytes; source: string; parts?: Record<string, NeedParts> };
  /** ctx-size = auto: the context its current child was given, and why. */
  ctx?: ChosenCtx;
}

export interface RouterEvent {
  type: 'status_change' | 'load' | 'unload' | 'eviction' | 'failure' | 'ready' | 'reload';
  model: string;
  from?: ModelStatus;
  to?: ModelStatus;
  reason?: string;
  detail?: string;
  at: number;
}

/**
 * What acquire needs of a cancellation: an AbortSignal, or something lighter (the proxied path's per-request
 * state: an AbortController per request was a measurable share of its CPU).
 */
export interface Cancel {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Emitted as 'admitted' when a request is let through (queue wait for /metrics). */
export interface AdmittedEvent {
  model: string;
  waitMs: number;
}

/** Emitted as 'log' for each line a child prints (for following logs). */
export interface LogEvent {
  model: string;
  line: string;
}
