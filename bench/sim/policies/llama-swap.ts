/**
 * llama-swap (github.com/mostlygeek/llama-swap), its `internal/router/scheduler/fifo.go`
 * (the FIFO scheduler) with `internal/router/group.go` (`groupSwapper`), as read there:
 *
 * OnRequest, in order:
 *  1. a swap to the same model is in flight: join its waiters;
 *  2. fast path: the model is ready and the swapper evicts nothing — serve at once, even if
 *     requests for other models are queued ("A B C A B C --> A A B B C C");
 *  3. the swap would collide with an in-flight swap: queue;
 *  4. it would evict a model with requests in flight: queue (drained on OnServeDone when
 *     that model's in-flight count reaches zero, and on every OnSwapDone);
 *  5. otherwise start a swap: stop the evicted models (in parallel), then start the target
 *     and wait for it (baseRouter.doSwap); on SwapDone every waiter is granted.
 * A grant beyond the model's `concurrencyLimit` (default 10) is answered 429 (grantHandler).
 *
 * Groups (groupSwapper.EvictionFor): in a `swap: true` group only one member runs; loading
 * it evicts the running sibling. Three configurations:
 *  - `default`: no groups configured, llama-swap's default — one model at a time;
 *  - `groups`: hand-tuned `safeCount` groups, models dealt round-robin in popularity order
 *    (trace model order), each `swap: true, exclusive: false`: at most that many models at
 *    once, and the hottest models never share a group;
 *  - `matrix`: the matrix router (internal/router/matrix.go, matrix_solver.go): the config
 *    lists the sets of models that may run together (here: every set that fits the memory
 *    budget and models-max, what a user who knows the sizes would write), and for a target
 *    the solver picks the set holding it whose evictions cost least, a model's eviction cost
 *    being its measured median load time ("Eviction cost = evict_costs multiplier * measured
 *    median load time"). Ties: keep more models, then name order.
 * A model's `ttl` (the trace's TTL) unloads it once idle that long (process.go's ttl check).
 */
import { safeCount, type Policy, type PolicyContext, type PolicyFactory, type SimRequest } from '../types.js';

export interface LlamaSwapOptions {
  /** Per-model in-flight cap before 429; llama-swap's default is 10. */
  concurrencyLimit?: number;
  /** Which swapper: one model at a time (the default), safe-count groups, or the matrix. */
  swapper?: 'default' | 'groups' | 'matrix';
  name?: string;
}

export function llamaSwap(opts: LlamaSwapOptions = {}): PolicyFactory {
  return (ctx) => new LlamaSwap(ctx, opts.concurrencyLimit ?? 10, opts.swapper ?? 'default', opts.name ?? 'llama-swap');
}

interface ActiveSwap {
  model: string;
  evict: string[];
  waiters: string[];
  /** Evicted models not yet exited; the target starts when this reaches zero. */
  stopping: Set<string>;
  /** The target itself was stopping when the swap began: start it once it exits. */
  awaitTarget: boolean;
}

interface Queued {
  id: string;
  model: string;
}

class LlamaSwap implements Policy {
  private readonly group = new Map<string, number>();
  private readonly active = new Map<string, ActiveSwap>();
  private readonly inFlight = new Map<string, number>();
  private readonly ttlToken = new Map<string, number>();
  private queued: Queued[] = [];

  constructor(
    private readonly ctx: PolicyContext,
    private readonly limit: number,
    private readonly swapper: 'default' | 'groups' | 'matrix',
    readonly name: string,
  ) {
    const groups = swapper === 'groups' ? safeCount(ctx.trace) : 1;
    ctx.trace.models.forEach((m, i) => {
      this.group.set(m.name, i % groups);
      this.inFlight.set(m.name, 0);
    });
  }

  onArrival(req: SimRequest): void {
    if (!this.decide({ id: req.id, model: req.model })) this.enqueue({ id: req.id, model: req.model });
  }

  onReady(model: string): void {
    this.swapDone(model);
  }

  onExited(model: string): void {
    // Progress of doSwap goroutines: an evicted model is gone, or a stopping target can now start.
    for (const sw of [...this.active.values()]) {
      if (sw.stopping.delete(model) || (sw.awaitTarget && sw.model === model)) this.advance(sw);
    }
  }

  onDone(_id: string, model: string): void {
    const n = this.inFlight.get(model)! - 1;
    this.inFlight.set(model, n);
    if (n <= 0) this.armTtl(model);
    if (n <= 0) this.drainQueue();
  }

  onTimer(tag: string): void {
    const [kind, model, token] = tag.split(':');
    if (kind !== 'ttl' || this.ttlToken.get(model!) !== Number(token)) return;
    if (this.ctx.state(model!) !== 'loaded' || this.inFlight.get(model!)! > 0) return;
    for (const [id, sw] of this.active) if (id === model || sw.evict.includes(model!)) return;
    this.ctx.stop(model!);
  }

  private armTtl(model: string): void {
    const ttl = this.ctx.trace.ttlMs;
    if (ttl === undefined) return;
    const token = (this.ttlToken.get(model) ?? 0) + 1;
    this.ttlToken.set(model, token);
    this.ctx.timer(this.ctx.now() + ttl, `ttl:${model}:${token}`);
  }

  /** The OnRequest decision tree; false = queue it. */
  private decide(req: Queued): boolean {
    const sw = this.active.get(req.model);
    if (sw) {
      sw.waiters.push(req.id);
      return true;
    }
    const evict = this.evictionFor(req.model, this.runningSet(req.model));
    if (this.ctx.state(req.model) === 'loaded' && evict.length === 0 && !this.collides(req.model, evict)) {
      this.grant(req.id, req.model);
      return true;
    }
    if (this.collides(req.model, evict)) return false;
    if (evict.some((m) => this.inFlight.get(m)! > 0)) return false;
    this.startSwap(req, evict);
    return true;
  }

  private drainQueue(): void {
    const pending = this.queued;
    this.queued = [];
    const remaining: Queued[] = [];
    for (const req of pending) if (!this.decide(req)) remaining.push(req);
    // decide() never enqueues, so anything queued meanwhile is impossible; keep order anyway.
    this.queued = [...remaining, ...this.queued];
  }

  private enqueue(req: Queued): void {
    this.queued.push(req); // no FifoConfig priorities: plain arrival order
  }

  private startSwap(req: Queued, evict: string[]): void {
    const sw: ActiveSwap = {
      model: req.model,
      evict,
      waiters: [req.id],
      stopping: new Set(),
      awaitTarget: false,
    };
    this.active.set(req.model, sw);
    for (const m of evict) {
      const state = this.ctx.state(m);
      if (state === 'loaded') this.ctx.stop(m);
      if (state === 'loaded' || state === 'unloading') sw.stopping.add(m);
    }
    this.advance(sw);
  }

  /** doSwap after its evictions: start the target if it is stopped, then wait for ready. */
  private advance(sw: ActiveSwap): void {
    if (sw.stopping.size > 0) return;
    const state = this.ctx.state(sw.model);
    sw.awaitTarget = state === 'unloading';
    if (state === 'unloaded') this.ctx.start(sw.model);
    if (state === 'loaded') this.swapDone(sw.model);
  }

  private swapDone(model: string): void {
    const sw = this.active.get(model);
    if (!sw) return;
    this.active.delete(model);
    for (const id of sw.waiters) this.grant(id, model);
    this.drainQueue();
  }

  private grant(id: string, model: string): void {
    if (this.inFlight.get(model)! >= this.limit) {
      return this.ctx.reject(id, `429: concurrency limit ${this.limit} for ${model}`);
    }
    this.inFlight.set(model, this.inFlight.get(model)! + 1);
    this.ttlToken.set(model, (this.ttlToken.get(model) ?? 0) + 1); // busy again: a pending TTL is void
    this.ctx.admit(id, model);
  }

  /** Every non-stopped process, plus the targets of in-flight swaps other than `exclude`. */
  private runningSet(exclude: string): string[] {
    const out = new Set<string>();
    for (const m of this.ctx.trace.models) if (this.ctx.state(m.name) !== 'unloaded') out.add(m.name);
    for (const id of this.active.keys()) if (id !== exclude) out.add(id);
    return [...out].sort();
  }

  /** groupSwapper with swap: true, exclusive: false groups: same-group siblings go. */
  private evictionFor(target: string, running: string[]): string[] {
    if (this.swapper === 'matrix') return this.matrixEviction(target, running);
    const g = this.group.get(target);
    return running.filter((m) => m !== target && this.group.get(m) === g);
  }

  /** The cheapest set holding `target` that fits: keep the running models whose reload costs most. */
  private matrixEviction(target: string, running: string[]): string[] {
    const others = running.filter((m) => m !== target);
    const cap = this.ctx.trace.capacity;
    const mem = (m: string) => this.ctx.model(m).memBytes;
    const cost = (m: string) => this.ctx.model(m).loadMs;
    let best: string[] = [];
    let bestCost = -1;
    const n = Math.min(others.length, 14);
    for (let mask = 0; mask < 1 << n; mask++) {
      const keep = others.filter((_, i) => i < n && mask & (1 << i));
      if (keep.length + 1 > cap.modelsMax) continue;
      if (keep.reduce((a, m) => a + mem(m), mem(target)) > cap.memoryBytes) continue;
      const kept = keep.reduce((a, m) => a + cost(m), 0);
      if (kept > bestCost || (kept === bestCost && keep.length > best.length)) {
        best = keep;
        bestCost = kept;
      }
    }
    return others.filter((m) => !best.includes(m));
  }

  private collides(target: string, evict: string[]): boolean {
    for (const [id, sw] of this.active) {
      if (id === target) continue;
      if (evict.includes(id)) return true;
      if (sw.evict.includes(target)) return true;
      if (evict.some((m) => sw.evict.includes(m))) return true;
    }
    return false;
  }
}
