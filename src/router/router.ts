/**
 * The one owner of runtime state. It feeds the scheduler events, carries out the effects it
 * returns through the supervisor, and hands the HTTP layer leases on running children.
 * Every reference a lease takes is given back exactly once.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { diffCatalogs } from '../catalog/diff.js';
import type { ModelSpec } from '../catalog/model-spec.js';
import { Scheduler } from '../scheduler/scheduler.js';
import type {
  DeviceBytes,
  DeviceReading,
  Effect,
  ModelPolicy,
  ModelStatus,
  Rejection,
  SchedulerConfig,
  SchedulerEvent,
  StopReason,
} from '../scheduler/types.js';
import { defaultBackends, type BackendFactory } from './backends.js';
import { RouterError, type ErrorCode } from '../http/errors.js';
import { childCommand, type ServerBin } from './child-command.js';
import { explainTooLarge, sizeForLoad, type ChosenCtx, type CtxSizer } from './ctx-auto.js';
import { externalOptions, externalRejection, type ExternalFailure } from './external.js';
import type { ModelRecord, NeedParts, Run } from './model-record.js';
import { ModelTable } from './model-table.js';

export type { NeedParts } from './model-record.js';

/** A need as the memory hooks answer it; `parts` says what it adds up per device (weights, kv, compute, base). */
export interface NeedAnswer {
  devices: DeviceBytes;
  source: string;
  perGpuBytes?: number;
  parts?: Record<string, NeedParts>;
}

export interface MemoryHooks extends CtxSizer {
  /** What a model needs per device before it loads, and where the figure came from. */
  /**
   * What a model needs per device, answered fast (override, measured, estimate); a slower,
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

interface Waiter {
  model: string;
  resolve(lease: Lease | undefined): void;
  reject(err: RouterError): void;
  kind: 'request' | 'load';
}

const rejectionCodes: Record<Rejection['kind'], ErrorCode> = {
  queue_full: 'queue_full',
  queue_timeout: 'queue_timeout',
  backoff: 'model_backoff',
  load_failed: 'model_load_failed',
  load_timeout: 'load_timeout',
  not_loaded: 'model_not_loaded',
  too_large: 'model_too_large',
  shutting_down: 'shutting_down',
};

export class Router extends EventEmitter {
  private readonly scheduler: Scheduler;
  /** One record per model (model-record.ts): its preset, backend, log, figures. */
  private readonly models: ModelTable;
  /** Where models' memory figures come from (need, device readings, usage); none: memory is not watched. */
  private readonly memoryHooks?: MemoryHooks;
  private readonly waiters = new Map<string, Waiter>();
  private readonly host: string;
  private seq = 0;
  private tick?: NodeJS.Timeout;
  private readTimer?: NodeJS.Timeout;
  private reading = false;
  private readStartedAt = -Infinity;
  private busy = false;
  private readonly pending: SchedulerEvent[] = [];
  /** Children being started or stopped: shutdown waits for them. */
  private readonly operations = new Set<Promise<unknown>>();
  /** The last device reading, kept for the dashboard and /metrics (operability). */
  private lastReading?: { readings: DeviceReading[]; at: number };

  constructor(private readonly opts: RouterOptions) {
    super();
    this.host = opts.host ?? '127.0.0.1';
    this.memoryHooks = opts.memory;
    this.scheduler = new Scheduler(opts.scheduler);
    this.models = new ModelTable(opts.logLines ?? 500);
    for (const spec of opts.models) this.addSpec(spec);
    this.models.setInvalid(opts.invalid ?? []);
  }

  start(): void {
    this.tick = setInterval(() => this.handle({ type: 'tick', now: Date.now() }), this.opts.tickMs ?? 500);
    this.tick.unref();
    if (this.memoryHooks) {
      this.requestReading();
      // Figures for every model up front, so /models and the dashboard show them before any load.
      for (const spec of this.models.specs()) void this.resolveNeed(spec);
    }
    for (const spec of this.models.specs()) {
      if (spec.loadOnStartup) {
        this.load(spec.name).catch((err: Error) =>
          this.opts.logger.warn({ model: spec.name, err: err.message }, 'load on startup failed'),
        );
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
    const lease = await this.enqueue(model, 'request', signal);
    // For the queue-wait histogram in /metrics: how long this request waited to be admitted.
    this.emit('admitted', { model: lease!.model, waitMs: Date.now() - started } satisfies AdmittedEvent);
    return lease!;
  }

  /** Load a model (or find it loaded); resolves when it is ready. */
  async load(model: string, signal?: AbortSignal): Promise<void> {
    await this.enqueue(model, 'load', signal);
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
    const spec = record.spec;
    const child = record.run?.backend;
    return {
      spec,
      status: v.status,
      refs: v.refs,
      queued: v.queued,
      lastUsed: v.lastUsed,
      failures: v.failures,
      lastError: v.lastError,
      exitCode: record.exitCode,
      waitingFor: v.waitingFor,
      pid: child?.pid,
      port: child?.port,
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
    return {
      readings: this.lastReading?.readings ?? [],
      at: this.lastReading?.at ?? null,
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
    const deadline = Date.now() + graceMs;
    while (this.scheduler.inFlight > 0 && Date.now() < deadline) await sleep(50);
    clearInterval(this.tick);
    clearTimeout(this.readTimer);
    this.memoryHooks?.close?.();
    await Promise.allSettled([...this.operations]);
    await Promise.allSettled(this.models.all().flatMap((r) => (r.run ? [r.run.backend.stop()] : [])));
    await Promise.allSettled([...this.operations]);
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
      if (this.memoryHooks) void this.resolveNeed(spec);
    }
    this.models.reindexAliases();
    const summary = { ...diff, invalid: invalid.map((i) => i.name) };
    this.opts.logger.info(summary, 'catalogue reloaded');
    this.emitEvent({ type: 'reload', model: '*', detail: JSON.stringify(summary) });
    return summary;
  }

  /**
   * A model gone from the catalogue: unload it once idle, then forget it (the 'status' effect that says it is
   * unloaded or failed calls forgetRetired).
   */
  private retire(record: ModelRecord, name: string): void {
    if (this.scheduler.removeModel(name)) return;
    record.retiring = true;
    this.handle({ type: 'unload', model: name, now: Date.now() });
  }

  /** A retiring model is stopped: forget it in the scheduler once nothing refers to it any more. */
  private forgetRetired(record: ModelRecord, name: string): void {
    if (!record.retiring) return;
    if (record.spec) record.retiring = false; // came back meanwhile
    else if (this.scheduler.removeModel(name)) record.retiring = false;
  }

  private addSpec(spec: ModelSpec): ModelRecord {
    const record = this.models.set(spec);
    this.scheduler.addModel(policyOf(spec));
    return record;
  }

  private async enqueue(model: string, kind: 'request' | 'load', signal?: Cancel): Promise<Lease | undefined> {
    const spec = this.require(model);
    if (signal?.aborted) throw new RouterError('invalid_request', 'client went away');
    const record = this.models.get(spec.name)!;
    if (this.memoryHooks && !record.need && !record.needUnknown) await this.resolveNeed(spec);
    const id = `${kind}-${++this.seq}`;
    return new Promise<Lease | undefined>((resolve, reject) => {
      const onAbort = () => {
        if (this.waiters.delete(id)) {
          reject(new RouterError('invalid_request', 'client went away'));
          this.handle({ type: 'done', id, now: Date.now() });
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = () => signal?.removeEventListener('abort', onAbort);
      this.waiters.set(id, {
        model: spec.name,
        kind,
        resolve: (l) => (settle(), resolve(l)),
        reject: (e) => (settle(), reject(e)),
      });
      this.handle({ type: 'request', id, model: spec.name, kind, now: Date.now() });
    });
  }

  /** One resolution per model at a time; later callers share it. */
  private resolveNeed(spec: ModelSpec): Promise<void> {
    const record = this.models.any(spec.name)!;
    if (record.needResolving) return record.needResolving;
    const set = (need: NeedAnswer) => {
      if (record.spec !== spec) return; // replaced by a reload meanwhile
      record.need = { devices: need.devices, source: need.source, ...(need.parts ? { parts: need.parts } : {}) };
      // perGpuBytes: what each GPU pays again if the scheduler splits this model (placement).
      this.handle({ type: 'need', model: spec.name, devices: need.devices, perGpuBytes: need.perGpuBytes, now: Date.now() });
    };
    const p = this.memoryHooks!.need(spec, set)
      .then((need) => {
        if (need) set(need);
        else if (record.spec === spec) record.needUnknown = true;
      })
      .catch((err: Error) => this.opts.logger.warn({ model: spec.name, err: err.message }, 'memory need unknown'))
      .finally(() => (record.needResolving = undefined));
    record.needResolving = p;
    return p;
  }

  /** Events are handled one at a time, in order, even when an effect causes another. */
  private handle(event: SchedulerEvent): void {
    this.pending.push(event);
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
  }

  private perform(effect: Effect): void {
    switch (effect.type) {
      case 'admit': {
        const w = this.waiters.get(effect.id);
        if (!w) {
          // Admitted after its client left: give the reference straight back.
          this.handle({ type: 'done', id: effect.id, now: Date.now() });
          return;
        }
        this.waiters.delete(effect.id);
        w.resolve(w.kind === 'load' ? undefined : this.lease(effect.id, effect.model));
        return;
      }
      case 'reject': {
        const w = this.waiters.get(effect.id);
        if (!w) return;
        this.waiters.delete(effect.id);
        // An external backend's failures are the backend's, not ours: retryable, and 502 when it could not be reached.
        const record = this.models.get(w.model);
        const external = record?.spec?.url ? externalRejection(effect.error.kind, record.externalFailure) : undefined;
        w.reject(
          new RouterError(external?.code ?? rejectionCodes[effect.error.kind], effect.error.kind === 'too_large' ? explainTooLarge(record?.spec, effect.error.message) : effect.error.message, {
            retryAfterS: effect.error.retryAfterS,
            ...(external ? { retryable: external.retryable } : {}),
          }),
        );
        return;
      }
      case 'start':
        this.track(this.startChild(effect.model, effect.devices, effect.room));
        return;
      case 'stop':
        this.track(this.stopChild(effect.model, effect.reason, effect.detail));
        return;
      case 'readDevices':
        this.requestReading();
        return;
      case 'status':
        this.opts.logger.info(
          { model: effect.model, from: effect.from, to: effect.to, reason: effect.reason },
          `${effect.model}: ${effect.from} -> ${effect.to}`,
        );
        this.emitEvent({ type: 'status_change', model: effect.model, from: effect.from, to: effect.to, reason: effect.reason });
        {
          const record = this.models.any(effect.model);
          if (record) {
            record.statusChanged(effect.to);
            if (effect.to === 'unloaded' || effect.to === 'failed') this.forgetRetired(record, effect.model);
          }
        }
        return;
    }
  }

  private lease(id: string, model: string): Lease {
    const record = this.models.any(model);
    const run = record?.run;
    const external = run?.external;
    let released = false;
    return {
      model,
      // An external backend gets its own key (if its preset gives one), never the child key or the client's.
      target: external ? external.url : `http://${this.host}:${run?.backend.port}`,
      headers: external ? external.headers : { authorization: `Bearer ${run?.key}` },
      release: () => {
        if (released) return;
        released = true;
        this.handle({ type: 'done', id, now: Date.now() });
        // Memory right after load is lower than under load: measure again after the first request.
        if (run && !external && this.memoryHooks && !run.measuredAfterUse) {
          run.measuredAfterUse = true;
          void this.measure(record.spec!, record, run);
        }
      },
    };
  }

  private async startChild(model: string, devices?: string[], room?: Extract<Effect, { type: 'start' }>['room']): Promise<void> {
    const record = this.models.get(model);
    const spec = record?.spec;
    if (!record || !spec) {
      // Removed by a reload between the decision and now.
      this.handle({ type: 'loadFailed', model, reason: 'spawn', message: `model '${model}' was removed`, now: Date.now() });
      return;
    }
    if (spec.url) return this.startExternal(record, spec);
    // A file deleted or moved since the catalogue was read: say so, rather than spawn a child that fails to open it.
    const gone = await missingFile(spec);
    if (gone) {
      const message = `model '${model}' cannot start: ${gone} is gone (deleted or moved since the catalogue was read); put it back or reload the catalogue`;
      this.opts.logger.error({ model, path: gone }, message);
      this.emitEvent({ type: 'failure', model, reason: 'spawn', detail: message });
      this.handle({ type: 'loadFailed', model, reason: 'spawn', message, now: Date.now() });
      return;
    }
    // Placement (docs/memory.md): pin the child to the GPUs the scheduler planned this load on.
    let placementEnv: Record<string, string> | undefined;
    if (devices?.length && this.memoryHooks?.placementEnv) {
      try {
        placementEnv = await this.memoryHooks.placementEnv(spec, devices);
      } catch (err) {
        const message = `model '${model}' cannot be placed on ${devices.join(', ')}: ${(err as Error).message}`;
        this.opts.logger.error({ model, devices }, message);
        this.handle({ type: 'loadFailed', model, reason: 'spawn', message, now: Date.now() });
        return;
      }
      if (placementEnv) this.opts.logger.info({ model, devices, env: placementEnv }, `${model}: placed on ${devices.join(', ')}`);
    }
    // ctx-size = auto: the largest context the room this load was given holds; the scheduler learns what it keeps.
    record.ctx = undefined;
    const sizing = await sizeForLoad(spec, { room, devices, marginBytes: this.opts.scheduler.marginBytes }, this.memoryHooks);
    if (sizing.kind === 'failed') {
      this.opts.logger.error({ model, room }, sizing.message);
      this.emitEvent({ type: 'failure', model, reason: 'spawn', detail: sizing.message });
      this.handle({ type: 'loadFailed', model, reason: 'spawn', message: sizing.message, now: Date.now() });
      return;
    }
    if (sizing.kind === 'sized') {
      record.ctx = sizing.ctx;
      this.opts.logger.info({ model, ctx: sizing.ctx.size, need: sizing.devices }, `${model}: ctx-size ${sizing.ctx.size}, ${sizing.ctx.reason}`);
      this.handle({ type: 'sized', model, devices: sizing.devices, now: Date.now() });
    }
    const apiKey = randomBytes(24).toString('hex');
    const cmd = childCommand(spec, { server: this.opts.server, host: this.host, apiKey, extraArgs: sizing.kind === 'sized' ? sizing.extraArgs : undefined });
    const child = (this.opts.backends ?? defaultBackends)({
      kind: 'child',
      spec,
      options: {
        name: model,
        command: cmd.command,
        args: cmd.args,
        env: placementEnv ? { ...cmd.env, ...placementEnv } : cmd.env,
        host: this.host,
        healthPath: cmd.healthPath,
        healthHeaders: { authorization: `Bearer ${apiKey}` },
        loadTimeoutMs: this.opts.loadTimeoutMs,
        stopTimeoutMs: (spec.stopTimeoutS ?? this.opts.stopTimeoutMs / 1000) * 1000,
        logLines: 50,
        onLog: this.logSink(record, model),
      },
    });
    const run: Run = { backend: child, key: apiKey, measuredAfterUse: false, healthChecking: false };
    record.run = run;
    let ready = false;
    child.once('exit', (info: { code: number | null; signal: string | null; expected: boolean; lastLines: string[] }) => {
      record.exitCode = info.code;
      if (record.run === run) record.run = undefined;
      if (ready && !info.expected) {
        const message = `model '${model}' exited unexpectedly (${info.signal ?? `exit code ${info.code}`})`;
        this.opts.logger.error({ model, code: info.code, signal: info.signal, lastLines: info.lastLines }, message);
        this.emitEvent({ type: 'failure', model, reason: 'crash', detail: info.lastLines.slice(-5).join('\n') });
        this.handle({ type: 'exited', model, expected: false, message, now: Date.now() });
      }
    });
    const started = Date.now();
    this.emitEvent({ type: 'load', model, detail: `${cmd.command} ${cmd.args(0).join(' ')}` });
    try {
      await child.start();
    } catch (err) {
      const e = err as { reason?: string; exitCode?: number | null; lastLines?: string[]; message: string };
      if (record.run === run) record.run = undefined;
      record.exitCode = e.exitCode ?? null;
      const reason = e.reason === 'timeout' ? 'timeout' : e.reason === 'spawn' ? 'spawn' : 'exited';
      const tail = (e.lastLines ?? []).slice(-5).join(' | ');
      const message =
        reason === 'timeout'
          ? `model '${model}' was not ready after ${Math.round(this.opts.loadTimeoutMs / 1000)} s`
          : `model '${model}' failed to start: ${e.message}${tail ? ` (last output: ${tail})` : ''}`;
      this.opts.logger.error({ model, reason, lastLines: e.lastLines }, message);
      this.emitEvent({ type: 'failure', model, reason, detail: message });
      this.handle({ type: 'loadFailed', model, reason, message, now: Date.now() });
      return;
    }
    ready = true;
    this.opts.logger.info({ model, ms: Date.now() - started, port: child.port, pid: child.pid }, `${model} ready`);
    this.emitEvent({ type: 'ready', model, detail: `${Date.now() - started} ms` });
    this.handle({ type: 'ready', model, now: Date.now() });
    // After the waiting requests are on their way: a device reading may spawn vendor tools, blocking the loop.
    if (this.memoryHooks && child.pid) setImmediate(() => void this.measure(spec, record, run));
  }

  /**
   * Load an external backend: its load route, then its health. No process, so nothing to measure (its memory is the
   * preset's `memory =`, or unknown) and no crash to watch: it leaves only through stopChild.
   */
  private async startExternal(record: ModelRecord, spec: ModelSpec): Promise<void> {
    const model = spec.name;
    const options = externalOptions(spec, {
      loadTimeoutMs: this.opts.loadTimeoutMs,
      stopTimeoutMs: (spec.stopTimeoutS ?? this.opts.stopTimeoutMs / 1000) * 1000,
      onLog: this.logSink(record, model),
    });
    const backend = (this.opts.backends ?? defaultBackends)({ kind: 'external', spec, options });
    const run: Run = { backend, external: { url: options.url, headers: options.headers }, measuredAfterUse: false, healthChecking: false };
    record.run = run;
    record.externalFailure = undefined;
    const started = Date.now();
    this.emitEvent({ type: 'load', model, detail: `external ${spec.url}${spec.loadRoute ? ` (${spec.loadRoute.method} ${spec.loadRoute.path})` : ''}` });
    try {
      await backend.start();
    } catch (err) {
      if (record.run === run) record.run = undefined;
      const e = err as Error & { reason?: ExternalFailure };
      if (e.reason) record.externalFailure = e.reason;
      const message = `external backend '${model}' failed to load: ${e.message}`;
      this.opts.logger.error({ model, url: spec.url, reason: e.reason }, message);
      this.emitEvent({ type: 'failure', model, reason: e.reason ?? 'load', detail: message });
      this.handle({ type: 'loadFailed', model, reason: e.reason === 'timeout' ? 'timeout' : 'exited', message, now: Date.now() });
      return;
    }
    this.opts.logger.info({ model, ms: Date.now() - started, url: spec.url }, `${model} ready (external)`);
    this.emitEvent({ type: 'ready', model, detail: `${Date.now() - started} ms` });
    this.handle({ type: 'ready', model, now: Date.now() });
  }

  /** Where a model's output lines go: its ring buffer, `GET /logs/:model?follow=1` listeners, the debug log. */
  private logSink(record: ModelRecord, model: string): (line: string) => void {
    const log = record.log;
    return (raw) => {
      // Every kept line says when it was printed (ISO 8601, UTC): the ring outlives the child.
      const line = `${new Date().toISOString()} ${raw}`;
      log.push(line);
      this.emit('log', { model, line } satisfies LogEvent);
      this.opts.logger.debug({ model }, `[${model}] ${raw}`);
    };
  }

  private async measure(spec: ModelSpec, record: ModelRecord, run: Run): Promise<void> {
    try {
      const used = await this.memoryHooks!.usage(spec, run.backend.pid!);
      if (!used || record.run !== run) return;
      this.handle({ type: 'usage', model: spec.name, devices: used, now: Date.now() });
      this.memoryHooks!.measured?.(spec, used);
    } catch (err) {
      this.opts.logger.warn({ model: spec.name, err: (err as Error).message }, 'could not measure memory');
    }
  }

  private async stopChild(model: string, reason: StopReason, detail: string): Promise<void> {
    const record = this.models.any(model);
    const run = record?.run;
    this.emitEvent({ type: reason === 'unload' || reason === 'shutdown' ? 'unload' : 'eviction', model, reason, detail });
    if (run) await run.backend.stop();
    if (record && record.run === run) record.run = undefined;
    this.handle({ type: 'exited', model, expected: true, now: Date.now() });
  }

  /**
   * Coalesced device reads: at most one in flight, at most one start every 200 ms. The first after a quiet
   * spell starts at once: a cold start waiting for a fresh reading should not also wait out the interval.
   */
  private requestReading(): void {
    if (!this.memoryHooks || this.reading || this.readTimer) return;
    const wait = Math.max(0, this.readStartedAt + 200 - Date.now());
    this.readTimer = setTimeout(() => {
      this.readTimer = undefined;
      this.reading = true;
      this.readStartedAt = Date.now();
      this.memoryHooks!.readDevices()
        .then((readings) => {
          const now = Date.now();
          this.lastReading = { readings, at: now };
          this.handle({ type: 'devices', readings, at: now, now });
        })
        .catch((err: Error) => this.opts.logger.warn({ err: err.message }, 'device reading failed'))
        .finally(() => (this.reading = false));
    }, wait);
    this.readTimer.unref();
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

/** The model's file or projector, if either no longer exists. */
async function missingFile(spec: ModelSpec): Promise<string | undefined> {
  for (const path of [spec.modelPath, spec.mmprojPath]) {
    if (path === undefined) continue;
    try {
      await stat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return path;
    }
  }
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
