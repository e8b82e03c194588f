/**
 * The usage tap's own cost, in process: SSE chunks piped from a PassThrough into a no-op sink, with and
 * without the tap, in alternating rounds; reported as the ratio of medians (same run, same machine). A second
 * pair adds a no-op 'data' listener to both sides, as the proxy's idle watch does (--upstream-timeout, on by
 * default): then the tap's listener is the third, not the second. Also the one parse per answer.
 *
 *   npm run build && node dist/bench/usage-tap.js
 */
import type { IncomingMessage } from 'node:http';
import { PassThrough, Writable } from 'node:stream';
import { readUsage, tapUsage, type UsageTap } from '../src/http/usage-tap.js';
import { median } from './stats.js';

const CHUNKS = 200_000;
const ROUNDS = 9;
const chunk = Buffer.from(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'tok' } }] })}\n\n`);

async function run(tap: boolean, idleWatch: boolean): Promise<number> {
  const src = Object.assign(new PassThrough(), { headers: { 'content-type': 'text/event-stream' } });
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const locals: Record<string, unknown> = {};
  if (idleWatch) src.on('data', () => {});
  if (tap) tapUsage(src as unknown as IncomingMessage, locals);
  src.pipe(sink);
  const t = performance.now();
  for (let i = 0; i < CHUNKS; i++) if (!src.write(chunk)) await new Promise((r) => src.once('drain', r));
  src.end(Buffer.from(`data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":${CHUNKS}}}\n\ndata: [DONE]\n\n`));
  await new Promise((r) => sink.on('finish', r));
  const ms = performance.now() - t;
  if (tap && readUsage(locals.usageTap as UsageTap)?.completionTokens !== CHUNKS) throw new Error('the tap read the wrong usage');
  return ms;
}

for (const idleWatch of [false, true]) {
  const bare: number[] = [];
  const tapped: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    bare.push(await run(false, idleWatch));
    tapped.push(await run(true, idleWatch));
  }
  const [a, b] = [median(bare), median(tapped)];
  console.log(
    `${idleWatch ? 'with idle watch' : 'pipe alone     '}: ${a.toFixed(1)} ms bare, ${b.toFixed(1)} ms tapped per ${CHUNKS} chunks; ` +
      `ratio ${(b / a).toFixed(3)} (${(((b - a) * 1e6) / CHUNKS).toFixed(0)} ns per chunk)`,
  );
}

const locals: Record<string, unknown> = {};
const src = Object.assign(new PassThrough(), { headers: { 'content-type': 'text/event-stream' } });
tapUsage(src as unknown as IncomingMessage, locals);
for (let i = 0; i < 100; i++) src.write(chunk);
src.end('data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":100},"timings":{"prompt_n":3,"predicted_n":100,"predicted_per_second":50.5}}\n\ndata: [DONE]\n\n');
src.resume();
await new Promise((r) => src.on('end', r));
const N = 20_000;
const t = performance.now();
for (let i = 0; i < N; i++) readUsage(locals.usageTap as UsageTap);
console.log(`readUsage, once per answer: ${(((performance.now() - t) * 1000) / N).toFixed(1)} µs`);
