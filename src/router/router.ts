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
import { Child } from '../supervisor/child.js';
import { RingBuffer } from '../supervisor/ring-buffer.js';
import { RouterError, type ErrorCode } from '../http/errors.js';
import { childCommand, type ServerBin } from './child-command.js';
import { explainTooLarge, sizeForLoad, type ChosenCtx, type CtxSizer } from './ctx-auto.js';
import { ExternalBackend, externalOptions, externalRejection, type Backend, type ExternalFailure } from './external.js';

export interface NeedParts {
  weights: number;
  kv: number;
  compute: number;
  base: number;
  repack?: number;
}

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
  private readonly specs = new Map<string, ModelSpec>();
  private readonly aliases = new Map<string, string>();
  private readonly children = new Map<string, Child>();
  /** External backends (`url =`) the router has loaded: no process, same life as a child. */
  private readonly externals = new Map<string, ExternalBackend>();
  /** Why an external backend's last load failed, for the error its waiters get. */
  private readonly externalFailures = new Map<string, ExternalFailure>();
  private readonly keys = new Map<string, string>();
  private readonly logs = new Map<string, RingBuffer<string>>();
  private readonly exitCodes = new Map<string, number | null>();
  /** ctx-size = auto: the context chosen for each model's current load (src/router/ctx-auto.ts). */
  private readonly ctxChosen = new Map<string, ChosenCtx>();
  private readonly memory = new Map<string, { devices: DeviceBytes; source: string; parts?: Record<string, NeedParts> }>();
  private readonly waiters = new Map<string, Waiter>();
  private readonly host: string;
  private seq = 0;
  private tick?: NodeJS.Timeout;
  private readTimer?: NodeJS.Timeout;
  private reading = false;
  /** A child exited since the last reading started: the next reading is the one a waiting load needs. */
  private exitSinceReading = false;
  private readStartedAt = -Infinity;
  private busy = false;
  private readonly pending: SchedulerEvent[] = [];
  /** Children being started or stopped: shutdown waits for them. */
  private readonly operations = new Set<Promise<unknown>>();
  private readonly measuredAfterUse = new WeakSet<Child>();
  /** Children whose health is being checked after a silent request (checkHung). */
  private readonly healthChecks = new WeakSet<Child>();
  private readonly needs = new Map<string, Promise<void>>();
  /**
   * Specs whose need came back unknown (a `cmd` preset without `memory =`). Asking again cannot change the
   * answer, and on the request path it cost a device reading (nvidia-smi, rocm-smi) every 500 ms.
   */
  private readonly needUnknown = new WeakSet<ModelSpec>();
  private readonly invalid = new Map<string, string>();
  /** The last device reading, kept for the dashboard and /metrics (operability). */
  private lastReading?: { readings: DeviceReading[]; at: number };

  constructor(private readonly opts: RouterOptions) {
    super();
    this.host = opts.host ?? '127.0.0.1';
    this.scheduler = new Scheduler(opts.scheduler);
    for (const spec of opts.models) this.addSpec(spec);
    for (const i of opts.invalid ?? []) this.invalid.set(i.name, i.error);
  }

  start(): void {
    this.tick = setInterval(() => this.handle({ type: 'tick', now: Date.now() }), this.opts.tickMs ?? 500);
    this.tick.unref();
    if (this.opts.memory) {
      this.requestReading();
      // Figures for every model up front, so /models and the dashboard show them before any load.
      for (const spec of this.specs.values()) void this.resolveNeed(spec);
    }
    for (const spec of this.specs.values()) {
      if (spec.loadOnStartup) {
        this.load(spec.name).catch((err: Error) =>
          this.opts.logger.warn({ model: spec.name, err: err.message }, 'load on startup failed'),
        );
      }
    }
  }

  resolve(nameOrAlias: string): ModelSpec | undefined {
    const name = this.specs.has(nameOrAlias) ? nameOrAlias : this.aliases.get(nameOrAlias);
    return name === undefined ? undefined : this.specs.get(name);
  }

  /** The model a client named, or the catalogue error that says why there is none. */
  require(nameOrAlias: string): ModelSpec {
    const spec = this.resolve(nameOrAlias);
    if (spec) return spec;
    const invalid = this.invalid.get(nameOrAlias);
    if (invalid) throw new RouterError('model_invalid', `model '${nameOrAlias}' has a bad preset: ${invalid}`);
    throw new RouterError('model_not_found', `model '${nameOrAlias}' not found`);
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
    if (!view || view.status === 'unloaded' || view.status === 'failed') return Promise.resolve();
    return new Promise((resolve) => {
      const onStatus = (e: RouterEvent) => {
        if (e.model === model && (e.to === 'unloaded' || e.to === 'failed')) {
          this.off('event', onStatus);
          resolve();
        }
      };
      this.on('event', onStatus);
      this.handle({ type: 'unload', model, now: Date.now() });
    });
  }

  list(): ModelInfo[] {
    return [...this.specs.values()].map((spec) => this.info(spec.name)!);
  }

  info(name: string): ModelInfo | undefined {
    const spec = this.specs.get(name);
    const v = this.scheduler.view(name);
    if (!spec || !v) return undefined;
    const child = this.backend(name);
    return {
      spec,
      status: v.status,
      refs: v.refs,
      queued: v.queued,
      lastUsed: v.lastUsed,
      failures: v.failures,
      lastError: v.lastError,
      exitCode: this.exitCodes.get(name),
      waitingFor: v.waitingFor,
      pid: child?.pid,
      port: child?.port,
      // Running and not measured yet: the need on the GPU(s) it was placed on, not the generic one.
      memory: v.usage
        ? { devices: v.usage, source: 'measured' }
        : v.placed
          ? { devices: v.placed, source: this.memory.get(name)?.source ?? 'unknown' }
          : this.memory.get(name),
      ...(this.ctxChosen.has(name) && (v.status === 'loading' || v.status === 'loaded') ? { ctx: this.ctxChosen.get(name) } : {}),
    };
  }

  logLines(name: string, n?: number): string[] {
    const lines = this.logs.get(name)?.toArray() ?? [];
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
    return [...this.children.values()].map((c) => c.pid).filter((p): p is number => p !== undefined);
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
    this.opts.memory?.close?.();
    await Promise.allSettled([...this.operations]);
    await Promise.allSettled([...this.children.values(), ...this.externals.values()].map((c) => c.stop()));
    await Promise.allSettled([...this.operations]);
  }

  /**
   * The proxy heard nothing from this model's child for the upstream idle timeout. Slow is allowed, hung is not:
   * a child that does not answer its health check either is killed (its whole group), which ends its other
   * requests with an error and marks the model failed, so the next request starts a new child.
   */
  checkHung(model: string, timeoutMs = 10_000): void {
    const child = this.children.get(model);
    if (!child || this.healthChecks.has(child)) return;
    this.healthChecks.add(child);
    const check = child
      .responsive(timeoutMs)
      .then((ok) => {
        if (ok || this.children.get(model) !== child) return;
        const message = `model '${model}' stopped answering (no output for the upstream timeout, no answer to its health check): killing it`;
        this.opts.logger.error({ model, pid: child.pid }, message);
        this.emitEvent({ type: 'failure', model, reason: 'hung', detail: message });
        child.kill();
      })
      .finally(() => this.healthChecks.delete(child));
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
    if (this.externals.has(lease.model) || this.specs.get(lease.model)?.url) return false;
    const child = this.children.get(lease.model);
    if (!child || `http://${this.host}:${child.port}` !== lease.target) return true;
    return child.gone(timeoutMs);
  }

  /** Models whose preset is broken since the last reload, with the error; they serve nothing. */
  invalidModels(): { name: string; error: string }[] {
    return [...this.invalid].map(([name, error]) => ({ name, error }));
  }

  /**
   * Hot reload: new models appear; removed ones stop taking requests and unload once idle;
   * a changed preset restarts that model once idle (the next request starts it with the new
   * arguments); unchanged models keep running untouched; a bad preset marks only that model.
   */
  applyCatalog(next: ModelSpec[], invalid: { name: string; error: string }[]): ReloadSummary {
    const diff = diffCatalogs({ models: [...this.specs.values()] }, { models: next });
    const byName = new Map(next.map((m) => [m.name, m]));
    this.invalid.clear();
    for (const i of invalid) this.invalid.set(i.name, i.error);
    for (const name of diff.removed) {
      this.specs.delete(name);
      this.memory.delete(name);
      this.retire(name);
    }
    this.aliases.clear();
    for (const name of [...diff.added, ...diff.changed]) {
      const spec = byName.get(name)!;
      this.memory.delete(name);
      this.addSpec(spec);
      if (diff.changed.includes(name)) this.handle({ type: 'unload', model: name, now: Date.now() });
      if (this.opts.memory) void this.resolveNeed(spec);
    }
    for (const spec of this.specs.values()) for (const a of spec.aliases) this.aliases.set(a, spec.name);
    const summary = { ...diff, invalid: invalid.map((i) => i.name) };
    this.opts.logger.info(summary, 'catalogue reloaded');
    this.emitEvent({ type: 'reload', model: '*', detail: JSON.stringify(summary) });
    return summary;
  }

  /** A model gone from the catalogue: unload it once idle, then forget it. */
  private retire(name: string): void {
    if (this.scheduler.removeModel(name)) return;
    const onStatus = (e: RouterEvent) => {
      if (e.model !== name || (e.to !== 'unloaded' && e.to !== 'failed')) return;
      if (this.specs.has(name)) return this.off('event', onStatus); // came back meanwhile
      if (this.scheduler.removeModel(name)) this.off('event', onStatus);
    };
    this.on('event', onStatus);
    this.handle({ type: 'unload', model: name, now: Date.now() });
  }

  private addSpec(spec: ModelSpec): void {
    this.specs.set(spec.name, spec);
    for (const a of spec.aliases) this.aliases.set(a, spec.name);
    this.logs.set(spec.name, this.logs.get(spec.name) ?? new RingBuffer<string>(this.opts.logLines ?? 500));
    this.scheduler.addModel(policyOf(spec));
  }

  private async enqueue(model: string, kind: 'request' | 'load', signal?: Cancel): Promise<Lease | undefined> {
    const spec = this.require(model);
    if (signal?.aborted) throw new RouterError('invalid_request', 'client went away');
    if (this.opts.memory && !this.memory.has(spec.name) && !this.needUnknown.has(spec)) await this.resolveNeed(spec);
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
    const running = this.needs.get(spec.name);
    if (running) return running;
    const set = (need: NeedAnswer) => {
      if (this.specs.get(spec.name) !== spec) return; // replaced by a reload meanwhile
      this.memory.set(spec.name, { devices: need.devices, source: need.source, ...(need.parts ? { parts: need.parts } : {}) });
      // perGpuBytes: what each GPU pays again if the scheduler splits this model (placement).
      this.handle({ type: 'need', model: spec.name, devices: need.devices, perGpuBytes: need.perGpuBytes, now: Date.now() });
    };
    const p = this.opts
      .memory!.need(spec, set)
      .then((need) => {
        if (need) set(need);
        else this.needUnknown.add(spec);
      })
      .catch((err: Error) => this.opts.logger.warn({ model: spec.name, err: err.message }, 'memory need unknown'))
      .finally(() => this.needs.delete(spec.name));
    this.needs.set(spec.name, p);
    return p;
  }

  /** Events are handled one at a time, in order, even when an effect causes another. */
  private handle(event: SchedulerEvent): void {
    this.pending.push(event);
    if (event.type === 'exited') this.exitSinceReading = true;
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
        const external = this.specs.get(w.model)?.url ? externalRejection(effect.error.kind, this.externalFailures.get(w.model)) : undefined;
        w.reject(
          new RouterError(external?.code ?? rejectionCodes[effect.error.kind], effect.error.kind === 'too_large' ? explainTooLarge(this.specs.get(w.model), effect.error.message) : effect.error.message, {
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
        return;
    }
  }

  private lease(id: string, model: string): Lease {
    const child = this.children.get(model);
    const external = this.externals.get(model);
    const key = this.keys.get(model);
    let released = false;
    return {
      model,
      // An external backend gets its own key (if its preset gives one), never the child key or the client's.
      target: external ? external.url : `http://${this.host}:${child?.port}`,
      headers: external ? external.headers : { authorization: `Bearer ${key}` },
      release: () => {
        if (released) return;
        released = true;
        this.handle({ type: 'done', id, now: Date.now() });
        // Memory right after load is lower than under load: measure again after the first request.
        if (child && this.opts.memory && !this.measuredAfterUse.has(child)) {
          this.measuredAfterUse.add(child);
          void this.measure(this.specs.get(model)!, child);
        }
      },
    };
  }

  private async startChild(model: string, devices?: string[], room?: Extract<Effect, { type: 'start' }>['room']): Promise<void> {
    const spec = this.specs.get(model);
    if (!spec) {
      // Removed by a reload between the decision and now.
      this.handle({ type: 'loadFailed', model, reason: 'spawn', message: `model '${model}' was removed`, now: Date.now() });
      return;
    }
    if (spec.url) return this.startExternal(spec);
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
    if (devices?.length && this.opts.memory?.placementEnv) {
      try {
        placementEnv = await this.opts.memory.placementEnv(spec, devices);
      } catch (err) {
        const message = `model '${model}' cannot be placed on ${devices.join(', ')}: ${(err as Error).message}`;
        this.opts.logger.error({ model, devices }, message);
        this.handle({ type: 'loadFailed', model, reason: 'spawn', message, now: Date.now() });
        return;
      }
      if (placementEnv) this.opts.logger.info({ model, devices, env: placementEnv }, `${model}: placed on ${devices.join(', ')}`);
    }
    // ctx-size = auto: the largest context the room this load was given holds; the scheduler learns what it keeps.
    this.ctxChosen.delete(model);
    const sizing = await sizeForLoad(spec, { room, devices, marginBytes: this.opts.scheduler.marginBytes }, this.opts.memory);
    if (sizing.kind === 'failed') {
      this.opts.logger.error({ model, room }, sizing.message);
      this.emitEvent({ type: 'failure', model, reason: 'spawn', detail: sizing.message });
      this.handle({ type: 'loadFailed', model, reason: 'spawn', message: sizing.message, now: Date.now() });
      return;
    }
    if (sizing.kind === 'sized') {
      this.ctxChosen.set(model, sizing.ctx);
      this.opts.logger.info({ model, ctx: sizing.ctx.size, need: sizing.devices }, `${model}: ctx-size ${sizing.ctx.size}, ${sizing.ctx.reason}`);
      this.handle({ type: 'sized', model, devices: sizing.devices, now: Date.now() });
    }
    const apiKey = randomBytes(24).toString('hex');
    this.keys.set(model, apiKey);
    const cmd = childCommand(spec, { server: this.opts.server, host: this.host, apiKey, extraArgs: sizing.kind === 'sized' ? sizing.extraArgs : undefined });
    const child = new Child({
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
      onLog: this.logSink(model),
    });
    this.children.set(model, child);
    let ready = false;
    child.once('exit', (info: { code: number | null; signal: string | null; expected: boolean; lastLines: string[] }) => {
      this.exitCodes.set(model, info.code);
      if (this.children.get(model) === child) this.children.delete(model);
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
      if (this.children.get(model) === child) this.children.delete(model);
      this.exitCodes.set(model, e.exitCode ?? null);
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
    if (this.opts.memory && child.pid) setImmediate(() => void this.measure(spec, child));
  }

  /**
   * Load an external backend: its load route, then its health. No process, so nothing to measure (its memory is the
   * preset's `memory =`, or unknown) and no crash to watch: it leaves only through stopChild.
   */
  private async startExternal(spec: ModelSpec): Promise<void> {
    const model = spec.name;
    const backend = new ExternalBackend(
      externalOptions(spec, {
        loadTimeoutMs: this.opts.loadTimeoutMs,
        stopTimeoutMs: (spec.stopTimeoutS ?? this.opts.stopTimeoutMs / 1000) * 1000,
        onLog: this.logSink(model),
      }),
    );
    this.externals.set(model, backend);
    this.externalFailures.delete(model);
    const started = Date.now();
    this.emitEvent({ type: 'load', model, detail: `external ${spec.url}${spec.loadRoute ? ` (${spec.loadRoute.method} ${spec.loadRoute.path})` : ''}` });
    try {
      await backend.start();
    } catch (err) {
      if (this.externals.get(model) === backend) this.externals.delete(model);
      const e = err as Error & { reason?: ExternalFailure };
      if (e.reason) this.externalFailures.set(model, e.reason);
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
  private logSink(model: string): (line: string) => void {
    const log = this.logs.get(model)!;
    return (raw) => {
      // Every kept line says when it was printed (ISO 8601, UTC): the ring outlives the child.
      const line = `${new Date().toISOString()} ${raw}`;
      log.push(line);
      this.emit('log', { model, line } satisfies LogEvent);
      this.opts.logger.debug({ model }, `[${model}] ${raw}`);
    };
  }

  /** The running child or external backend of a model. */
  private backend(model: string): Backend | undefined {
    return this.children.get(model) ?? this.externals.get(model);
  }

  private async measure(spec: ModelSpec, child: Child): Promise<void> {
    try {
      const used = await this.opts.memory!.usage(spec, child.pid!);
      if (!used || this.children.get(spec.name) !== child) return;
      this.handle({ type: 'usage', model: spec.name, devices: used, now: Date.now() });
      this.opts.memory!.measured?.(spec, used);
    } catch (err) {
      this.opts.logger.warn({ model: spec.name, err: (err as Error).message }, 'could not measure memory');
    }
  }

  private async stopChild(model: string, reason: StopReason, detail: string): Promise<void> {
    const child = this.backend(model);
    this.emitEvent({ type: reason === 'unload' || reason === 'shutdown' ? 'unload' : 'eviction', model, reason, detail });
    if (child) await child.stop();
    if (this.children.get(model) === child) this.children.delete(model);
    if (this.externals.get(model) === child) this.externals.delete(model);
    this.handle({ type: 'exited', model, expected: true, now: Date.now() });
  }

  /**
   * Coalesced device reads: at most one in flight, at most one start every 200 ms. The first after a quiet
   * spell starts at once: a cold start waiting for a fresh reading should not also wait out the interval.
   */
  private requestReading(): void {
    if (!this.opts.memory || this.reading) return;
    // After an exit the scheduler trusts no reading older than it, so a load waits for this one: take it at once
    // (it waited out the rest of the interval, ~100 ms of a 190 ms model swap). At most one such per exit.
    const urgent = this.exitSinceReading;
    if (this.readTimer && !urgent) return;
    clearTimeout(this.readTimer);
    const wait = urgent ? 0 : Math.max(0, this.readStartedAt + 200 - Date.now());
    this.readTimer = setTimeout(() => {
      this.readTimer = undefined;
      this.reading = true;
      this.exitSinceReading = false;
      this.readStartedAt = Date.now();
      this.opts
        .memory!.readDevices()
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
