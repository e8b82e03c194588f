/**
 * The one owner of runtime state. It feeds the scheduler events, carries out the effects it returns (starting and
 * stopping backends: backend-life.ts; answering waiters: waiters.ts; asking for memory figures: memory-figures.ts),
 * and hands the HTTP layer leases on running backends. Every reference a lease takes is given back exactly once.
 * What it keeps per model is one record (model-record.ts).
 */
import { EventEmitter } from 'node:events';
import { diffCatalogs } from '../catalog/diff.js';
import type { ModelSpec } from '../catalog/model-spec.js';
import { Scheduler } from '../scheduler/scheduler.js';
import type { DeviceBytes, DeviceReading, Effect, ModelPolicy, SchedulerEvent } from '../scheduler/types.js';
import { startBackend, stopBackend } from './backend-life.js';
import type { RouterCore } from './core.js';
import { MemoryFigures } from './memory-figures.js';
import type { ModelRecord } from './model-record.js';
import { ModelTable } from './model-table.js';
import type { AdmittedEvent, Cancel, Lease, LogEvent, ModelInfo, ReloadSummary, RouterEvent, RouterOptions } from './types.js';
import { Waiters } from './waiters.js';

export type { NeedParts } from './model-record.js';
export type { BackendFactory, BackendOrder } from './backends.js';
export type {
  AdmittedEvent,
  Cancel,
  Lease,
  LogEvent,
  MemoryHooks,
  ModelInfo,
  NeedAnswer,
  ReloadSummary,
  RouterEvent,
  RouterOptions,
} from './types.js';

export class Router extends EventEmitter {
  private readonly scheduler: Scheduler;
  /** One record per model: its preset, backend, log, figures. */
  private readonly models: ModelTable;
  /** Needs, device readings, measurements (through the memory hooks); undefined: memory is not watched. */
  private readonly figures?: MemoryFigures;
  private readonly waiters: Waiters;
  private readonly core: RouterCore;
  private readonly host: string;
  private tick?: NodeJS.Timeout;
  private busy = false;
  private readonly pending: SchedulerEvent[] = [];
  /** Backends being started or stopped, health checks: shutdown waits for them. */
  private readonly operations = new Set<Promise<unknown>>();
  /** Shutdown waits for the requests in flight: called when the scheduler counts none. */
  private onIdle?: () => void;

  constructor(private readonly opts: RouterOptions) {
    super();
    this.host = opts.host ?? '127.0.0.1';
    this.scheduler = new Scheduler(opts.scheduler);
    this.models = new ModelTable(opts.logLines ?? 500);
    const handle = (event: SchedulerEvent) => this.handle(event);
    this.figures = opts.memory && new MemoryFigures(opts.memory, this.models, handle, opts.logger);
    this.core = {
      opts,
      host: this.host,
      models: this.models,
      figures: this.figures,
      handle,
      emitEvent: (e) => this.emitEvent(e),
      emitLog: (e) => this.emit('log', e satisfies LogEvent),
    };
    this.waiters = new Waiters(this.core);
    for (const spec of opts.models) this.addSpec(spec);
    this.models.setInvalid(opts.invalid ?? []);
  }

  start(): void {
    this.tick = setInterval(() => this.handle({ type: 'tick', now: Date.now() }), this.opts.tickMs ?? 500);
    this.tick.unref();
    if (this.figures) {
      this.figures.requestReading();
      // Figures for every model up front, so /models and the dashboard show them before any load.
      for (const spec of this.models.specs()) void this.figures.resolveNeed(spec);
    }
    for (const spec of this.models.specs()) {
      if (spec.loadOnStartup) {
        this.load(spec.name).catch((err: Error) => this.opts.logger.warn({ model: spec.name, err: err.message }, 'load on startup failed'));
      }
    }
  }

  resolve(nameOrAlias: string): ModelSpec | undefined {
    return this.models.resolve(nameOrAlias);
  }

  /** The model a client named, or the catalogue error that says why there is none. */
  require(nameOrAlias: string): ModelSpec {
    return this.models.require(nameOrAlias);
  }

  /**
   * Wait until `model` may serve one more request; the lease holds a reference until
   * released. A client that goes away (signal) leaves the queue at once.
   */
  async acquire(model: string, signal?: Cancel): Promise<Lease> {
    const started = Date.now();
    const lease = await this.waiters.enqueue(model, 'request', signal);
    // For the queue-wait histogram in /metrics: how long this request waited to be admitted.
    this.emit('admitted', { model: lease!.model, waitMs: Date.now() - started } satisfies AdmittedEvent);
    return lease!;
  }

  /** Load a model (or find it loaded); resolves when it is ready. */
  async load(model: string, signal?: AbortSignal): Promise<void> {
    await this.waiters.enqueue(model, 'load', signal);
  }

  /** Unload once idle; resolves when the child is gone. */
  unload(model: string): Promise<void> {
    const view = this.scheduler.view(model);
    const record = this.models.any(model);
    if (!view || !record || view.status === 'unloaded' || view.status === 'failed') return Promise.resolve();
    // Resolved by the record when the scheduler says it is unloaded (or failed).
    const stopped = record.whenStopped();
    this.handle({ type: 'unload', model, now: Date.now() });
    return stopped;
  }

  list(): ModelInfo[] {
    return this.models.specs().map((spec) => this.info(spec.name)!);
  }

  info(name: string): ModelInfo | undefined {
    const record = this.models.get(name);
    const v = this.scheduler.view(name);
    if (!record?.spec || !v) return undefined;
    const backend = record.run?.backend;
    return {
      spec: record.spec,
      status: v.status,
      refs: v.refs,
      queued: v.queued,
      lastUsed: v.lastUsed,
      failures: v.failures,
      lastError: v.lastError,
      exitCode: record.exitCode,
      waitingFor: v.waitingFor,
      pid: backend?.pid,
      port: backend?.port,
      // Running and not measured yet: the need on the GPU(s) it was placed on, not the generic one.
      memory: v.usage
        ? { devices: v.usage, source: 'measured' }
        : v.placed
          ? { devices: v.placed, source: record.need?.source ?? 'unknown' }
          : record.need,
      ...(record.ctx && (v.status === 'loading' || v.status === 'loaded') ? { ctx: record.ctx } : {}),
    };
  }

  logLines(name: string, n?: number): string[] {
    const lines = this.models.any(name)?.log.toArray() ?? [];
    return n === undefined ? lines : lines.slice(-n);
  }

  /**
   * The last device reading (empty before the first, or with no memory hooks) and the memory
   * policy it is judged by, for the dashboard and /metrics.
   */
  devices(): { readings: DeviceReading[]; at: number | null; marginBytes: number | null; caps: DeviceBytes } {
    const last = this.figures?.lastReading;
    return {
      readings: last?.readings ?? [],
      at: last?.at ?? null,
      marginBytes: this.opts.scheduler.marginBytes ?? null,
      caps: this.opts.scheduler.caps ?? {},
    };
  }

  get inFlight(): number {
    return this.scheduler.inFlight;
  }

  get queueLength(): number {
    return this.scheduler.queueLength;
  }

  /** Pids of every running child (for orphan checks and metrics). */
  childPids(): number[] {
    const pids: number[] = [];
    for (const r of this.models.all()) if (r.run && !r.run.external && r.run.backend.pid !== undefined) pids.push(r.run.backend.pid);
    return pids;
  }

  /**
   * Stop taking work: queued requests are refused, in-flight ones get `graceMs` to finish,
   * then every child is stopped. Resolves when no child is left.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.handle({ type: 'shutdown', now: Date.now() });
    await this.inFlightDone(graceMs);
    clearInterval(this.tick);
    this.figures?.close();
    await Promise.allSettled([...this.operations]);
    await Promise.allSettled(this.models.all().flatMap((r) => (r.run ? [r.run.backend.stop()] : [])));
    await Promise.allSettled([...this.operations]);
  }

  /** Resolves when no request is in flight, or after `graceMs`, whichever is first. */
  private inFlightDone(graceMs: number): Promise<void> {
    if (this.scheduler.inFlight === 0 || graceMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.onIdle = undefined;
        resolve();
      };
      const timer = setTimeout(done, graceMs);
      this.onIdle = done;
    });
  }

  /**
   * The proxy heard nothing from this model's child for the upstream idle timeout. Slow is allowed, hung is not:
   * a child that does not answer its health check either is killed (its whole group), which ends its other
   * requests with an error and marks the model failed, so the next request starts a new child.
   */
  checkHung(model: string, timeoutMs = 10_000): void {
    const record = this.models.any(model);
    const run = record?.run;
    const child = run?.backend;
    if (!run || run.external || run.healthChecking || !child?.responsive) return;
    run.healthChecking = true;
    const check = child
      .responsive(timeoutMs)
      .then((ok) => {
        if (ok || record.run !== run) return;
        const message = `model '${model}' stopped answering (no output for the upstream timeout, no answer to its health check): killing it`;
        this.opts.logger.error({ model, pid: child.pid }, message);
        this.emitEvent({ type: 'failure', model, reason: 'hung', detail: message });
        child.kill?.();
      })
      .finally(() => (run.healthChecking = false));
    this.track(check);
  }

  /**
   * A lease's child refused or reset the connection before any answer: is it gone? A child killed a moment ago
   * refuses (or resets) before the router has handled its exit, and until then its model still looks loaded with the old
   * port. True when that child has ended (its exit handled here, so the model is no longer 'loaded' with it) or was
   * already replaced: a new lease gets a new child. False for a child still running (it fails for another reason).
   * Only the proxy's error path calls this.
   */
  async childGone(lease: Pick<Lease, 'model' | 'target'>, timeoutMs = 1000): Promise<boolean> {
    const record = this.models.any(lease.model);
    if (record?.run?.external || record?.spec?.url) return false;
    const child = record?.run?.backend;
    if (!child || `http://${this.host}:${child.port}` !== lease.target) return true;
    return child.gone ? child.gone(timeoutMs) : false;
  }

  /** Models whose preset is broken since the last reload, with the error; they serve nothing. */
  invalidModels(): { name: string; error: string }[] {
    return this.models.invalid();
  }

  /**
   * Hot reload: new models appear; removed ones stop taking requests and unload once idle;
   * a changed preset restarts that model once idle (the next request starts it with the new
   * arguments); unchanged models keep running untouched; a bad preset marks only that model.
   */
  applyCatalog(next: ModelSpec[], invalid: { name: string; error: string }[]): ReloadSummary {
    const diff = diffCatalogs({ models: this.models.specs() }, { models: next });
    const byName = new Map(next.map((m) => [m.name, m]));
    this.models.setInvalid(invalid);
    for (const name of diff.removed) {
      const record = this.models.remove(name)!;
      record.need = undefined;
      this.retire(record, name);
    }
    for (const name of [...diff.added, ...diff.changed]) {
      const spec = byName.get(name)!;
      const record = this.addSpec(spec);
      record.need = undefined;
      // Back in the catalogue before it was forgotten: it stays.
      record.retiring = false;
      if (diff.changed.includes(name)) this.handle({ type: 'unload', model: name, now: Date.now() });
      if (this.figures) void this.figures.resolveNeed(spec);
    }
    this.models.reindexAliases();
    const summary = { ...diff, invalid: invalid.map((i) => i.name) };
    this.opts.logger.info(summary, 'catalogue reloaded');
    this.emitEvent({ type: 'reload', model: '*', detail: JSON.stringify(summary) });
    return summary;
  }

  /** A model gone from the catalogue: unload it once idle, then forget it (statusChanged, when it is stopped). */
  private retire(record: ModelRecord, name: string): void {
    if (this.scheduler.removeModel(name)) return;
    record.retiring = true;
    this.handle({ type: 'unload', model: name, now: Date.now() });
  }

  private addSpec(spec: ModelSpec): ModelRecord {
    const record = this.models.set(spec);
    this.scheduler.addModel(policyOf(spec));
    return record;
  }

  /** Events are handled one at a time, in order, even when an effect causes another. */
  private handle(event: SchedulerEvent): void {
    this.pending.push(event);
    if (event.type === 'exited') this.figures?.noteExit();
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.pending.length) {
        const e = this.pending.shift()!;
        for (const effect of this.scheduler.handle(e)) this.perform(effect);
      }
    } finally {
      this.busy = false;
    }
    if (this.onIdle && this.scheduler.inFlight === 0) this.onIdle();
  }

  private perform(effect: Effect): void {
    switch (effect.type) {
      case 'admit':
        return this.waiters.admit(effect);
      case 'reject':
        return this.waiters.reject(effect);
      case 'start':
        return this.track(startBackend(this.core, effect));
      case 'stop':
        return this.track(stopBackend(this.core, effect.model, effect.reason, effect.detail));
      case 'readDevices':
        return this.figures?.requestReading();
      case 'status':
        return this.statusChanged(effect);
    }
  }

  private statusChanged(effect: Extract<Effect, { type: 'status' }>): void {
    const { model, from, to, reason } = effect;
    this.opts.logger.info({ model, from, to, reason }, `${model}: ${from} -> ${to}`);
    this.emitEvent({ type: 'status_change', model, from, to, reason });
    const record = this.models.any(model);
    if (!record) return;
    // unload() callers are answered once it is unloaded (or failed).
    record.statusChanged(to);
    // A retiring model that is stopped is forgotten once nothing refers to it (a queued request keeps it).
    if (record.retiring && (to === 'unloaded' || to === 'failed')) {
      if (record.spec) record.retiring = false; // came back meanwhile
      else if (this.scheduler.removeModel(model)) record.retiring = false;
    }
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch((err: Error) => this.opts.logger.error({ err: err.message }, 'child operation failed'));
    this.operations.add(q);
    void q.finally(() => this.operations.delete(q));
  }

  private emitEvent(e: Omit<RouterEvent, 'at'>): void {
    this.emit('event', { ...e, at: Date.now() } satisfies RouterEvent);
  }
}

export function policyOf(spec: ModelSpec): ModelPolicy {
  return {
    name: spec.name,
    priority: spec.priority,
    pin: spec.pin,
    group: spec.exclusiveGroup,
    ttlMs: spec.ttlS === undefined ? undefined : spec.ttlS * 1000,
    concurrency: spec.concurrency,
    gpuLock: spec.gpuLock,
    elastic: spec.ctxAuto !== undefined,
  };
}
