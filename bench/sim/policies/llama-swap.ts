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
 * it evicts the running sibling. A count-only router, so it is configured with `safeCount`
 * groups, models dealt round-robin in popularity order (trace model order), each group
 * `swap: true, exclusive: false`: at most that many models at once, and the hottest models
 * never share a group. With one group this is llama-swap's default (one model at a time).
 */
import { safeCount, type Policy, type PolicyContext, type PolicyFactory, type SimRequest } from '../types.js';

export interface LlamaSwapOptions {
  /** Per-model in-flight cap before 429; llama-swap's default is 10. */
  concurrencyLimit?: number;
}

export function llamaSwap(opts: LlamaSwapOptions = {}): PolicyFactory {
  return (ctx) => new LlamaSwap(ctx, opts.concurrencyLimit ?? 10);
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
  readonly name = 'llama-swap';
  private readonly group = new Map<string, number>();
  private readonly active = new Map<string, ActiveSwap>();
  private readonly inFlight = new Map<string, number>();
  private queued: Queued[] = [];

  constructor(
    private readonly ctx: PolicyContext,
    private readonly limit: number,
  ) {
    const groups = safeCount(ctx.trace);
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
    if (n <= 0) this.drainQueue();
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
    const g = this.group.get(target);
    return running.filter((m) => m !== target && this.group.get(m) === g);
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
