/**
 * The discrete-event loop. It owns the ground truth — which children are alive, what each
 * one is running, where every request is — and drives one Policy through it. The policy
 * only decides; the engine carries its decisions out with simulated delays and checks
 * them against the rules every router must keep:
 *
 * - every request is answered exactly once (completed, failed or rejected);
 * - a request is only handed to a child that is loaded;
 * - never more children alive than `modelsMax`, never more resident memory than the budget.
 *
 * Broken rules are recorded as violations, not thrown, so a report can show all of them.
 *
 * The child is deliberately simple and identical for every policy: `parallel` slots, a FIFO
 * queue in front of them, a fixed service time per request. Stopping a child kills what it
 * holds (those requests fail).
 *
 * Loads share the one device's bandwidth: k loads at once each progress at 1/k of their
 * speed (a load is reading weights onto the device), so starting loads in parallel buys
 * nothing over starting them one after another and delays the first one. A model's first
 * load reads a cold disk (`coldLoadMs`); later ones hit the page cache (`loadMs`).
 *
 * Closed-loop sessions (`trace.sessions`) send each next request `thinkMs` after the previous
 * one was answered, whatever the answer.
 */
import { EventHeap } from './heap.js';
import { requestCount, type ChildState, type Policy, type PolicyContext, type PolicyFactory, type Session, type SimModel, type SimRequest, type Trace } from './types.js';

export type Outcome = 'pending' | 'admitted' | 'completed' | 'failed' | 'rejected';

export interface RequestRecord {
  id: string;
  model: string;
  arrival: number;
  service: number;
  /** Handed to the child: the end of the queue wait. */
  admitAt?: number;
  /** Got a slot in the child. */
  startAt?: number;
  /**
   * Admitted by its model's first load (it arrived before any child of the model was ready): that load reads
   * a cold disk, which no router here avoids (none loads a model before it is asked for). Its cold load time.
   */
  firstLoadMs?: number;
  /** Answered (completed, failed or rejected). */
  endAt?: number;
  outcome: Outcome;
  reason?: string;
}

export interface SimResult {
  policy: string;
  trace: string;
  loads: number;
  records: RequestRecord[];
  violations: string[];
  /** Requests still unanswered when the simulation gave up (horizon reached). */
  stuck: number;
  /** Longest time one model had a waiting request while another model was being served. */
  maxStarvationMs: number;
  starvedModel?: string;
  maxAlive: number;
  maxResidentBytes: number;
  endTime: number;
}

export interface SimOptions {
  /** Give up this long after the last arrival (a policy that never answers must still end). */
  horizonMs?: number;
  /** Stop recording violations after this many (a broken policy could flood memory). */
  maxViolations?: number;
  /** Every event and every effect, one line each: for reading what a policy did. */
  log?: (line: string) => void;
}

type Event =
  | { kind: 'arrival'; req: SimRequest }
  | { kind: 'loaded'; model: string; gen: number; epoch: number }
  | { kind: 'exited'; model: string; gen: number }
  | { kind: 'finish'; id: string; model: string; gen: number }
  | { kind: 'timer'; tag: string }
  | { kind: 'tick' };

interface Child {
  spec: SimModel;
  state: ChildState;
  /** Bumped at every start and stop: events of an older incarnation are ignored. */
  gen: number;
  running: Set<string>;
  queue: string[];
  /** Load work left, in ms at the device's full bandwidth (while loading). */
  loadLeft: number;
  loadedBefore: boolean;
  /** When its first child became ready (undefined: never yet). */
  firstReadyAt?: number;
}

export function simulate(trace: Trace, factory: PolicyFactory, opts: SimOptions = {}): SimResult {
  return new Engine(trace, opts).run(factory);
}

class Engine {
  private readonly heap = new EventHeap<Event>();
  private readonly children = new Map<string, Child>();
  private readonly records = new Map<string, RequestRecord>();
  private readonly violations: string[] = [];
  private policy!: Policy;
  private now = 0;
  private loads = 0;
  private unanswered = 0;
  private maxAlive = 0;
  private maxResident = 0;
  // Starvation bookkeeping: per model, requests waiting and requests in a slot.
  private readonly waiting = new Map<string, number>();
  private readonly serving = new Map<string, number>();
  private totalServing = 0;
  private readonly starvingSince = new Map<string, number>();
  private maxStarvation = 0;
  private starvedModel?: string;
  /** Bumped whenever the set of loading children changes: older `loaded` events are void. */
  private loadEpoch = 0;
  private loadSettledAt = 0;
  /** Closed-loop requests: id -> its session and step. */
  private readonly sessionOf = new Map<string, { session: Session; step: number }>();

  constructor(
    private readonly trace: Trace,
    private readonly opts: SimOptions,
  ) {
    for (const m of trace.models) {
      this.children.set(m.name, { spec: m, state: 'unloaded', gen: 0, running: new Set(), queue: [], loadLeft: 0, loadedBefore: false });
      this.waiting.set(m.name, 0);
      this.serving.set(m.name, 0);
    }
  }

  run(factory: PolicyFactory): SimResult {
    const ctx = this.context();
    this.policy = factory(ctx);
    for (const r of this.trace.requests) {
      if (!this.children.has(r.model)) throw new Error(`trace ${this.trace.name}: unknown model ${r.model}`);
      this.records.set(r.id, { id: r.id, model: r.model, arrival: r.arrival, service: r.service, outcome: 'pending' });
      this.heap.push(r.arrival, { kind: 'arrival', req: r });
    }
    for (const session of this.trace.sessions ?? []) this.sendStep(session, 0, session.start);
    this.unanswered = requestCount(this.trace);
    if (this.policy.tickMs) this.heap.push(this.policy.tickMs, { kind: 'tick' });

    const last = Math.max(this.trace.requests.at(-1)?.arrival ?? 0, ...(this.trace.sessions ?? []).map((x) => x.start));
    const deadline = last + (this.opts.horizonMs ?? 3 * 3600_000);
    while (this.unanswered > 0) {
      const next = this.heap.pop();
      if (!next || next.at > deadline) break;
      this.now = next.at;
      this.dispatch(next.value);
      this.observe();
    }
    // Close open starvation intervals at the end.
    for (const [model, since] of this.starvingSince) this.noteStarvation(model, this.now - since);

    return {
      policy: this.policy.name,
      trace: this.trace.name,
      loads: this.loads,
      records: [...this.records.values()],
      violations: this.violations,
      stuck: this.unanswered,
      maxStarvationMs: this.maxStarvation,
      starvedModel: this.starvedModel,
      maxAlive: this.maxAlive,
      maxResidentBytes: this.maxResident,
      endTime: this.now,
    };
  }

  private dispatch(e: Event): void {
    if (this.opts.log && e.kind !== 'tick') this.log(describe(e));
    switch (e.kind) {
      case 'arrival':
        this.adjust(this.waiting, e.req.model, +1);
        return this.policy.onArrival(e.req);
      case 'loaded': {
        const c = this.child(e.model);
        if (c.gen !== e.gen || c.state !== 'loading' || e.epoch !== this.loadEpoch) return;
        this.settleLoads();
        c.state = 'loaded';
        c.loadedBefore = true;
        c.firstReadyAt ??= this.now;
        this.rescheduleLoads();
        return this.policy.onReady(e.model);
      }
      case 'exited': {
        const c = this.child(e.model);
        if (c.gen !== e.gen || c.state !== 'unloading') return;
        c.state = 'unloaded';
        return this.policy.onExited(e.model);
      }
      case 'finish': {
        const c = this.child(e.model);
        if (c.gen !== e.gen || !c.running.has(e.id)) return; // killed with its child
        c.running.delete(e.id);
        this.adjust(this.serving, e.model, -1);
        const rec = this.records.get(e.id)!;
        rec.outcome = 'completed';
        rec.endAt = this.now;
        this.answered(rec);
        this.fillSlots(c);
        return this.policy.onDone(e.id, e.model);
      }
      case 'timer':
        return this.policy.onTimer?.(e.tag);
      case 'tick':
        this.policy.onTick?.();
        this.heap.push(this.now + this.policy.tickMs!, { kind: 'tick' });
        return;
    }
  }

  private context(): PolicyContext {
    // Arrow functions: policies may destructure or pass these around.
    return {
      trace: this.trace,
      now: () => this.now,
      model: (name) => this.child(name).spec,
      state: (name) => this.child(name).state,
      inFlight: (name) => {
        const c = this.child(name);
        return c.running.size + c.queue.length;
      },
      start: (name) => this.start(name),
      stop: (name) => this.stop(name),
      admit: (id, model) => this.admit(id, model),
      reject: (id, reason) => this.reject(id, reason),
      timer: (at, tag) => this.heap.push(Math.max(at, this.now), { kind: 'timer', tag }),
    };
  }

  private start(name: string): void {
    this.log(`  start ${name}`);
    const c = this.child(name);
    if (c.state !== 'unloaded') return this.violate(`start ${name} while ${c.state}`);
    this.settleLoads();
    c.state = 'loading';
    c.gen++;
    this.loads++;
    c.loadLeft = c.loadedBefore ? c.spec.loadMs : (c.spec.coldLoadMs ?? c.spec.loadMs);
    this.rescheduleLoads();
    let alive = 0;
    let resident = 0;
    for (const o of this.children.values()) {
      if (o.state === 'loading' || o.state === 'loaded') alive++;
      if (o.state !== 'unloaded') resident += o.spec.memBytes;
    }
    this.maxAlive = Math.max(this.maxAlive, alive);
    this.maxResident = Math.max(this.maxResident, resident);
    const cap = this.trace.capacity;
    if (alive > cap.modelsMax) this.violate(`start ${name}: ${alive} children alive, models-max ${cap.modelsMax}`);
    if (resident > cap.memoryBytes) {
      this.violate(`start ${name}: ${gib(resident)} resident, budget ${gib(cap.memoryBytes)}`);
    }
  }

  private stop(name: string): void {
    this.log(`  stop ${name}`);
    const c = this.child(name);
    if (c.state !== 'loaded') return this.violate(`stop ${name} while ${c.state}`);
    // What the child still holds dies with it.
    for (const id of [...c.running, ...c.queue]) {
      const rec = this.records.get(id)!;
      rec.outcome = 'failed';
      rec.reason = `killed: ${name} stopped`;
      rec.endAt = this.now;
      this.answered(rec);
    }
    this.adjust(this.serving, name, -c.running.size);
    c.running.clear();
    c.queue = [];
    c.state = 'unloading';
    c.gen++;
    this.heap.push(this.now + c.spec.unloadMs, { kind: 'exited', model: name, gen: c.gen });
  }

  private admit(id: string, model: string): void {
    this.log(`  admit ${id} -> ${model}`);
    const rec = this.records.get(id);
    if (!rec) return this.violate(`admit unknown request ${id}`);
    if (rec.outcome !== 'pending') return this.violate(`admit ${id}: already ${rec.outcome}`);
    if (rec.model !== model) return this.violate(`admit ${id} for ${rec.model} to ${model}`);
    const c = this.child(model);
    if (c.state !== 'loaded') return this.violate(`admit ${id} to ${model} while ${c.state}`);
    rec.outcome = 'admitted';
    rec.admitAt = this.now;
    // Its first child (gen 1: started once, never stopped) and the request older than its readiness.
    if (c.gen === 1 && rec.arrival < c.firstReadyAt!) rec.firstLoadMs = c.spec.coldLoadMs ?? c.spec.loadMs;
    this.adjust(this.waiting, model, -1);
    c.queue.push(id);
    this.fillSlots(c);
  }

  private reject(id: string, reason: string): void {
    this.log(`  reject ${id}: ${reason}`);
    const rec = this.records.get(id);
    if (!rec) return this.violate(`reject unknown request ${id}`);
    if (rec.outcome !== 'pending') return this.violate(`reject ${id}: already ${rec.outcome}`);
    rec.outcome = 'rejected';
    rec.reason = reason;
    rec.endAt = this.now;
    this.adjust(this.waiting, rec.model, -1);
    this.answered(rec);
  }

  /** A request got its answer: one fewer outstanding, and its session (if any) sends its next step. */
  private answered(rec: RequestRecord): void {
    this.unanswered--;
    const s = this.sessionOf.get(rec.id);
    if (s && s.step + 1 < s.session.steps.length) {
      this.sendStep(s.session, s.step + 1, this.now + s.session.steps[s.step + 1]!.thinkMs);
    }
  }

  private sendStep(session: Session, step: number, at: number): void {
    const st = session.steps[step]!;
    const req: SimRequest = { id: `${session.id}-${step}`, model: st.model, arrival: Math.round(at), service: st.service };
    if (!this.children.has(req.model)) throw new Error(`trace ${this.trace.name}: unknown model ${req.model}`);
    this.sessionOf.set(req.id, { session, step });
    this.records.set(req.id, { id: req.id, model: req.model, arrival: req.arrival, service: req.service, outcome: 'pending' });
    this.heap.push(req.arrival, { kind: 'arrival', req });
  }

  /** Loads so far progressed at 1/k of full speed each (k = loads at once since the last change). */
  private settleLoads(): void {
    const loading = [...this.children.values()].filter((c) => c.state === 'loading');
    const share = loading.length > 0 ? (this.now - this.loadSettledAt) / loading.length : 0;
    for (const c of loading) c.loadLeft = Math.max(0, c.loadLeft - share);
    this.loadSettledAt = this.now;
  }

  /** The set of loads changed: each finishes after its work left at the new share of the bandwidth. */
  private rescheduleLoads(): void {
    const loading = [...this.children.values()].filter((c) => c.state === 'loading');
    this.loadEpoch++;
    for (const c of loading) {
      this.heap.push(this.now + c.loadLeft * loading.length, { kind: 'loaded', model: c.spec.name, gen: c.gen, epoch: this.loadEpoch });
    }
  }

  private fillSlots(c: Child): void {
    while (c.running.size < this.trace.parallel && c.queue.length > 0) {
      const id = c.queue.shift()!;
      const rec = this.records.get(id)!;
      rec.startAt = this.now;
      c.running.add(id);
      this.adjust(this.serving, c.spec.name, +1);
      this.heap.push(this.now + rec.service, { kind: 'finish', id, model: c.spec.name, gen: c.gen });
    }
  }

  /** Starvation: a model with a waiting request while some other model is being served. */
  private observe(): void {
    for (const [model, n] of this.waiting) {
      const starving = n > 0 && this.totalServing - this.serving.get(model)! > 0;
      const since = this.starvingSince.get(model);
      if (starving && since === undefined) this.starvingSince.set(model, this.now);
      if (!starving && since !== undefined) {
        this.noteStarvation(model, this.now - since);
        this.starvingSince.delete(model);
      }
    }
  }

  private noteStarvation(model: string, ms: number): void {
    if (ms > this.maxStarvation) {
      this.maxStarvation = ms;
      this.starvedModel = model;
    }
  }

  private adjust(map: Map<string, number>, model: string, by: number): void {
    map.set(model, map.get(model)! + by);
    if (map === this.serving) this.totalServing += by;
  }

  private child(name: string): Child {
    const c = this.children.get(name);
    if (!c) throw new Error(`simulator: unknown model '${name}'`);
    return c;
  }

  private log(line: string): void {
    this.opts.log?.(`${(this.now / 1000).toFixed(3).padStart(9)} ${line}`);
  }

  private violate(what: string): void {
    if (this.violations.length < (this.opts.maxViolations ?? 100)) {
      this.violations.push(`${this.policy?.name ?? '?'} @${Math.round(this.now)}ms: ${what}`);
    }
  }
}

function describe(e: Event): string {
  switch (e.kind) {
    case 'arrival':
      return `arrival ${e.req.id} for ${e.req.model} (${e.req.service} ms)`;
    case 'loaded':
      return `ready ${e.model}`;
    case 'exited':
      return `exited ${e.model}`;
    case 'finish':
      return `done ${e.id} on ${e.model}`;
    case 'timer':
      return `timer ${e.tag}`;
    case 'tick':
      return 'tick';
  }
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}
