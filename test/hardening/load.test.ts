/**
 * Load: many requests over more models than may be loaded at once, and many streams through one child.
 * Real engine children on generated tiny models; every reference, child and descriptor accounted for at the end.
 * The default counts fit CI's budget on two cores; ROUTER_LONG_TESTS=1 runs the full 10,000 requests and
 * 1,000 streams (on a shared 2-core machine a child's start takes seconds and the engine serves tens of requests
 * a second, so the full counts take minutes).
 */
import OpenAI from 'openai';
import { models, processesMentioning, serversOf, startRouter, waitFor, type RunningRouter } from '../helpers/router.js';
import { modelsDir } from '../router/fixtures.js';
import { fdCount, LONG_TESTS, referencesAtZero, unloadAll } from './helpers.js';

const MODELS = ['m1', 'm2', 'm3', 'm4', 'm5'];
const REQUESTS = LONG_TESTS ? 10_000 : 600;
/** Traffic moves on: each phase has two hot models, the next phase swaps one of them for another. */
const PHASE = LONG_TESTS ? 1_000 : 120;
const CLIENTS = 64;
const STREAMS = LONG_TESTS ? 1_000 : 200;

/** Run `total` jobs with at most `width` at a time. */
async function pool(total: number, width: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < total) await job(next++);
    }),
  );
}

function client(r: RunningRouter): OpenAI {
  // No retries: every failure must be seen, not papered over.
  return new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 300_000 });
}

test(`${REQUESTS} requests over five models, --models-max 2, ${CLIENTS} clients: no errors, nothing leaked`, async () => {
  const dir = await modelsDir(MODELS);
  const r = await startRouter(['--models-dir', dir, '--models-max', '2', '--', '--ctx-size', '256', '--parallel', '8']);
  const pid = r.proc.pid!;
  try {
    const openai = client(r);
    // A first load and unload, so what the router opens once (and keeps) is in the baseline.
    await openai.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1 });
    await unloadAll(r.url);
    await waitFor('no children', () => serversOf(r, dir).length === 0);
    const fdsBefore = fdCount(pid);

    const errors: string[] = [];
    let streamed = 0;
    const started = Date.now();
    await pool(REQUESTS, CLIENTS, async (i) => {
      const phase = Math.floor(i / PHASE);
      const model = MODELS[(phase + (i % 2)) % MODELS.length]!;
      const body = { model, messages: [{ role: 'user' as const, content: `request ${i}` }], max_tokens: 1 + (i % 2) };
      try {
        if (i % 4 === 0) {
          const stream = await openai.chat.completions.create({ ...body, stream: true });
          let finished = false;
          for await (const chunk of stream) if (chunk.choices[0]?.finish_reason) finished = true;
          if (!finished) errors.push(`${i}: stream ended without a finish_reason`);
          streamed++;
        } else {
          const res = await openai.chat.completions.create(body);
          if (res.model === undefined || res.choices.length !== 1) errors.push(`${i}: odd answer ${JSON.stringify(res)}`);
        }
      } catch (err) {
        errors.push(`${i} (${model}): ${(err as Error).message}`);
      }
      // At no moment more than two children.
      if (i % 100 === 0) expect(serversOf(r, dir).length).toBeLessThanOrEqual(2);
    });
    const seconds = (Date.now() - started) / 1000;
    console.log(`load: ${REQUESTS} requests (${streamed} streamed) over ${MODELS.length} models in ${seconds.toFixed(1)} s`);
    expect(errors.slice(0, 10)).toEqual([]);
    expect(errors).toHaveLength(0);

    await referencesAtZero(r.url);
    await unloadAll(r.url);
    await waitFor('no children', () => serversOf(r, dir).length === 0);
    // The clients' keep-alive sockets close on the server's keep-alive timeout; then only the baseline remains.
    await waitFor(`descriptors back to ${fdsBefore}`, () => fdCount(pid) <= fdsBefore + 2, 20_000).catch(() => {
      throw new Error(`router holds ${fdCount(pid)} descriptors, ${fdsBefore} before the load`);
    });
  } finally {
    expect(await r.stop()).toBe(0);
  }
  expect(processesMentioning(dir)).toEqual([]);
}, 1_800_000);

test(`${STREAMS} concurrent streaming responses through one child all complete`, async () => {
  const dir = await modelsDir(['solo']);
  // As many slots as the engine sensibly batches; the rest of the streams wait in its queue, connected.
  const r = await startRouter(['--models-dir', dir, '--', '--ctx-size', '48', '--parallel', '64']);
  const pid = r.proc.pid!;
  try {
    const openai = client(r);
    await openai.chat.completions.create({ model: 'solo', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1 });
    const fdsBefore = fdCount(pid);
    let open = 0;
    let peakOpen = 0;
    // How many the router held at once (admitted, connected, most waiting in the engine's queue).
    let peakInFlight = 0;
    const sampler = setInterval(() => {
      models(r.url)
        .then((list) => (peakInFlight = Math.max(peakInFlight, list[0].in_flight)))
        .catch(() => undefined);
    }, 250);
    const results = await Promise.allSettled(
      Array.from({ length: STREAMS }, async (_, i) => {
        const stream = await openai.chat.completions.create({
          model: 'solo',
          messages: [{ role: 'user', content: `stream ${i}` }],
          max_tokens: 2,
          stream: true,
        });
        peakOpen = Math.max(peakOpen, ++open);
        let finish: string | null | undefined;
        let chunks = 0;
        for await (const chunk of stream) {
          chunks++;
          finish ??= chunk.choices[0]?.finish_reason;
        }
        open--;
        return { finish, chunks };
      }),
    ).finally(() => clearInterval(sampler));
    const failed = results.flatMap((x, i) => (x.status === 'rejected' ? [`${i}: ${(x.reason as Error).message}`] : []));
    expect(failed.slice(0, 10)).toEqual([]);
    for (const x of results) {
      const v = (x as PromiseFulfilledResult<{ finish: string | null | undefined; chunks: number }>).value;
      expect(v.finish).toMatch(/^(length|stop)$/);
      expect(v.chunks).toBeGreaterThanOrEqual(1);
    }
    console.log(`streams: ${STREAMS} complete; at once: ${peakInFlight} in flight at the router, ${peakOpen} answering`);
    await referencesAtZero(r.url);
    await waitFor(`descriptors back to ${fdsBefore}`, () => fdCount(pid) <= fdsBefore + 2, 20_000).catch(() => {
      throw new Error(`router holds ${fdCount(pid)} descriptors, ${fdsBefore} before the streams`);
    });
  } finally {
    expect(await r.stop()).toBe(0);
  }
  expect(processesMentioning(dir)).toEqual([]);
}, 1_200_000);
