/**
 * The router's side of memory: it asks the memory hooks (src/cli/memory-hooks.ts) for each model's need, for device
 * readings and for what a running child uses, and hands every answer to the scheduler as an event. It decides
 * nothing; it only keeps the asking cheap (one need resolution per model at a time, coalesced device readings).
 */
import type { Logger } from 'pino';
import type { ModelSpec } from '../catalog/model-spec.js';
import type { DeviceReading, SchedulerEvent } from '../scheduler/types.js';
import type { ModelRecord, Run } from './model-record.js';
import type { ModelTable } from './model-table.js';
import type { MemoryHooks, NeedAnswer } from './types.js';

/** At most one device reading starts per this interval. */
const READ_INTERVAL_MS = 200;

export class MemoryFigures {
  #readTimer?: NodeJS.Timeout;
  #reading = false;
  #readStartedAt = -Infinity;
  /** A backend exited since the last reading started: the next reading is the one a waiting load needs. */
  #exitSinceReading = false;
  /** An urgent reading was asked for while one ran: start it when that one ends. */
  #again = false;
  #closed = false;
  /** The last device reading, kept for the dashboard and /metrics (operability). */
  lastReading?: { readings: DeviceReading[]; at: number };

  constructor(
    private readonly hooks: MemoryHooks,
    private readonly models: ModelTable,
    private readonly handle: (event: SchedulerEvent) => void,
    private readonly logger: Logger,
  ) {}

  /** The need of this spec is neither known nor known to be unknown: ask before queueing for it. */
  wanted(record: ModelRecord): boolean {
    return !record.need && !record.needUnknown;
  }

  /** One resolution per model at a time; later callers share it. */
  resolveNeed(spec: ModelSpec): Promise<void> {
    const record = this.models.any(spec.name)!;
    if (record.needResolving) return record.needResolving;
    const set = (need: NeedAnswer) => {
      if (record.spec !== spec) return; // replaced by a reload meanwhile
      record.need = { devices: need.devices, source: need.source, ...(need.parts ? { parts: need.parts } : {}) };
      // perGpuBytes: what each GPU pays again if the scheduler splits this model (placement).
      this.handle({ type: 'need', model: spec.name, devices: need.devices, perGpuBytes: need.perGpuBytes, now: Date.now() });
    };
    const p = this.hooks
      .need(spec, set)
      .then((need) => {
        if (need) set(need);
        else if (record.spec === spec) record.needUnknown = true;
      })
      .catch((err: Error) => this.logger.warn({ model: spec.name, err: err.message }, 'memory need unknown'))
      .finally(() => (record.needResolving = undefined));
    record.needResolving = p;
    return p;
  }

  /** A backend exited (the router saw its 'exited' event). */
  noteExit(): void {
    this.#exitSinceReading = true;
  }

  /**
   * Coalesced device reads: at most one in flight, at most one start every 200 ms. The first after a quiet
   * spell starts at once: a cold start waiting for a fresh reading should not also wait out the interval.
   * After an exit the scheduler trusts no reading older than it, so a load waits for this one: it is taken at
   * once (it waited out the rest of the interval, ~100 ms of a 190 ms model swap). At most one such per exit.
   */
  requestReading(): void {
    if (this.#closed) return;
    if (this.#reading) {
      // A child exited while this reading ran, and the scheduler trusts no reading older than the exit: take the
      // next one as soon as this ends, not at the next tick (the request would otherwise be dropped).
      if (this.#exitSinceReading) this.#again = true;
      return;
    }
    const urgent = this.#exitSinceReading;
    if (this.#readTimer && !urgent) return;
    clearTimeout(this.#readTimer);
    const wait = urgent ? 0 : Math.max(0, this.#readStartedAt + READ_INTERVAL_MS - Date.now());
    this.#readTimer = setTimeout(() => {
      this.#readTimer = undefined;
      this.#reading = true;
      this.#exitSinceReading = false;
      this.#readStartedAt = Date.now();
      this.hooks
        .readDevices()
        .then((readings) => {
          const now = Date.now();
          this.lastReading = { readings, at: now };
          this.handle({ type: 'devices', readings, at: now, now });
        })
        .catch((err: Error) => this.logger.warn({ err: err.message }, 'device reading failed'))
        .finally(() => {
          this.#reading = false;
          if (this.#again) {
            this.#again = false;
            this.requestReading();
          }
        });
    }, wait);
    this.#readTimer.unref();
  }

  /** What the run's process uses now, for the scheduler and the ledger; dropped if the run has ended meanwhile. */
  async measure(spec: ModelSpec, record: ModelRecord, run: Run): Promise<void> {
    try {
      const used = await this.hooks.usage(spec, run.backend.pid!);
      if (!used || record.run !== run) return;
      this.handle({ type: 'usage', model: spec.name, devices: used, now: Date.now() });
      this.hooks.measured?.(spec, used);
    } catch (err) {
      this.logger.warn({ model: spec.name, err: (err as Error).message }, 'could not measure memory');
    }
  }

  /** Shutdown: no reading is started any more; the hooks cancel what still runs (probes are processes). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#readTimer);
    this.#readTimer = undefined;
    this.hooks.close?.();
  }
}
