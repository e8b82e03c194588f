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
 *
 * The trace's TTL: llama-server runs with `--sleep-idle-seconds` = TTL, the flag the router
 * passes to every child it spawns (seen on the real binary: /models lists it in each child's
 * `args`). What sleeping does, from tools/server/server-queue.cpp `start_loop` (`should_sleep`),
 * server-context.cpp `handle_sleeping_state` (`destroy()` / `load_model`), server-models.h
 * `is_running` (ggml-org commit 00dd081) and server-models.cpp `ensure_model_ready` (read in a
 * fork's copy), each checked on the real binary b10587 (docs/BENCHMARKS.md, section 2):
 * - A child with no task for TTL ms sleeps: `time_last_task` is stamped on every post and
 *   after every `update_slots`, so the clock starts when its last request ends. Sleeping calls
 *   `destroy()` (model and context freed: a 200 MB child's RSS fell from 270 MB to 17 MB);
 *   the process stays and /models reports it `sleeping`.
 * - A sleeping child still holds its slot: `is_running()` is true for SLEEPING, so it counts
 *   toward `--models-max`; it is idle, so the LRU eviction may stop it (the router logged
 *   "evicting idle LRU name=big" for a sleeping big, models-max 1). Its process holds no model,
 *   so the stop frees the slot at once here.
 * - A request for a sleeping model is proxied at once (`ensure_model_ready` returns false for
 *   SLEEPING: "new request will wake it up"); the child then runs `load_model` again before
 *   it answers: a reload, counted as a load, its cost the model's load time.
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
  /** Children asleep: process alive (a slot held), model freed (the engine's child unloaded). */
  private readonly sleeping = new Set<string>();
  /** Children woken by a request, reloading: the requests proxied to them, answered on ready. */
  private readonly waking = new Map<string, string[]>();
  /** Per model, the current sleep timer; a proxy or a newer timer voids the older ones. */
  private readonly sleepToken = new Map<string, number>();
  private queue: Entry[] = [];

  constructor(private readonly ctx: PolicyContext) {
    this.modelsMax = safeCount(ctx.trace);
    for (const m of ctx.trace.models) this.lastUsed.set(m.name, 0);
  }

  onArrival(req: SimRequest): void {
    if (this.ctx.state(req.model) === 'loaded' && !this.stopping.has(req.model)) return this.proxy(req.id, req.model);
    if (this.sleeping.has(req.model) || this.waking.has(req.model)) return this.wake(req.id, req.model);
    const entry = this.queue.find((e) => e.model === req.model);
    if (entry) entry.waiters.push(req.id);
    else this.queue.push({ model: req.model, waiters: [req.id], loading: false });
    this.advance();
  }

  onReady(model: string): void {
    const woken = this.waking.get(model);
    if (woken) {
      // Awake again: the requests already proxied to it run.
      this.waking.delete(model);
      for (const id of woken) this.admit(id, model);
    }
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
    // Woken while its model was still being freed: the reload starts now.
    if (this.waking.has(model) && this.ctx.state(model) === 'unloaded') this.ctx.start(model);
    this.advance();
  }

  onDone(_id: string, model: string): void {
    if (this.ctx.inFlight(model) === 0) this.armSleep(model);
    this.advance();
  }

  onTimer(tag: string): void {
    const [kind, model, token] = tag.split(':');
    if (kind !== 'sleep' || this.sleepToken.get(model!) !== Number(token)) return;
    if (this.ctx.state(model!) !== 'loaded' || this.ctx.inFlight(model!) !== 0 || this.stopping.has(model!)) return;
    // `handle_sleeping_state(true)`: destroy() frees the model; the process keeps its slot.
    this.sleeping.add(model!);
    this.ctx.stop(model!);
  }

  /** `--sleep-idle-seconds` = the trace's TTL: sleep once idle that long (no TTL: never). */
  private armSleep(model: string): void {
    const ttl = this.ctx.trace.ttlMs;
    if (ttl === undefined) return;
    const token = (this.sleepToken.get(model) ?? 0) + 1;
    this.sleepToken.set(model, token);
    this.ctx.timer(this.ctx.now() + ttl, `sleep:${model}:${token}`);
  }

  /** A request for a sleeping (or waking) child: proxied at once; the child reloads its model first. */
  private wake(id: string, model: string): void {
    this.lastUsed.set(model, this.ctx.now());
    const woken = this.waking.get(model);
    if (woken) return void woken.push(id);
    this.sleeping.delete(model);
    this.waking.set(model, [id]);
    if (this.ctx.state(model) === 'unloaded') this.ctx.start(model); // else: onExited starts it
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
      if (this.sleeping.has(victim)) {
        // A sleeping child holds no model: stopping it frees its slot at once (or when the
        // engine's free of its model, if still running, ends).
        this.sleeping.delete(victim);
        if (this.ctx.state(victim) === 'unloading') this.stopping.add(victim);
      } else {
        this.stopping.add(victim);
        this.ctx.stop(victim);
      }
      free++;
    }
  }

  private pickVictim(): string | undefined {
    let victim: string | undefined;
    for (const m of this.ctx.trace.models) {
      const name = m.name;
      const idle = this.sleeping.has(name) || (this.ctx.state(name) === 'loaded' && this.ctx.inFlight(name) === 0);
      if (!idle || this.stopping.has(name) || this.queue.some((e) => e.model === name)) continue;
      if (victim === undefined || this.lastUsed.get(name)! < this.lastUsed.get(victim)!) victim = name;
    }
    return victim;
  }

  private proxy(id: string, model: string): void {
    this.lastUsed.set(model, this.ctx.now());
    this.admit(id, model);
  }

  private admit(id: string, model: string): void {
    this.sleepToken.set(model, (this.sleepToken.get(model) ?? 0) + 1); // busy: a pending sleep is void
    this.ctx.admit(id, model);
  }

  /** `count_running`: loading, loaded, sleeping and stopping children all hold a slot. */
  private running(): number {
    let n = 0;
    for (const m of this.ctx.trace.models) if (this.ctx.state(m.name) !== 'unloaded' || this.sleeping.has(m.name)) n++;
    return n;
  }
}
