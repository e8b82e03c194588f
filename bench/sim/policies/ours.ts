/**
 * Our policy: the REAL Scheduler from src/scheduler (not a copy), driven the way the router
 * drives it — events in (request, done, ready, exited, tick), effects out (start, stop,
 * admit, reject), carried out by the engine with simulated delays.
 *
 * Capacity: `modelsMax` from the trace and a per-device cap (`caps`) of the trace's memory
 * budget, with each model's `need` sent before any request. No device readings
 * (`marginBytes: null`), so the cap is the only memory rule — the same budget the engine
 * enforces. The trace's TTL is `--models-ttl`. Everything else is the scheduler's default
 * config (queue 256, 10 min timeout, the default drain window).
 *
 * `countOnly`: the same scheduler told only the count the count-only routers get
 * (`safeCount`), no memory: ours where a user configures it like llama-server.
 */
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import type { Effect, SchedulerConfig, SchedulerEvent } from '../../../src/scheduler/types.js';
import { safeCount, type Policy, type PolicyContext, type PolicyFactory, type SimRequest } from '../types.js';

export const DEVICE = 'GPU0';

export function ours(config: Partial<SchedulerConfig> = {}, opts: { countOnly?: boolean; name?: string } = {}): PolicyFactory {
  return (ctx) => new Ours(ctx, config, opts.countOnly ?? false, opts.name ?? (opts.countOnly ? 'ours (count only)' : 'ours'));
}

class Ours implements Policy {
  readonly tickMs = 1000;
  private readonly s: Scheduler;

  constructor(
    private readonly ctx: PolicyContext,
    config: Partial<SchedulerConfig>,
    countOnly: boolean,
    readonly name: string,
  ) {
    const { trace } = ctx;
    this.s = new Scheduler(
      {
        modelsMax: countOnly ? safeCount(trace) : trace.capacity.modelsMax,
        caps: countOnly ? {} : { [DEVICE]: trace.capacity.memoryBytes },
        marginBytes: null,
        ttlMs: trace.ttlMs,
        ...config,
      },
      trace.models.map((m) => ({ name: m.name, priority: 0, pin: false })),
    );
    // Sizes tell the scheduler the model's device (one load at a time per device) and, with a cap, its room.
    for (const m of trace.models) this.feed({ type: 'need', model: m.name, devices: { [DEVICE]: m.memBytes }, now: 0 });
  }

  onArrival(req: SimRequest): void {
    this.feed({ type: 'request', id: req.id, model: req.model, now: this.ctx.now() });
  }
  onReady(model: string): void {
    this.feed({ type: 'ready', model, now: this.ctx.now() });
  }
  onExited(model: string): void {
    this.feed({ type: 'exited', model, expected: true, now: this.ctx.now() });
  }
  onDone(id: string): void {
    this.feed({ type: 'done', id, now: this.ctx.now() });
  }
  onTick(): void {
    this.feed({ type: 'tick', now: this.ctx.now() });
  }

  private feed(event: SchedulerEvent): void {
    for (const e of this.s.handle(event)) this.apply(e);
  }

  private apply(e: Effect): void {
    switch (e.type) {
      case 'start':
        return this.ctx.start(e.model);
      case 'stop':
        return this.ctx.stop(e.model);
      case 'admit':
        return this.ctx.admit(e.id, e.model);
      case 'reject':
        return this.ctx.reject(e.id, `${e.error.kind}: ${e.error.message}`);
      case 'readDevices': // no readings in the simulation (marginBytes null): nothing to read
      case 'status':
        return;
    }
  }
}
