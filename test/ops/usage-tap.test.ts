/** The usage tap: token figures from the kept first and last chunks of a child's answer, parsed once. */
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { lastObject, readUsage, tapUsage, type UsageTap } from '../../src/http/usage-tap.js';

/** Feed `chunks` through a tapped stream, as the proxy's child response would deliver them. */
async function tapped(chunks: string[], type = 'text/event-stream'): Promise<UsageTap> {
  const from = new PassThrough() as PassThrough & { headers: Record<string, string> };
  from.headers = { 'content-type': type };
  const locals: Record<string, unknown> = {};
  tapUsage(from as unknown as IncomingMessage, locals);
  for (const c of chunks) from.write(Buffer.from(c));
  from.end();
  await new Promise((r) => from.on('end', r).resume());
  return locals.usageTap as UsageTap;
}

const sse = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;

test('a stream: the usage chunk and [DONE] at the end, many chunks before (only the last few are kept)', async () => {
  const deltas = Array.from({ length: 50 }, (_, i) => sse({ choices: [{ delta: { content: `t${i}` } }], usage: null }));
  const tap = await tapped([...deltas, sse({ choices: [], usage: { prompt_tokens: 11, completion_tokens: 50 } }), 'data: [DONE]\n\n']);
  expect(tap.n).toBe(52);
  expect(tap.tail.filter(Boolean)).toHaveLength(3);
  expect(tap.firstByteAt).toEqual(expect.any(Number));
  expect(readUsage(tap)).toEqual({ promptTokens: 11, completionTokens: 50 });
});

test("llama-server's timings on the last chunk, split across two chunks; cached prompt tokens count", async () => {
  const last = sse({ choices: [{ finish_reason: 'stop', delta: {} }], timings: { cache_n: 4, prompt_n: 3, predicted_n: 9, predicted_per_second: 123.4 } });
  const cut = last.length - 20;
  const tap = await tapped([sse({ choices: [] }), last.slice(0, cut), last.slice(cut), 'data: [DONE]\n\n']);
  expect(readUsage(tap)).toEqual({ promptTokens: 7, completionTokens: 9, tokensPerSecond: 123.4 });
});

test('JSON answers: OpenAI, Anthropic/Responses names, and usage at the start of a long embeddings answer', async () => {
  const openai = await tapped([JSON.stringify({ choices: [{ message: { content: 'say "usage":{"prompt_tokens":999}' } }], usage: { prompt_tokens: 5, completion_tokens: 6 } })], 'application/json');
  expect(readUsage(openai)).toEqual({ promptTokens: 5, completionTokens: 6 });
  const anthropic = await tapped([JSON.stringify({ content: [], usage: { input_tokens: 8, output_tokens: 2 } })], 'application/json');
  expect(readUsage(anthropic)).toEqual({ promptTokens: 8, completionTokens: 2 });
  const big = JSON.stringify({ model: 'm', usage: { prompt_tokens: 12, total_tokens: 12 }, data: [{ embedding: Array(20000).fill(0.125) }] });
  const chunks = big.match(/[\s\S]{1,16384}/g)!;
  expect(chunks.length).toBeGreaterThan(4);
  expect(readUsage(await tapped(chunks, 'application/json'))).toEqual({ promptTokens: 12 });
});

test('nothing to read: no body, no usage, a generated text that only mentions usage, a cut-off object', async () => {
  expect(readUsage(await tapped([]))).toBeUndefined();
  expect(readUsage(await tapped([sse({ choices: [] }), 'data: [DONE]\n\n']))).toBeUndefined();
  expect(lastObject('{"text":"\\"usage\\":{\\"prompt_tokens\\":3}"}', 'usage')).toBeUndefined();
  expect(lastObject('data: {"usage":{"prompt_tokens":3', 'usage')).toBeUndefined();
  expect(lastObject('{"usage":{"a":"}"},"x":1}', 'usage')).toEqual({ a: '}' });
});
