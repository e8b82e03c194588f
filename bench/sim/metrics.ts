/** One table row per (trace, policy): what the simulation's request records add up to. */
import type { SimResult } from './engine.js';

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

export function summarize(r: SimResult, target?: { models: string[]; ms: number }): Row {
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

/** Nearest-rank percentile; 0 for no samples. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}
