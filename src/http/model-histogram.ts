/**
 * A Prometheus histogram with one label, `model`, observed on every answered request. prom-client's Histogram
 * builds a label object, validates it and hashes it (sorted keys, joined strings) on each observe: the
 * proxy-overhead profile put that at ~8 us of samples per request, a share of what the router spends beyond a
 * bare relay. Here the series of a model is one Map lookup away and an observation is a bucket search and three
 * additions. The text is prom-client's own: the registry formats what get() returns as it does for its
 * histograms (the same `_bucket` / `_sum` / `_count` lines, `le` then `model`).
 */
import type { Metric, Registry } from 'prom-client';

/** One line of the text, as prom-client's histograms give them to the registry. */
interface Value {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  /** prom-client's bucket lines carry an exemplar slot (none here: exemplars are off, as they were). */
  exemplar?: null;
}

interface Series {
  /** Observations per bucket (not cumulative); the +Inf bucket is `count`. */
  counts: number[];
  sum: number;
  count: number;
}

export class ModelHistogram {
  readonly type = 'histogram';
  /** How prom-client's cluster aggregation combines it, as for its own histograms. */
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  observe(model: string, value: number): void {
    // prom-client throws on a value that is not a finite number; a metric is not worth failing a request for.
    if (!Number.isFinite(value)) return;
    let s = this.series.get(model);
    if (!s) this.series.set(model, (s = { counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 }));
    const b = this.buckets;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    if (i < b.length) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  /** What the registry renders, in prom-client's shape (the model as a shared label, formatted once). */
  getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; values: Value[]; aggregator: string }> {
    const values: Value[] = [];
    const bucket = `${this.name}_bucket`;
    for (const [model, s] of this.series) {
      const shared = { model };
      let acc = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        acc += s.counts[i]!;
        values.push({ labels: { le: this.buckets[i]! }, sharedLabels: shared, value: acc, metricName: bucket, exemplar: null });
      }
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: shared, value: s.count, metricName: bucket, exemplar: null },
        { labels: {}, sharedLabels: shared, value: s.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: shared, value: s.count, metricName: `${this.name}_count` },
      );
    }
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', values, aggregator: this.aggregator });
  }

  /** getMetricsAsJSON's form: as prom-client's get(), the shared label merged into each value's labels. */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; values: Omit<Value, 'sharedLabels'>[]; aggregator: string }> {
    const m = await this.getForPromString();
    return { ...m, values: m.values.map(({ sharedLabels, labels, ...v }) => ({ ...v, labels: { ...labels, ...sharedLabels } })) };
  }

  reset(): void {
    this.series.clear();
  }
}
