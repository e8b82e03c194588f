/**
 * A small in-memory history for the dashboard's charts: per model, requests, tokens and latency summed into
 * fixed time buckets over the last minutes, and the load/evict events on the same time axis. No timers and
 * no external service: old buckets are dropped when something is written or read, so memory is bounded by
 * (models x keepMs / bucketMs) buckets plus MAX_EVENTS events.
 *
 * `GET /history` answers `snapshot()` as JSON (behind the API key, like /metrics).
 */
import type { Request, Response } from 'express';

/** Events older than keepMs are dropped too; this caps a burst of reloads. */
const MAX_EVENTS = 500;

export interface HistoryOptions {
  bucketMs?: number;
  keepMs?: number;
}

export interface RequestSample {
  /** When the request finished (ms since the epoch). */
  at: number;
  durationS: number;
  /** Undefined when no byte came from the child. */
  ttfbS?: number;
  promptTokens?: number;
  completionTokens?: number;
}

export interface HistoryEvent {
  type: string;
  model: string;
  at: number;
  reason?: string;
}

interface Bucket {
  /** Start of the bucket (ms since the epoch). */
  t: number;
  requests: number;
  durationS: number;
  ttfbN: number;
  ttfbS: number;
  promptTokens: number;
  completionTokens: number;
}

export interface HistoryPoint {
  t: number;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  /** Completion tokens per second over the bucket: the model's throughput. */
  tokens_per_second: number;
  /** Mean request duration and time to first byte of the requests that finished in the bucket (ms). */
  latency_ms: number | null;
  ttfb_ms: number | null;
}

export interface HistorySnapshot {
  now: number;
  bucket_ms: number;
  since: number;
  models: Record<string, HistoryPoint[]>;
  events: HistoryEvent[];
}

export class History {
  readonly bucketMs: number;
  readonly keepMs: number;
  private readonly buckets = new Map<string, Bucket[]>();
  private events: HistoryEvent[] = [];

  constructor(opts: HistoryOptions = {}) {
    this.bucketMs = opts.bucketMs ?? 10_000;
    this.keepMs = opts.keepMs ?? 15 * 60_000;
  }

  request(model: string, s: RequestSample): void {
    const t = s.at - (s.at % this.bucketMs);
    let list = this.buckets.get(model);
    if (!list) this.buckets.set(model, (list = []));
    let b = list.at(-1);
    if (!b || b.t !== t) {
      b = { t, requests: 0, durationS: 0, ttfbN: 0, ttfbS: 0, promptTokens: 0, completionTokens: 0 };
      list.push(b);
      this.prune(s.at);
    }
    b.requests++;
    b.durationS += s.durationS;
    if (s.ttfbS !== undefined) {
      b.ttfbN++;
      b.ttfbS += s.ttfbS;
    }
    b.promptTokens += s.promptTokens ?? 0;
    b.completionTokens += s.completionTokens ?? 0;
  }

  event(e: HistoryEvent): void {
    this.events.push(e);
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
  }

  snapshot(now = Date.now()): HistorySnapshot {
    this.prune(now);
    const models: Record<string, HistoryPoint[]> = {};
    const secs = this.bucketMs / 1000;
    for (const [model, list] of this.buckets) {
      models[model] = list.map((b) => ({
        t: b.t,
        requests: b.requests,
        prompt_tokens: b.promptTokens,
        completion_tokens: b.completionTokens,
        tokens_per_second: round(b.completionTokens / secs),
        latency_ms: b.requests ? Math.round((1000 * b.durationS) / b.requests) : null,
        ttfb_ms: b.ttfbN ? Math.round((1000 * b.ttfbS) / b.ttfbN) : null,
      }));
    }
    return { now, bucket_ms: this.bucketMs, since: now - this.keepMs, models, events: [...this.events] };
  }

  readonly handler = (_req: Request, res: Response): void => {
    res.setHeader('Cache-Control', 'no-store');
    res.json(this.snapshot());
  };

  private prune(now: number): void {
    const oldest = now - this.keepMs;
    for (const [model, list] of this.buckets) {
      let drop = 0;
      while (drop < list.length && list[drop]!.t + this.bucketMs <= oldest) drop++;
      if (drop) list.splice(0, drop);
      if (!list.length) this.buckets.delete(model);
    }
    let drop = 0;
    while (drop < this.events.length && this.events[drop]!.at <= oldest) drop++;
    if (drop) this.events.splice(0, drop);
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
