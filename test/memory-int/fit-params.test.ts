/**
 * llama-fit-params and llama-server for real (env LLAMA_FIT_PARAMS, LLAMA_SERVER; skipped, saying so, when unset):
 * the probe's figure for a generated model, cancelled by its signal; and through the router, the figure /models shows
 * before a llama-server child's first load within 10% of what the router measures once a prompt filled its context.
 * The table for 1-500 MB models and the bundled engine: `npm run bench -- --only memory` (docs/memory.md).
 */
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProbeError } from '../../src/memory/probe.js';
import { runFitParams } from '../../src/memory/fit-params.js';
import { tinyModel } from '../helpers/models.js';
import { json, models, processesMentioning, startRouter, waitFor, type RunningRouter } from '../helpers/router.js';

const MiB = 1024 * 1024;
const FIT = process.env.LLAMA_FIT_PARAMS;
const SERVER = process.env.LLAMA_SERVER;

const withFit = FIT ? describe : describe.skip;
if (!FIT) console.warn('test/memory-int/fit-params.test.ts: LLAMA_FIT_PARAMS is not set; skipping the llama-fit-params tests');
const withServer = SERVER && FIT ? describe : describe.skip;
if (!SERVER || !FIT) console.warn('test/memory-int/fit-params.test.ts: LLAMA_SERVER and LLAMA_FIT_PARAMS are not both set; skipping the llama-server memory test');

withFit('llama-fit-params, the real binary', () => {
  test("a 20 MB model: its weights, a context that grows with -c, and only the child's memory flags reach it", async () => {
    const model = await tinyModel({ sizeMb: 20 });
    const small = await runFitParams(FIT!, model, ['-c', '2048', '--port', '1234', '--api-key', 'k'], { timeoutMs: 30_000 });
    expect(small.command).toEqual([FIT, '-m', model, '--ctx-size', '2048', '-lv', '4']);
    expect(small.rows.map((r) => r.name)).toEqual(['Host']);
    const { size } = await import('node:fs').then((fs) => fs.statSync(model));
    expect(Math.abs(small.parts.CPU!.weights - size)).toBeLessThan(1.5 * MiB);
    const big = await runFitParams(FIT!, model, ['-c', '8192', '-np', '2'], { timeoutMs: 30_000 });
    // f16 K and V: the context (KV cache) four times as large, the weights the same.
    expect(big.parts.CPU!.weights).toBe(small.parts.CPU!.weights);
    expect(big.parts.CPU!.kv).toBeGreaterThanOrEqual(3.5 * small.parts.CPU!.kv);
    expect(big.devices.CPU).toBeGreaterThan(small.devices.CPU!);
  });

  test('a cancelled run (router shutdown) kills it and says so', async () => {
    const model = await tinyModel();
    const ac = new AbortController();
    ac.abort();
    await expect(runFitParams(FIT!, model, [], { signal: ac.signal })).rejects.toThrow(/cancelled/);
  });

  test('a file that is no model is a ProbeError (the router falls back to the estimate)', async () => {
    await expect(runFitParams(FIT!, '/etc/hostname', [], { timeoutMs: 30_000 })).rejects.toBeInstanceOf(ProbeError);
  });
});

withServer('llama-server children: the figure before the first load against the one measured after it', () => {
  let dir: string;
  let state: string;
  let r: RunningRouter | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fit-params-int-'));
    state = join(dir, 'state');
    await mkdir(join(dir, 'models'));
    await copyFile(await tinyModel(), join(dir, 'models', 'm1.gguf'));
  });
  afterAll(async () => {
    if (r) await r.stop();
    expect(processesMentioning(join(dir, 'models'))).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });

  test('/models before the load (probe: llama-fit-params + the server base) is within 10% of the measured figure', async () => {
    const args = ['--models-dir', join(dir, 'models'), '--state-dir', state, '--server-bin', SERVER!, '--fit-params-bin', FIT!, '--models-memory-margin', '0'];
    r = await startRouter(args, { env: { PATH: process.env.PATH ?? '' } });
    const before = await waitFor('the probe figure', async () => {
      const m = (await models(r!.url)).find((x) => x.id === 'm1');
      return m?.memory?.source === 'probe' ? m.memory : undefined;
    });
    // What it added up: weights, KV cache, compute, and llama-server's base.
    expect(Object.keys(before.parts.CPU).sort()).toEqual(['base', 'compute', 'kv', 'weights']);
    expect(before.parts.CPU.base).toBe(16 * MiB);
    // A prompt that fills most of the 2048-token context touches the KV cache and the compute buffers.
    const res = await fetch(`${r.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm1', prompt: 'hello world '.repeat(150), max_tokens: 4 }),
    });
    expect(res.status).toBe(200);
    expect((await json(res)).usage.prompt_tokens).toBeGreaterThan(1500);
    // Measured after the first request: wait until the figure /models shows has settled at its maximum.
    let last = 0;
    const measured = await waitFor(
      'the measured figure after the request',
      async () => {
        const m = (await models(r!.url)).find((x) => x.id === 'm1');
        if (m?.memory?.source !== 'measured') return undefined;
        const cpu = m.memory.devices.CPU as number;
        const settled = cpu === last && cpu > 0;
        last = cpu;
        return settled ? cpu : undefined;
      },
      20_000,
      300, // settled: the same figure twice, 300 ms apart
    );
    const ratio = before.devices.CPU / measured;
    console.log(`m1 on llama-server: before ${(before.devices.CPU / MiB).toFixed(1)} MiB (probe), measured ${(measured / MiB).toFixed(1)} MiB, ratio ${ratio.toFixed(3)}`);
    expect(ratio).toBeGreaterThan(0.9);
    expect(ratio).toBeLessThan(1.1);
  }, 60_000);
});
