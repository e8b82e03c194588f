/** One table row per (trace, policy): what the simulation's request records add up to. */
import type { SimResult } from './engine.js';
import type { Trace } from './types.js';

export interface Row {
  trace: string;
  policy: string;
  requests: number;
  loads: number;
  /** Queue wait: arrival -> admitted at a child, over admitted requests, ms. */
  waitP50: number;
  waitP99: number;
  waitMax: number;
  /**
   * The p99 wait is exactly a first (cold) load: some request at that wait arrived before its model was ever
   * loaded and waited for that load and nothing else. No router here loads a model before it is asked for.
   */
  p99IsFirstLoad: boolean;
  /**
   * The lowest p99 wait any router could have on this run (`p99Floor`): undefined when a request was rejected
   * (the bound counts every request as admitted).
   */
  p99Floor?: number;
  /** Arrival -> a slot in the child (includes waiting in the child's own queue), p99, ms. */
  slotP99: number;
  /** Longest time a model had a waiting request while another model was being served, ms. */
  starvationMs: number;
  starvedModel?: string;
  completed: number;
  failed: number;
  rejected: number;
  /** Never answered before the horizon. */
  stuck: number;
  /** Requests for the trace's interactive models that waited longer than its latency target. */
  overTarget?: number;
  violations: string[];
}

export function summarize(r: SimResult, target?: { models: string[]; ms: number }, trace?: Trace): Row {
  const waits: number[] = [];
  const slots: number[] = [];
  let completed = 0;
  let failed = 0;
  let rejected = 0;
  for (const rec of r.records) {
    if (rec.admitAt !== undefined) waits.push(rec.admitAt - rec.arrival);
    if (rec.startAt !== undefined) slots.push(rec.startAt - rec.arrival);
    if (rec.outcome === 'completed') completed++;
    if (rec.outcome === 'failed') failed++;
    if (rec.outcome === 'rejected') rejected++;
  }
  const waitP99 = percentile(waits, 99);
  const p99IsFirstLoad = r.records.some(
    (x) => x.firstLoadMs !== undefined && x.admitAt !== undefined && x.admitAt - x.arrival === waitP99 && waitP99 === x.firstLoadMs,
  );
  return {
    trace: r.trace,
    policy: r.policy,
    requests: r.records.length,
    loads: r.loads,
    waitP50: percentile(waits, 50),
    waitP99,
    p99IsFirstLoad,
    ...(trace && rejected === 0 ? { p99Floor: p99Floor(trace, waits.length) } : {}),
    waitMax: waits.length ? Math.max(...waits) : 0,
    slotP99: percentile(slots, 99),
    starvationMs: r.maxStarvationMs,
    starvedModel: r.starvedModel,
    completed,
    failed,
    rejected,
    stuck: r.stuck,
    violations: r.violations,
    ...(target
      ? { overTarget: r.records.filter((x) => target.models.includes(x.model) && (x.admitAt ?? Infinity) - x.arrival > target.ms).length }
      : {}),
  };
}

/**
 * A p99 wait no router can go below, whatever it does: of `admitted` waits, each model the trace asks for has
 * one that is at least its first load from the cold disk (no router loads a model before it is asked for, and
 * the first request for it waits for that load: longer if the device is busy or room must be made first); every
 * other wait is at least 0. The p99 of those lower bounds is a lower bound of the p99 (each order statistic
 * is). A router whose p99 equals it cannot be beaten on p99 on that run, only tied.
 */
export function p99Floor(trace: Trace, admitted: number): number {
  const asked = new Set([...trace.requests.map((q) => q.model), ...(trace.sessions ?? []).flatMap((x) => x.steps.map((st) => st.model))]);
  const firsts = trace.models.filter((m) => asked.has(m.name)).map((m) => m.coldLoadMs ?? m.loadMs);
  return percentile([...firsts, ...Array<number>(Math.max(0, admitted - firsts.length)).fill(0)], 99);
}

/** Nearest-rank percentile; 0 for no samples. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}
