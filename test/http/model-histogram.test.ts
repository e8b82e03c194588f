/** ModelHistogram renders exactly what prom-client's own Histogram renders for the same observations. */
import { Histogram, Registry } from 'prom-client';
import { ModelHistogram } from '../../src/http/model-histogram.js';

test("the same /metrics text as prom-client's Histogram: buckets (le then model), +Inf, sum, count; odd values skipped", async () => {
  const buckets = [0.01, 0.1, 1, 10];
  const ours = new Registry();
  const theirs = new Registry();
  const h = new ModelHistogram('x_seconds', 'Help with "quotes" and \\ backslash.', buckets, ours);
  const p = new Histogram({ name: 'x_seconds', help: 'Help with "quotes" and \\ backslash.', labelNames: ['model'], buckets, registers: [theirs] });
  const seen: [string, number][] = [
    ['alpha', 0.005],
    ['alpha', 0.01],
    ['alpha', 0.5],
    ['beta "b"\\', 3],
    ['alpha', 11],
    ['beta "b"\\', 0],
  ];
  for (const [model, v] of seen) {
    h.observe(model, v);
    p.observe({ model }, v);
  }
  h.observe('alpha', Number.NaN);
  const text = await ours.metrics();
  expect(text).toBe(await theirs.metrics());
  expect(text).toContain('x_seconds_bucket{le="0.01",model="alpha"} 2');
  expect(text).toContain('x_seconds_count{model="alpha"} 4');
  expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
  h.reset();
  p.reset();
  expect(await ours.metrics()).toBe(await theirs.metrics());
});
