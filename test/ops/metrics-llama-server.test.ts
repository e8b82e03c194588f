/**
 * The token series and the log ring with real llama-server children (`LLAMA_SERVER=/path/to/llama-server`):
 * its answers' `usage` and `timings` are what /metrics counts, and its request log lines for the router's own
 * health polls stay out of the ring. Skipped, saying so, when LLAMA_SERVER is not set.
 */
import OpenAI from 'openai';
import { json, startRouter, waitFor, type RunningRouter } from '../helpers/router.js';
import { modelsDir } from '../router/fixtures.js';
import { scrape } from './helpers.js';

const LLAMA_SERVER = process.env.LLAMA_SERVER;
if (!LLAMA_SERVER) console.warn('test/ops/metrics-llama-server.test.ts skipped: set LLAMA_SERVER to a llama-server binary to run it');
const describeIf = LLAMA_SERVER ? describe : describe.skip;

describeIf('tokens and logs with llama-server children', () => {
  let r: RunningRouter;

  beforeAll(async () => {
    const dir = await modelsDir(['lcpp']);
    r = await startRouter(['--models-dir', dir, '--server-bin', LLAMA_SERVER!]);
  });
  afterAll(async () => {
    if (r) expect(await r.stop()).toBe(0);
  });

  test("a stream without include_usage is counted from llama-server's timings; a JSON answer from its usage", async () => {
    const client = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'none', maxRetries: 0 });
    const messages = [{ role: 'user' as const, content: 'Hi' }];
    const plain = await client.chat.completions.create({ model: 'lcpp', messages, max_tokens: 5 });
    const stream = await client.chat.completions.create({ model: 'lcpp', messages, max_tokens: 6, stream: true } as OpenAI.ChatCompletionCreateParamsStreaming);
    let timings: { prompt_n: number; cache_n?: number; predicted_n: number } | undefined;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      timings = (chunk as unknown as { timings?: typeof timings }).timings ?? timings;
      usage = chunk.usage ?? usage;
    }
    expect(timings ?? usage).toBeDefined();
    const streamed = usage?.completion_tokens ?? timings!.predicted_n;
    const m = await scrape(r.url);
    expect(m('router_completion_tokens_total', { model: 'lcpp' })).toBe(plain.usage!.completion_tokens + streamed);
    expect(m('router_prompt_tokens_total', { model: 'lcpp' })).toBeGreaterThanOrEqual(plain.usage!.prompt_tokens);
    expect(m('router_time_to_first_byte_seconds_count', { model: 'lcpp' })).toBe(2);

    // A ready child's lines are read every 100 ms, and llama-server's own log thread may write its start-up lines
    // after /health turns 200: wait for the ring to hold more than those few.
    const lines = await waitFor('more than 3 lines in the ring', async () => {
      const { lines } = (await json(await fetch(`${r.url}/logs/lcpp?format=json`))) as { lines: string[] };
      return lines.length > 3 ? lines : undefined;
    });
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z /);
    expect(lines.join('\n')).not.toMatch(/GET \/health/);
  });
});
