/**
 * The simulator's vocabulary: a trace (models, capacity, requests), the child state the
 * engine owns, and the Policy interface every scheduler under test is driven through.
 */

export const GiB = 2 ** 30;

/** One model a child server can run. */
export interface SimModel {
  name: string;
  /**
   * Spawn until ready with the device to itself and the file in the page cache: grows with its size. Loads
   * running at once on the one device share its bandwidth (engine.ts), so two take twice as long each.
   */
  loadMs: number;
  /** The first load reads the file from a cold disk: this long instead of `loadMs` (undefined: as warm). */
  coldLoadMs?: number;
  /** Stop until the process is gone and its memory is free. */
  unloadMs: number;
  /** What it holds on the one device while resident. */
  memBytes: number;
}

export interface SimRequest {
  id: string;
  model: string;
  /** Arrival at the router, ms since the trace starts. */
  arrival: number;
  /** Time in a child slot, ms. */
  service: number;
}

export interface Capacity {
  /** At most this many children alive (loading or loaded) at once. */
  modelsMax: number;
  /** The one device's budget: resident children (loading, loaded or unloading) must fit in it. */
  memoryBytes: number;
}

export interface Trace {
  name: string;
  seed: number;
  models: SimModel[];
  capacity: Capacity;
  /** Requests a child runs at once; later ones wait in the child (FIFO). Same for every policy. */
  parallel: number;
  /** Open-loop requests, sorted by arrival. */
  requests: SimRequest[];
  /**
   * Closed-loop clients: each sends its next request `thinkMs` after the previous one was answered (a
   * conversation, an agent calling its next model, a batch job), so a slow answer delays what follows.
   */
  sessions?: Session[];
  /** Idle models unload after this long in the routers that have a TTL (ours, llama-swap, Ollama's keep-alive). */
  ttlMs?: number;
  /** Interactive requests (model names) and the wait they should stay under: reported as "over target". */
  latencyTarget?: { models: string[]; ms: number };
}

export interface SessionStep {
  model: string;
  service: number;
  /** Pause after the previous answer before this request is sent. */
  thinkMs: number;
}

export interface Session {
  id: string;
  /** When the first step is sent. */
  start: number;
  steps: SessionStep[];
}

/** Every request a trace will send (open-loop and closed-loop), for counting. */
export function requestCount(trace: Trace): number {
  return trace.requests.length + (trace.sessions ?? []).reduce((n, s) => n + s.steps.length, 0);
}

/** Ground truth about one child, kept by the engine. */
export type ChildState = 'unloaded' | 'loading' | 'loaded' | 'unloading';

/** What a policy may ask of the world. Every effect lands through the event queue, never re-entrantly. */
export interface PolicyContext {
  readonly trace: Trace;
  now(): number;
  model(name: string): SimModel;
  state(model: string): ChildState;
  /** Requests admitted to this model's child and not finished (running or queued in the child). */
  inFlight(model: string): number;
  /** Spawn the child; `onReady` follows after its load time. */
  start(model: string): void;
  /** Stop the child; requests still in it are killed (failed). `onExited` follows after its unload time. */
  stop(model: string): void;
  /** Hand a request to the loaded child: the end of its queue wait. */
  admit(id: string, model: string): void;
  /** Answer a request with an error (429/503...). */
  reject(id: string, reason: string): void;
  /** Call `onTimer(tag)` at `at` (ms). */
  timer(at: number, tag: string): void;
}

export interface Policy {
  readonly name: string;
  /** Ask the engine for `onTick` every this many ms while work is outstanding. */
  readonly tickMs?: number;
  onArrival(req: SimRequest): void;
  onReady(model: string): void;
  onExited(model: string): void;
  /** A request finished at its child (not called for killed requests). */
  onDone(id: string, model: string): void;
  onTimer?(tag: string): void;
  onTick?(): void;
}

export type PolicyFactory = (ctx: PolicyContext) => Policy;

/**
 * The largest count of models that always fits the memory budget whichever models are
 * chosen: what a user of a count-only router (`--models-max`, swap groups) must configure
 * so that memory never runs out.
 */
export function safeCount(trace: Trace): number {
  const sizes = trace.models.map((m) => m.memBytes).sort((a, b) => b - a);
  let used = 0;
  let k = 0;
  for (const s of sizes) {
    if (used + s > trace.capacity.memoryBytes) break;
    used += s;
    k++;
  }
  return Math.max(1, Math.min(k, trace.capacity.modelsMax));
}
