/**
 * llama-server's router mode (llama.cpp tools/server/server-models.cpp, `server_lru_sched`
 * and `server_models::ensure_model_ready` / `proxy_request`), as it stands after:
 *  - ggml-org/llama.cpp#26572 "server: (router) add LRU scheduler" (a queue; only idle
 *    models are evicted — before it, `unload_lru()` stopped the LRU model even mid-request,
 *    issue #21678);
 *  - #28539 "server: fix LRU hang on multiple requests same model" (issue #28443: a model
 *    could stay queued forever): per-entry `slot_pending` flags replaced by one `tick()`
 *    run on every transition (idle, unload, load done, waiter leaving);
 *  - #29217 "server: fix router eviction races with the existing queue": every load goes
 *    through the queue, and a request for a stopping model joins the queue.
 * (Read in a fork's server-models.cpp that carries these commits; the PRs describe the same.)
 *
 * What is modelled:
 * - A request for a loaded model is proxied at once (`is_ready()`), however many requests
 *   for other models are queued; `last_used` is stamped on each proxy.
 * - Otherwise it joins the FIFO queue; requests for one model share one entry. The head
 *   entry claims a slot (`try_claim`) when its model is unloaded and fewer than
 *   `--models-max` children run (loading, loaded and stopping ones count). A claimed entry
 *   stays at the head until its model is up and its waiters leave, so loads go one at a time.
 * - `tick()`: while entries needing a slot outnumber the slots free or being freed, stop
 *   `pick_victim`: the least recently used loaded model that is idle (no request in flight),
 *   not already stopping and not wanted by a queued entry. A busy model is never stopped:
 *   a queued model waits until some loaded model has no request in flight.
 *
 * Count only: the router has no memory rule, so it runs with the safe count for the
 * trace's budget (`safeCount`).
 */
import { safeCount, type Policy, type PolicyContext, type PolicyFactory, type SimRequest } from '../types.js';

export function llamaServer(): PolicyFactory {
  return (ctx) => new LlamaServer(ctx);
}

interface Entry {
  model: string;
  waiters: string[];
  loading: boolean;
}

class LlamaServer implements Policy {
  readonly name = 'llama-server';
  private readonly modelsMax: number;
  private readonly lastUsed = new Map<string, number>();
  private readonly stopping = new Set<string>();
  private queue: Entry[] = [];

  constructor(private readonly ctx: PolicyContext) {
    this.modelsMax = safeCount(ctx.trace);
    for (const m of ctx.trace.models) this.lastUsed.set(m.name, 0);
  }

  onArrival(req: SimRequest): void {
    if (this.ctx.state(req.model) === 'loaded' && !this.stopping.has(req.model)) return this.proxy(req.id, req.model);
    const entry = this.queue.find((e) => e.model === req.model);
    if (entry) entry.waiters.push(req.id);
    else this.queue.push({ model: req.model, waiters: [req.id], loading: false });
    this.advance();
  }

  onReady(model: string): void {
    // The waiters break out of their wait loop, proxy, and leave the queue.
    const i = this.queue.findIndex((e) => e.model === model);
    if (i >= 0) {
      const [entry] = this.queue.splice(i, 1);
      for (const id of entry!.waiters) this.proxy(id, model);
    }
    this.advance();
  }

  onExited(model: string): void {
    this.stopping.delete(model);
    this.advance();
  }

  onDone(): void {
    this.advance();
  }

  /** Every transition: tick() to evict what the queue needs, then the head tries its claim. */
  private advance(): void {
    this.tick();
    const head = this.queue[0];
    if (head && !head.loading && this.ctx.state(head.model) === 'unloaded' && this.running() < this.modelsMax) {
      head.loading = true;
      this.lastUsed.set(head.model, this.ctx.now());
      this.ctx.start(head.model);
    }
  }

  private tick(): void {
    if (this.queue.length === 0) return;
    const needed = this.queue.filter((e) => !e.loading).length;
    let free = this.modelsMax - this.running() + this.stopping.size;
    while (free < needed) {
      const victim = this.pickVictim();
      if (!victim) return; // all remaining models are busy: wait for a request to end
      this.stopping.add(victim);
      this.ctx.stop(victim);
      free++;
    }
  }

  private pickVictim(): string | undefined {
    let victim: string | undefined;
    for (const m of this.ctx.trace.models) {
      const name = m.name;
      if (this.ctx.state(name) !== 'loaded' || this.ctx.inFlight(name) !== 0) continue;
      if (this.stopping.has(name) || this.queue.some((e) => e.model === name)) continue;
      if (victim === undefined || this.lastUsed.get(name)! < this.lastUsed.get(victim)!) victim = name;
    }
    return victim;
  }

  private proxy(id: string, model: string): void {
    this.lastUsed.set(model, this.ctx.now());
    this.ctx.admit(id, model);
  }

  /** `count_running`: loading, loaded and stopping children all hold a slot. */
  private running(): number {
    let n = 0;
    for (const m of this.ctx.trace.models) if (this.ctx.state(m.name) !== 'unloaded') n++;
    return n;
  }
}
