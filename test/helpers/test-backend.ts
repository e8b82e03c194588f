/**
 * A backend for driving the real Router (and its real Scheduler) in-process, without processes: a small
 * implementation of the supervisor's Backend interface that the router's backend factory returns. It "starts"
 * after a settable delay, or fails to (as a Child or an external backend would say it), crashes on demand ('exit'
 * unexpected), hangs (fails its health check), and stops. It serves no HTTP: its port is a made-up number, which is
 * all a lease needs when nothing is proxied.
 *
 * `TestBackends` is the factory and the registry of every backend it made, so a test can reach "the running
 * backend of A", and check at the end that every one was stopped and no timer of theirs is left.
 */
import { EventEmitter } from 'node:events';
import type { Backend } from '../../src/supervisor/backend.js';
import { ChildStartError } from '../../src/supervisor/errors.js';
import type { ExitInfo } from '../../src/supervisor/types.js';
import type { BackendFactory, BackendOrder } from '../../src/router/backends.js';
import { ExternalBackendError, type ExternalFailure } from '../../src/router/external.js';

/** How the next start of a model behaves. */
export interface Behaviour {
  /** From start() to ready (or to the failure). Default 0. */
  startMs?: number;
  /** Fail the start: as a child does ('exited' before ready, 'timeout', 'spawn') or an external backend does. */
  fail?: 'exited' | 'timeout' | 'spawn' | ExternalFailure;
  /** From stop() to 'exit'. Default 0. */
  stopMs?: number;
}

type State = 'new' | 'starting' | 'ready' | 'exited';

let nextPort = 40_000;
let nextPid = 900_000;

export class TestBackend extends EventEmitter implements Backend {
  readonly model: string;
  readonly kind: BackendOrder['kind'];
  readonly port: number;
  /** A made-up pid for a child (never signalled: kill() is simulated); none for an external backend. */
  readonly pid: number | undefined;
  /** The options the router gave the factory (command, env, key, timeouts...). */
  readonly order: BackendOrder;
  state: State = 'new';
  /** It became ready (and may have ended since). */
  wasReady = false;
  /** Health checks fail (Router.checkHung then kills it). */
  hung = false;
  stopCalls = 0;
  exit?: ExitInfo;
  /** Told of every stop() call, before it acts (a test checks who stops what, and when). */
  onStop?: (b: TestBackend) => void;
  readonly #behaviour: Behaviour;
  #timer?: NodeJS.Timeout;
  #startPromise?: Promise<void>;
  #stopPromise?: Promise<ExitInfo>;
  #stopRequested = false;
  #settleStart?: (err?: Error) => void;
  #resolveExit!: (info: ExitInfo) => void;
  readonly #exited = new Promise<ExitInfo>((resolve) => (this.#resolveExit = resolve));

  constructor(order: BackendOrder, behaviour: Behaviour) {
    super();
    this.order = order;
    this.kind = order.kind;
    this.model = order.spec.name;
    this.#behaviour = behaviour;
    this.port = order.kind === 'external' ? Number(new URL(order.options.url).port) || 80 : nextPort++;
    this.pid = order.kind === 'child' ? nextPid++ : undefined;
  }

  /** The child's key the router gave it (what a lease's Authorization must carry). */
  get key(): string | undefined {
    return this.order.kind === 'child' ? this.order.options.healthHeaders?.authorization?.replace(/^Bearer /, '') : undefined;
  }

  get running(): boolean {
    return this.state === 'starting' || this.state === 'ready';
  }

  start(): Promise<void> {
    this.#startPromise ??= new Promise<void>((resolve, reject) => {
      if (this.#stopRequested) return reject(this.#startError('stopped'));
      this.state = 'starting';
      this.#settleStart = (err) => {
        this.#settleStart = undefined;
        if (err) reject(err);
        else resolve();
      };
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        const fail = this.#behaviour.fail;
        if (!fail) {
          this.state = 'ready';
          this.wasReady = true;
          this.#settleStart?.();
          return;
        }
        const err = this.#startError(fail);
        this.#finish(false, fail === 'exited' ? 1 : null);
        this.#settleStart?.(err);
      }, this.#behaviour.startMs ?? 0);
    });
    return this.#startPromise;
  }

  stop(): Promise<ExitInfo> {
    this.stopCalls++;
    this.onStop?.(this);
    this.#stopPromise ??= this.#stop();
    return this.#stopPromise;
  }

  async responsive(): Promise<boolean> {
    return this.state === 'ready' && !this.hung;
  }

  /** As Child.kill: the end of a hung backend, handled as a crash. */
  kill(): void {
    if (this.state === 'ready') this.crash(null);
  }

  async gone(): Promise<boolean> {
    return this.state === 'exited';
  }

  /** The backend dies on its own (after ready): 'exit' unexpected, unless it was being stopped (as for a Child). */
  crash(code: number | null = 1): void {
    if (this.state !== 'ready') throw new Error(`${this.model}: cannot crash a backend that is ${this.state}`);
    this.#finish(this.#stopRequested, code);
  }

  /** Resolves when it has emitted 'exit'. */
  exited(): Promise<ExitInfo> {
    return this.#exited;
  }

  async #stop(): Promise<ExitInfo> {
    this.#stopRequested = true;
    if (this.exit) return this.exit;
    if (this.state === 'starting') {
      // As a Child: a stop during start ends the start ('stopped'), and the exit is expected.
      clearTimeout(this.#timer);
      this.#timer = undefined;
      const info = this.#finish(true, null);
      this.#settleStart?.(this.#startError('stopped'));
      return info;
    }
    if (this.state === 'new') return this.#finish(true, null);
    const stopMs = this.#behaviour.stopMs ?? 0;
    if (stopMs > 0) {
      // Ends early if it dies meanwhile.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, stopMs))), this.#exited]);
      clearTimeout(timer);
    }
    return this.#finish(true, 0);
  }

  #finish(expected: boolean, code: number | null): ExitInfo {
    if (this.exit) return this.exit;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.state = 'exited';
    this.exit = { code, signal: null, expected, lastLines: [`${this.model} ended`] };
    this.#resolveExit(this.exit);
    this.emit('exit', this.exit);
    return this.exit;
  }

  /** The error a Child (or an external backend) rejects start() with, for the same failure. */
  #startError(why: NonNullable<Behaviour['fail']> | 'stopped'): Error {
    if (this.kind === 'external') {
      const reason: ExternalFailure = why === 'exited' || why === 'spawn' ? 'refused' : why;
      return new ExternalBackendError(`test backend ${this.model}: ${reason}`, reason);
    }
    const reason = why === 'unreachable' || why === 'refused' ? 'exited' : why;
    return new ChildStartError(`test backend ${this.model}: ${reason}`, {
      model: this.model,
      reason,
      exitCode: reason === 'exited' ? 1 : null,
      lastLines: [`${this.model} ${reason}`],
    });
  }
}

/** The factory the router is given, and every backend it made. */
export class TestBackends {
  readonly made: TestBackend[] = [];
  /** Behaviour of every start of a model, until changed. */
  readonly #behaviour = new Map<string, Behaviour>();
  /** Behaviour of the next start only. */
  readonly #once = new Map<string, Behaviour>();
  #default: Behaviour;
  /** Told of every stop() call on any backend made here. */
  onStop?: (b: TestBackend) => void;

  constructor(defaults: Behaviour = {}) {
    this.#default = defaults;
  }

  readonly factory: BackendFactory = (order) => {
    const name = order.spec.name;
    const once = this.#once.get(name);
    this.#once.delete(name);
    const b = new TestBackend(order, once ?? this.#behaviour.get(name) ?? this.#default);
    b.onStop = (x) => this.onStop?.(x);
    this.made.push(b);
    return b;
  };

  /** Every later start of `model` behaves so (undefined: the default again). */
  set(model: string, behaviour: Behaviour | undefined): void {
    if (behaviour) this.#behaviour.set(model, behaviour);
    else this.#behaviour.delete(model);
  }

  /** The next start of `model` behaves so. */
  once(model: string, behaviour: Behaviour): void {
    this.#once.set(model, behaviour);
  }

  setDefault(behaviour: Behaviour): void {
    this.#default = behaviour;
  }

  /** The backends of `model` still starting or ready (at most one, when the router is right). */
  running(model?: string): TestBackend[] {
    return this.made.filter((b) => b.running && (model === undefined || b.model === model));
  }

  /** The one running backend of `model`; throws if there is none or more than one. */
  only(model: string): TestBackend {
    const r = this.running(model);
    if (r.length !== 1) throw new Error(`${model}: ${r.length} running backends`);
    return r[0]!;
  }

  /** How many backends `model` has had. */
  starts(model: string): number {
    return this.made.filter((b) => b.model === model).length;
  }
}
