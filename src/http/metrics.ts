/**
 * `GET /metrics`: Prometheus text from a Registry of this app's own (never prom-client's
 * global one, so two routers in one process, as in tests, do not mix).
 *
 * Counters and histograms are fed by router events as they happen; gauges (in flight,
 * queued, state, memory) are read from the router at scrape time, so they can never drift.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Answer } from './edge.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AdmittedEvent, Router, RouterEvent } from '../router/router.js';
import { sendError } from './errors.js';
import { History } from './history.js';
import { AnswerMetrics } from './answer-metrics.js';
import { ModelHistogram } from './model-histogram.js';

const STATES = ['unloaded', 'loading', 'loaded', 'unloading', 'failed'] as const;

/** How often the event loop's lag is sampled (prom-client's default: 10 ms). */
const LAG_RESOLUTION_MS = 100;

/** Label for requests whose model could not be resolved (kept out of per-name cardinality). */
export const UNKNOWN_MODEL = '(unknown)';

export interface MetricsSources {
  /** Where request figures and load/evict events also go (the dashboard's charts); default a new one. */
  history?: History;
  /** Open SSE clients and log followers, so a leak shows on a graph (and in tests). */
  sseClients?: () => number;
  logFollowers?: () => number;
}

export class RouterMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'model' | 'code'>;
  /** Observed per request (ModelHistogram: no label hashing on the request path). */
  private readonly queueWait: ModelHistogram;
  private readonly loadDuration: Histogram<'model'>;
  private readonly loads: Counter<'model'>;
  private readonly evictions: Counter<'model' | 'reason'>;
  private readonly unloads: Counter<'model' | 'reason'>;
  private readonly failures: Counter<'model' | 'reason'>;
  /** Latency and tokens of each answered request (answer-metrics.ts). */
  private readonly answers: AnswerMetrics;
  /** The dashboard's charts: fed with the same figures as the counters and histograms. */
  readonly history: History;
  /** Model -> when its current load began. */
  private readonly loadStarted = new Map<string, number>();
  /** Requests answered since the last scrape, by status and model (countAnswered). */
  private readonly answered = new Map<string, { model: string; code: string; n: number }>();

  constructor(
    private readonly router: Router,
    sources: MetricsSources = {},
  ) {
    const registers = [this.registry];
    this.history = sources.history ?? new History();
    // No prefix: prom-client's names already start with process_ / nodejs_ (a prefix of router_process_ made
    // router_process_process_cpu_seconds_total); these are the names every Node exporter and dashboard uses.
    // The event-loop lag figures come from a libuv timer that fires every eventLoopMonitoringPrecision ms, idle or
    // not: prom-client's 10 ms woke an idle router ~100 times a second (~13 at 100 ms), each wakeup CPU taken from
    // the children on a small machine. A block of the loop still shows: it delays the tick it overlaps.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: LAG_RESOLUTION_MS });
    // Gauges named like counters (promtool: "non-counter metrics should not have _total suffix"); their sums by
    // type are nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      this.registry.removeSingleMetric(name);
    }

    this.requests = new Counter({
      name: 'router_requests_total',
      help: 'Requests for a model\'s child answered (inference routes, /upstream/, ?model=), by model and HTTP status (499: the client left before an answer).',
      labelNames: ['model', 'code'],
      registers,
      collect: () => {
        for (const e of this.answered.values()) {
          if (e.n === 0) continue;
          this.requests.inc({ model: e.model, code: e.code }, e.n);
          e.n = 0;
        }
      },
    });
    this.queueWait = new ModelHistogram(
      'router_queue_wait_seconds',
      'Time a request waited before its model could take it (load and queue included).',
      [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      this.registry,
    );
    this.loadDuration = new Histogram({
      name: 'router_load_duration_seconds',
      help: 'Time from starting a child to its being ready.',
      labelNames: ['model'],
      buckets: [0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600],
      registers,
    });
    this.loads = new Counter({ name: 'router_loads_total', help: 'Children started, by model.', labelNames: ['model'], registers });
    this.evictions = new Counter({
      name: 'router_evictions_total',
      help: 'Models stopped to make room, by reason (lru, memory, group, ttl).',
      labelNames: ['model', 'reason'],
      registers,
    });
    this.unloads = new Counter({
      name: 'router_unloads_total',
      help: 'Models stopped on request or at shutdown, by reason (unload, shutdown).',
      labelNames: ['model', 'reason'],
      registers,
    });
    this.failures = new Counter({
      name: 'router_failures_total',
      help: 'Children that failed to start or exited unexpectedly, by reason (timeout, exited, spawn, crash).',
      labelNames: ['model', 'reason'],
      registers,
    });

    this.answers = new AnswerMetrics(this.registry, this.history);

    const models = () => router.list();
    new Gauge({
      name: 'router_requests_in_flight',
      help: 'Requests admitted and not yet finished, by model.',
      labelNames: ['model'],
      registers,
      collect() {
        for (const m of models()) this.set({ model: m.spec.name }, m.refs);
      },
    });
    new Gauge({
      name: 'router_queued_requests',
      help: 'Requests waiting for their model, by model.',
      labelNames: ['model'],
      registers,
      collect() {
        for (const m of models()) this.set({ model: m.spec.name }, m.queued);
      },
    });
    new Gauge({
      name: 'router_queue_length',
      help: 'Requests waiting for any model.',
      registers,
      collect() {
        this.set(router.queueLength);
      },
    });
    new Gauge({
      name: 'router_model_state',
      help: '1 for the state each model is in, 0 for the others.',
      labelNames: ['model', 'state'],
      registers,
      collect() {
        for (const m of models()) for (const s of STATES) this.set({ model: m.spec.name, state: s }, m.status === s ? 1 : 0);
      },
    });
    new Gauge({
      name: 'router_model_memory_bytes',
      help: 'Memory a model uses (measured) or needs (estimate, probe, override) per device.',
      labelNames: ['model', 'device', 'source'],
      registers,
      collect() {
        this.reset();
        for (const m of models()) {
          for (const [device, bytes] of Object.entries(m.memory?.devices ?? {})) {
            this.set({ model: m.spec.name, device, source: m.memory!.source }, bytes);
          }
        }
      },
    });
    new Gauge({
      name: 'router_device_memory_total_bytes',
      help: 'Total memory of each device at the last reading.',
      labelNames: ['device'],
      registers,
      collect() {
        this.reset();
        for (const d of router.devices().readings) this.set({ device: d.name }, d.total);
      },
    });
    new Gauge({
      name: 'router_device_memory_free_bytes',
      help: 'Free memory of each device at the last reading.',
      labelNames: ['device'],
      registers,
      collect() {
        this.reset();
        for (const d of router.devices().readings) this.set({ device: d.name }, d.free);
      },
    });
    new Gauge({
      name: 'router_sse_clients',
      help: 'Open /models/sse streams.',
      registers,
      collect() {
        this.set(sources.sseClients?.() ?? 0);
      },
    });
    new Gauge({
      name: 'router_log_followers',
      help: 'Open /logs/:model?follow=1 streams.',
      registers,
      collect() {
        this.set(sources.logFollowers?.() ?? 0);
      },
    });

    // Zero series for every model, so rate() and increase() see the first event.
    for (const m of models()) {
      const model = m.spec.name;
      this.loads.inc({ model }, 0);
      this.answers.zero(model);
    }
    router.on('event', this.onEvent);
    router.on('admitted', this.onAdmitted);
  }

  private readonly onEvent = (e: RouterEvent): void => {
    const reason = e.reason ?? 'unknown';
    if (e.type !== 'status_change' && e.type !== 'reload') {
      this.history.event({ type: e.type, model: e.model, at: e.at, ...(e.reason ? { reason: e.reason } : {}) });
    }
    switch (e.type) {
      case 'load':
        this.loads.inc({ model: e.model });
        this.loadStarted.set(e.model, e.at);
        return;
      case 'ready': {
        const started = this.loadStarted.get(e.model);
        this.loadStarted.delete(e.model);
        if (started !== undefined) this.loadDuration.observe({ model: e.model }, (e.at - started) / 1000);
        return;
      }
      case 'eviction':
        this.evictions.inc({ model: e.model, reason });
        return;
      case 'unload':
        this.unloads.inc({ model: e.model, reason });
        return;
      case 'failure':
        this.loadStarted.delete(e.model);
        this.failures.inc({ model: e.model, reason });
        return;
      default:
        return;
    }
  };

  private readonly onAdmitted = (e: AdmittedEvent): void => {
    this.queueWait.observe(e.model, e.waitMs / 1000);
  };

  /**
   * Counts one request for a child, when its answer is closed: the status sent, or 499 (nginx's "client closed
   * request") when the client left before any answer. The counter is fed at scrape time (collect), so the
   * request path pays a map lookup, not prom-client's label hashing.
   */
  countAnswered(model: string | undefined, res: Answer, started: number): void {
    const name = model ?? UNKNOWN_MODEL;
    const code = res.headersSent ? res.statusCode : 499;
    const key = `${code} ${name}`;
    let e = this.answered.get(key);
    if (!e) this.answered.set(key, (e = { model: name, code: String(code), n: 0 }));
    e.n++;
    if (model !== undefined) this.answers.observe(model, started, res);
  }

  /**
   * Middleware for the express routes forwarded to a child (compat-routes.ts: `/upstream/...`, `?model=`): counts
   * each request once, when it is answered or its client leaves, as countAnswered does for the proxied routes. The
   * route handler names the model in `res.locals.model`.
   */
  readonly countRequests = (_req: Request, res: Response, next: NextFunction): void => {
    const started = performance.now();
    let counted = false;
    const count = () => {
      if (counted) return;
      counted = true;
      this.countAnswered(typeof res.locals.model === 'string' ? res.locals.model : undefined, res, started);
    };
    res.once('finish', count);
    res.once('close', count);
    next();
  };

  readonly handler = async (_req: Request, res: Response): Promise<void> => {
    try {
      const text = await this.registry.metrics();
      res.setHeader('Content-Type', this.registry.contentType);
      res.setHeader('Cache-Control', 'no-store');
      res.send(text);
    } catch (err) {
      sendError(res, err);
    }
  };
}
