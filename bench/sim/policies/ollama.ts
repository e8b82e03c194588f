/**
 * Ollama's scheduler (github.com/ollama/ollama server/sched.go: processPending,
 * processCompleted, findRunnerToUnload, load, useLoadedRunner), as read there:
 *
 * - Every request goes through one FIFO channel (`pendingReqCh`, OLLAMA_MAX_QUEUE = 512,
 *   beyond that "server busy") served by ONE loop that handles one request at a time and
 *   blocks on it: "Block other requests until we get this pending request running".
 * - Head's model loaded: take a reference and serve. Head's model still loading: the loop
 *   blocks until the load finishes (needsReload/useLoadedRunner wait on the runner's mutex,
 *   which the load goroutine holds until the runner is up).
 * - Head's model not loaded, OLLAMA_MAX_LOADED_MODELS reached: pick a runner to unload and
 *   wait for an unload — with every other request, even for loaded models, queued behind
 *   ("at this point we're queueing up all incoming requests"). Any unload wakes the wait
 *   (`unloadedCh` is a signal, not per runner); the head then retries.
 * - Below the count: no model loaded -> load. Otherwise, if another model is still loading
 *   on the GPU (filterGPUsWithoutLoadingModels), requeue the head at the back after 250 ms
 *   (reschedDelay): one load at a time. Else load if it fits the free memory (the smaller of
 *   reported free and total minus loaded runners' estimates), or pick a runner to unload.
 * - findRunnerToUnload: runners sorted by keep-alive (sessionDuration) then model path
 *   (ByDurationAndName), the first idle one; none idle -> the first, busy. The victim's
 *   keep-alive is set to 0, so it unloads when its last request finishes.
 * - A runner idle for its keep-alive (OLLAMA_KEEP_ALIVE, 5 min) unloads.
 * - The load itself takes the request's reference; it is served when the runner is up,
 *   and the loop moves on without waiting for that load.
 *
 * Model paths are content-addressed blobs (sha256-...): their order has nothing to do with
 * popularity, so the tie-break uses a hash of the name. Simplifications: an unload that
 * happens while the loop is not waiting for one is dropped ("ignoring unload event with no
 * pending requests"); a first model that does not fit yet (a keep-alive unload still
 * freeing memory) is requeued rather than partially offloaded; the runner's parallel slots
 * are the engine's `parallel`.
 */
import { fnv1a } from '../rng.js';
import type { Policy, PolicyContext, PolicyFactory, SimRequest } from '../types.js';

export interface OllamaOptions {
  /**
   * Ollama since v0.11.5 (the default here): a request for a loaded runner that is not being unloaded is served
   * at once (GetRunner's fast path, past the pending queue), and the pending loop waits for a load it started
   * before it schedules anything else (one load at a time). false: the older loop modelled above, where every
   * request goes through processPending in order. The source versions read for this file (sched.go at commits
   * 000ce020 and 09f15872) are the older loop; the two changes are modelled as issue 13 describes current sched.go,
   * not from its lines.
   */
  current?: boolean;
  keepAliveMs?: number;
  maxQueue?: number;
  reschedDelayMs?: number;
}

export function ollama(opts: OllamaOptions = {}): PolicyFactory {
  return (ctx) => new Ollama(ctx, opts);
}

interface Runner {
  model: string;
  loading: boolean;
  refCount: number;
  sessionDuration: number;
  /** The request whose load this is: served when the runner is up. */
  initial: string;
  /** Bumped when an expire timer is set or cancelled; a timer with an old token is void. */
  timerToken: number;
}

interface Pending {
  id: string;
  model: string;
}

type Loop =
  | { kind: 'idle' }
  | { kind: 'waitLoaded'; req: Pending }
  /** Current Ollama: the loop waits for the load it started (one at a time). */
  | { kind: 'waitLoad'; model: string }
  | { kind: 'waitUnload'; req: Pending };

class Ollama implements Policy {
  readonly name: string;
  private readonly current: boolean;
  private readonly maxRunners: number;
  private readonly keepAlive: number;
  private readonly maxQueue: number;
  private readonly reschedDelay: number;
  /** s.loaded: a runner leaves it when its unload starts. */
  private readonly runners = new Map<string, Runner>();
  private readonly pending: Pending[] = [];
  private readonly requeued = new Map<string, Pending>();
  private loop: Loop = { kind: 'idle' };
  private readonly path = new Map<string, string>();

  constructor(
    private readonly ctx: PolicyContext,
    opts: OllamaOptions,
  ) {
    this.maxRunners = ctx.trace.capacity.modelsMax;
    this.current = opts.current ?? true;
    this.name = this.current ? 'ollama' : 'ollama (<0.11.5)';
    this.keepAlive = opts.keepAliveMs ?? ctx.trace.ttlMs ?? 5 * 60_000;
    this.maxQueue = opts.maxQueue ?? 512;
    this.reschedDelay = opts.reschedDelayMs ?? 250;
    for (const m of ctx.trace.models) this.path.set(m.name, `sha256-${fnv1a(m.name).toString(16).padStart(8, '0')}`);
  }

  onArrival(req: SimRequest): void {
    const loaded = this.runners.get(req.model);
    if (this.current && loaded && !loaded.loading && loaded.sessionDuration > 0) {
      return this.useLoadedRunner({ id: req.id, model: req.model }, loaded);
    }
    if (this.pending.length >= this.maxQueue) {
      return this.ctx.reject(req.id, 'server busy, please try again.  maximum pending requests exceeded');
    }
    this.pending.push({ id: req.id, model: req.model });
    this.process();
  }

  onReady(model: string): void {
    const r = this.runners.get(model);
    if (!r) return;
    r.loading = false;
    this.ctx.admit(r.initial, model);
    if (this.loop.kind === 'waitLoad' && this.loop.model === model) {
      this.loop = { kind: 'idle' };
      this.process();
      return;
    }
    if (this.loop.kind === 'waitLoaded' && this.loop.req.model === model) {
      const req = this.loop.req;
      this.loop = { kind: 'idle' };
      this.useLoadedRunner(req, r);
      this.process();
    }
  }

  onExited(): void {
    if (this.loop.kind !== 'waitUnload') return; // no pending request: the unload event is ignored
    const req = this.loop.req;
    this.loop = { kind: 'idle' };
    this.pending.unshift(req); // the inner loop retries the same pending request
    this.process();
  }

  onDone(_id: string, model: string): void {
    const r = this.runners.get(model);
    if (!r) return;
    r.refCount--;
    if (r.refCount > 0) return;
    if (r.sessionDuration <= 0) return this.unload(r);
    const token = ++r.timerToken;
    this.ctx.timer(this.ctx.now() + r.sessionDuration, `expire:${model}:${token}`);
  }

  onTimer(tag: string): void {
    const [kind, a, b] = tag.split(':');
    if (kind === 'expire') {
      const r = this.runners.get(a!);
      if (r && r.timerToken === Number(b) && r.refCount === 0) this.unload(r);
      return;
    }
    if (kind === 'requeue') {
      const req = this.requeued.get(a!)!;
      this.requeued.delete(a!);
      this.pending.push(req);
      this.process();
    }
  }

  /** processPending: one request at a time; stops when the loop blocks. */
  private process(): void {
    while (this.loop.kind === 'idle' && this.pending.length > 0) this.schedule(this.pending.shift()!);
  }

  private schedule(req: Pending): void {
    const runner = this.runners.get(req.model);
    if (runner) {
      if (runner.loading) this.loop = { kind: 'waitLoaded', req };
      else this.useLoadedRunner(req, runner);
      return;
    }
    // s.loaded loses a runner only once its unload is done (processCompleted: unload, then delete): a request for
    // a model still stopping waits for that, as it would for the runner's mutex.
    if (this.ctx.state(req.model) === 'unloading') return this.requeue(req);
    if (this.runners.size >= this.maxRunners) return this.evictFor(req);
    if (this.runners.size === 0) {
      // The first model loads at once (a partial CPU offload if it does not fit is not
      // modelled: it waits for memory a dying child still holds).
      return this.fits(req.model) ? this.load(req) : this.requeue(req);
    }
    // "delaying scheduling while other models finish loading": back of the queue.
    if ([...this.runners.values()].some((r) => r.loading)) return this.requeue(req);
    if (this.fits(req.model)) return this.load(req);
    this.evictFor(req);
  }

  private requeue(req: Pending): void {
    this.requeued.set(req.id, req);
    this.ctx.timer(this.ctx.now() + this.reschedDelay, `requeue:${req.id}`);
  }

  private evictFor(req: Pending): void {
    const victim = this.findRunnerToUnload();
    victim.timerToken++; // stop its expire timer
    victim.sessionDuration = 0;
    if (victim.refCount <= 0) this.unload(victim);
    this.loop = { kind: 'waitUnload', req };
  }

  private findRunnerToUnload(): Runner {
    const list = [...this.runners.values()].sort(
      (x, y) => x.sessionDuration - y.sessionDuration || cmp(this.path.get(x.model)!, this.path.get(y.model)!),
    );
    return list.find((r) => r.refCount === 0) ?? list[0]!;
  }

  private fits(model: string): boolean {
    const budget = this.ctx.trace.capacity.memoryBytes;
    let predicted = 0;
    for (const r of this.runners.values()) predicted += this.ctx.model(r.model).memBytes;
    let reported = 0; // what the GPU says is used: dying children still hold theirs
    for (const m of this.ctx.trace.models) if (this.ctx.state(m.name) !== 'unloaded') reported += m.memBytes;
    return Math.max(predicted, reported) + this.ctx.model(model).memBytes <= budget;
  }

  private load(req: Pending): void {
    this.runners.set(req.model, {
      model: req.model,
      loading: true,
      refCount: 1,
      sessionDuration: this.keepAlive,
      initial: req.id,
      timerToken: 0,
    });
    this.ctx.start(req.model);
    if (this.current) this.loop = { kind: 'waitLoad', model: req.model };
  }

  private useLoadedRunner(req: Pending, r: Runner): void {
    r.refCount++;
    r.timerToken++; // stop the expire timer
    this.ctx.admit(req.id, req.model);
  }

  private unload(r: Runner): void {
    this.runners.delete(r.model);
    this.ctx.stop(r.model);
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
