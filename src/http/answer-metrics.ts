/**
 * Per-model figures of each answered inference request, for /metrics and the dashboard's history: duration,
 * time to first byte, and the tokens the child's answer reports (usage-tap.ts), with the generation speed.
 */
import type { Answer } from './edge.js';
import { Counter, type Registry } from 'prom-client';
import type { History } from './history.js';
import { ModelHistogram } from './model-histogram.js';
import { readUsage, type UsageTap } from './usage-tap.js';

export class AnswerMetrics {
  private readonly promptTokens: Counter<'model'>;
  private readonly completionTokens: Counter<'model'>;
  private readonly tokensPerSecond: ModelHistogram;
  private readonly firstByte: ModelHistogram;
  private readonly duration: ModelHistogram;
  /**
   * Tokens counted since the last scrape, by model: the counters are fed at scrape time (collect), so an answer
   * pays a map lookup, not prom-client's label hashing (as the request counter in metrics.ts).
   */
  private readonly pending = new Map<string, { prompt: number; completion: number }>();

  constructor(
    registry: Registry,
    private readonly history: History,
  ) {
    const registers = [registry];
    const flush = (): void => {
      for (const [model, p] of this.pending) {
        if (p.prompt) this.promptTokens.inc({ model }, p.prompt);
        if (p.completion) this.completionTokens.inc({ model }, p.completion);
        p.prompt = p.completion = 0;
      }
    };
    this.promptTokens = new Counter({
      name: 'router_prompt_tokens_total',
      help: "Prompt tokens of answered requests, by model, as the child's answer counts them (usage, or llama-server timings).",
      labelNames: ['model'],
      registers,
      collect: flush,
    });
    this.completionTokens = new Counter({
      name: 'router_completion_tokens_total',
      help: "Generated tokens of answered requests, by model, as the child's answer counts them (usage, or llama-server timings).",
      labelNames: ['model'],
      registers,
      collect: flush,
    });
    this.tokensPerSecond = new ModelHistogram(
      'router_generation_tokens_per_second',
      "Generation speed of each answered request: llama-server's timings.predicted_per_second, else generated tokens over the time the stream ran.",
      [1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640, 1280],
      registry,
    );
    this.firstByte = new ModelHistogram(
      'router_time_to_first_byte_seconds',
      "From the request's arrival to the first byte of the child's answer (queue and load included; a stream's first token).",
      [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registry,
    );
    this.duration = new ModelHistogram(
      'router_request_duration_seconds',
      'From the arrival of a request for a model\'s child to the end of its answer (or its client leaving).',
      [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registry,
    );
  }

  /** Zero series for a model, so rate() and increase() see its first tokens. */
  zero(model: string): void {
    this.promptTokens.inc({ model }, 0);
    this.completionTokens.inc({ model }, 0);
  }

  /**
   * One request whose model is known, once its answer is over or its client gone (`started`:
   * performance.now() at its arrival; the proxy left the tap in res.locals.usageTap).
   */
  observe(model: string, started: number, res: Answer): void {
    const ended = performance.now();
    const tap = res.locals?.usageTap as UsageTap | undefined;
    const durationS = (ended - started) / 1000;
    this.duration.observe(model, durationS);
    const ttfbS = tap?.firstByteAt === undefined ? undefined : (tap.firstByteAt - started) / 1000;
    if (ttfbS !== undefined) this.firstByte.observe(model, ttfbS);
    // Token figures come at the end of an answer: only a complete, successful one has them.
    const usage = tap && res.writableFinished && res.statusCode < 300 ? readUsage(tap) : undefined;
    if (usage?.promptTokens || usage?.completionTokens) {
      let p = this.pending.get(model);
      if (!p) this.pending.set(model, (p = { prompt: 0, completion: 0 }));
      p.prompt += usage.promptTokens ?? 0;
      p.completion += usage.completionTokens ?? 0;
    }
    let tps = usage?.tokensPerSecond;
    if (tps === undefined && tap?.sse && tap.firstByteAt !== undefined && (usage?.completionTokens ?? 0) > 1) {
      // No timings: the stream's own pace, from its first byte to its end.
      const s = (ended - tap.firstByteAt) / 1000;
      if (s > 0) tps = (usage!.completionTokens! - 1) / s;
    }
    if (tps !== undefined) this.tokensPerSecond.observe(model, tps);
    this.history.request(model, {
      at: Date.now(),
      durationS,
      ttfbS,
      promptTokens: usage?.promptTokens,
      completionTokens: usage?.completionTokens,
    });
  }
}
