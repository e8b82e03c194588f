/**
 * Everything the router keeps about one model, in one record: its preset, its current backend, its log ring,
 * how its last child ended, the context and memory figures of its load, and who waits for it to stop. The
 * scheduler owns the model's lifecycle (status, references, queue); the record holds what the router needs to
 * carry that lifecycle out. One record per name, for the router's whole life: a model removed by a reload keeps
 * its record (its child may still be running until it is idle, and a model added back under the same name finds
 * its log and that child again).
 */
import type { ModelSpec } from '../catalog/model-spec.js';
import type { DeviceBytes, ModelStatus } from '../scheduler/types.js';
import type { Backend } from '../supervisor/backend.js';
import { RingBuffer } from '../supervisor/ring-buffer.js';
import type { ChosenCtx } from './ctx-auto.js';
import type { ExternalFailure } from './external.js';

export interface NeedParts {
  weights: number;
  kv: number;
  compute: number;
  base: number;
  repack?: number;
}

/** What the model needs per device before it loads, where the figure came from, and what it adds up. */
export interface NeedFigure {
  devices: DeviceBytes;
  source: string;
  parts?: Record<string, NeedParts>;
}

/**
 * One life of a backend, from the factory to its exit: what leases need to reach it, and the flags that hold for
 * this life only (a new backend is measured and health-checked afresh).
 */
export interface Run {
  readonly backend: Backend;
  /** A child's own key (the proxy sends it as Bearer); an external backend has its preset's headers instead. */
  readonly key?: string;
  /** An external backend: where it is and what the proxy adds; no process of ours behind it. */
  readonly external?: { url: string; headers: Record<string, string> };
  /** Measured again after its first request (memory under load is higher than right after the load). */
  measuredAfterUse: boolean;
  /** Its health is being checked after a silent request (Router.checkHung): one check at a time. */
  healthChecking: boolean;
}

export class ModelRecord {
  /** The preset; undefined once a reload removed the model (its record stays until its backend is gone). */
  spec: ModelSpec | undefined;
  /** Its output lines, stamped with their time; outlives every child. */
  readonly log: RingBuffer<string>;
  /** The backend now starting, running or stopping. */
  run?: Run;
  /** How its last child ended (null: killed by a signal, or never ran). */
  exitCode?: number | null;
  /** ctx-size = auto: the context chosen for its current load (src/router/ctx-auto.ts). */
  ctx?: ChosenCtx;
  /** Its need before it loads, for /models and the dashboard (the scheduler has its own copy). */
  need?: NeedFigure;
  /** The need being resolved now; later callers share it. */
  needResolving?: Promise<void>;
  /**
   * The need of this spec came back unknown (a `cmd` preset without `memory =`). Asking again cannot change the
   * answer, and on the request path it cost a device reading (nvidia-smi, rocm-smi) every 500 ms.
   */
  needUnknown = false;
  /** Why its external backend's last load failed, for the error its waiters get. */
  externalFailure?: ExternalFailure;
  /** Removed by a reload: forget it in the scheduler once it is unloaded. */
  retiring = false;
  /** unload() callers waiting for it to be stopped. */
  #onStopped: (() => void)[] = [];

  constructor(spec: ModelSpec, logLines: number) {
    this.spec = spec;
    this.log = new RingBuffer<string>(logLines);
  }

  /** Resolves the next time its status becomes unloaded or failed. */
  whenStopped(): Promise<void> {
    return new Promise((resolve) => this.#onStopped.push(resolve));
  }

  /** The scheduler changed its status: answer whoever waits for it to stop. */
  statusChanged(to: ModelStatus): void {
    if (to !== 'unloaded' && to !== 'failed') return;
    const waiting = this.#onStopped;
    this.#onStopped = [];
    for (const resolve of waiting) resolve();
  }
}
