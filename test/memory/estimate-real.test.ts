/**
 * The header-only estimate against reality: generated tiny models, the GGUF reader, and (when it is
 * built) the bundled engine's real resident memory after serving a prompt that fills most of the context.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import getPort from 'get-port';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readRss } from '../../src/devices/host.js';
import { formatBytes } from '../../src/devices/size.js';
import { makeTinyModel } from '../../src/gguf/tiny-model.js';
import { readGgufHeader } from '../../src/gguf/reader.js';
import { estimateFromGguf, estimateOptionsFromArgs, kvBytesPerToken } from '../../src/memory/estimate.js';
import { runProbe } from '../../src/memory/probe.js';
import { engineEstimateOptions } from '../../src/memory/engine.js';
import { bundledEngine, bundledEngineMain } from '../../src/package/paths.js';
import { waitFor } from '../helpers/wait.js';

const MiB = 1024 ** 2;
const ENGINE = bundledEngineMain();
// The engine as the router starts it (src/package/paths.ts): this node, its V8 flags, the entry script.
const { command: NODE, prefix: ENGINE_CMD } = bundledEngine();

let dir: string;
const models: Record<string, string> = {};
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'estimate-real-'));
  for (const sizeMb of [1, 50, 200]) {
    models[sizeMb] = path.join(dir, `m${sizeMb}.gguf`);
    await makeTinyModel(models[sizeMb]!, { sizeMb, seed: sizeMb });
  }
}, 120_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

test('KV per token of a generated model, by hand from its header', async () => {
  const h = await readGgufHeader(models[50]!);
  const blocks = Number(h.metadata['llama.block_count']);
  const kvHeads = Number(h.metadata['llama.attention.head_count_kv']);
  const headDim = Number(h.metadata['llama.embedding_length']) / Number(h.metadata['llama.attention.head_count']);
  expect(kvBytesPerToken(h)).toBe(2 * blocks * kvHeads * headDim * 2);
  expect(kvBytesPerToken(h, { cacheTypeK: 'q8_0', cacheTypeV: 'q8_0' })).toBe(2 * blocks * kvHeads * headDim * 1.0625);
  const e = await estimateFromGguf(h, { ctxSize: 4096, parallel: 3, devices: [] });
  expect(e.parts.CPU!.kv).toBe(kvBytesPerToken(h) * 4096 * 3);
});

test('estimate growth from a 50 MB to a 200 MB model follows the file size growth', async () => {
  const opts = { ctxSize: 2048, parallel: 1, devices: [] };
  const [e50, e200] = await Promise.all([estimateFromGguf(models[50]!, opts), estimateFromGguf(models[200]!, opts)]);
  const [s50, s200] = await Promise.all([stat(models[50]!), stat(models[200]!)]);
  const fileGrowth = s200.size - s50.size;
  const weightGrowth = e200.parts.CPU!.weights - e50.parts.CPU!.weights;
  // Weights are the tensor data: the file minus header and padding.
  expect(Math.abs(weightGrowth - fileGrowth) / fileGrowth).toBeLessThan(0.01);
  // The whole estimate grows by at least the weights (wider layers also mean more KV and compute), not wildly more.
  const totalGrowth = e200.devices.CPU! - e50.devices.CPU!;
  expect(totalGrowth).toBeGreaterThanOrEqual(weightGrowth);
  expect(totalGrowth).toBeLessThan(fileGrowth * 2);
  console.log(
    `estimate 50 MB -> 200 MB model (ctx 2048): file +${formatBytes(fileGrowth)}, weights +${formatBytes(weightGrowth)}, ` +
      `total +${formatBytes(totalGrowth)} (${formatBytes(e50.devices.CPU!)} -> ${formatBytes(e200.devices.CPU!)})`,
  );
});

test('options from child arguments', () => {
  expect(estimateOptionsFromArgs(['-c', '4096', '-np', '2', '-ngl', '10', '-fa', 'on', '-ctk', 'q8_0', '--port', '1'], { devices: ['CUDA0'] })).toEqual({
    devices: ['CUDA0'],
    ctxSize: 4096,
    parallel: 2,
    gpuLayers: 10,
    flashAttention: true,
    cacheTypeK: 'q8_0',
  });
  expect(estimateOptionsFromArgs(['-ngl', 'auto', '-ts', '3/1', '-nkvo'], { devices: [], ctxScope: 'total' })).toEqual({
    devices: [],
    ctxScope: 'total',
    tensorSplit: [3, 1],
    noKvOffload: true,
  });
});

/**
 * Starts the engine, waits for /health, serves one prompt of `promptChars` bytes, returns its RSS. On a free port
 * (get-port), again on another if it lost the port before binding it (other test files start servers at the same
 * time); an engine that exits early fails the test at once with its last output, rather than after the timeout.
 */
async function engineRss(model: string, args: string[], promptChars: number): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const port = await getPort({ host: '127.0.0.1' });
    const child: ChildProcess = spawn(NODE, [...ENGINE_CMD, '-m', model, '--port', String(port), '-t', '1', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    let exitCode: number | null | undefined;
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve((exitCode = code))));
    try {
      await waitFor('the engine ready', () => exitCode !== undefined || fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false), 30_000, 100).catch(
        (err: Error) => {
          throw new Error(`${err.message} (port ${port}); its last output:\n${stderr}`);
        },
      );
      if (exitCode !== undefined) {
        if (/EADDRINUSE/.test(stderr) && attempt < 3) continue;
        throw new Error(`the engine exited (code ${exitCode}) before it was ready:\n${stderr}`);
      }
      // Random printable bytes: the byte-level vocabulary makes this about one token per character.
      const prompt = Array.from({ length: promptChars }, (_, i) => String.fromCharCode(97 + ((i * 7) % 26))).join('');
      const res = await fetch(`http://127.0.0.1:${port}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt, max_tokens: 8 }),
      });
      await res.text();
      return await readRss(child.pid!);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  }
}

describe('estimate vs the bundled engine (CPU, real RSS)', () => {
  // `npm test` builds first (pretest); a bare jest run may not have. Build rather than skip, and say so
  // plainly when the build fails: a skipped comparison would pass for a proven one.
  beforeAll(async () => {
    if (existsSync(ENGINE)) return;
    const build = await execa('npm', ['run', 'build', '--silent'], { reject: false, all: true });
    if (!existsSync(ENGINE)) {
      throw new Error(`the bundled engine is not built (${ENGINE}) and \`npm run build\` failed (exit ${build.exitCode}):\n${build.all}`);
    }
  }, 300_000);

  test.each([
    ['1', ['-c', '2048', '-np', '1'], 1500],
    ['50', ['-c', '2048', '-np', '1'], 1500],
    ['200', ['-c', '2048', '-np', '1'], 1500],
    ['50', ['-c', '4096', '-np', '2'], 3000],
  ])(
    'model %s MB, %j',
    async (sizeMb, args, promptChars) => {
      const model = models[sizeMb]!;
      // The options the router uses for the bundled engine (src/memory/engine.ts): flash attention on, its base, and
      // on a CPU with AMX the repacked copy of the weights its backend keeps.
      const estimate = await estimateFromGguf(model, engineEstimateOptions('bundled', args, { devices: [] }));
      const probe = await runProbe([NODE, ...ENGINE_CMD, '-m', model, '--dry-run', ...args], { timeoutMs: 60_000 });
      const rss = await engineRss(model, args, promptChars);
      const ratio = estimate.devices.CPU! / rss;
      console.log(
        `${sizeMb} MB ${args.join(' ')}: estimate ${formatBytes(estimate.devices.CPU!)} ` +
          `(weights ${formatBytes(estimate.parts.CPU!.weights)}, kv ${formatBytes(estimate.parts.CPU!.kv)}, ` +
          `compute ${formatBytes(estimate.parts.CPU!.compute)}, base ${formatBytes(estimate.parts.CPU!.base)}, repack ${formatBytes(estimate.parts.CPU!.repack ?? 0)}), ` +
          `engine --dry-run ${formatBytes(probe.devices.CPU!)}, real RSS ${formatBytes(rss)}: estimate/real ${ratio.toFixed(2)}, dry-run/real ${(probe.devices.CPU! / rss).toFixed(2)}`,
      );
      // Planning needs the estimate close to reality: issue 17's bound is 10%. The engine's real RSS used to be
      // bimodal (50 MB model: 254-260 or 285-289 MiB, the estimate/real ratio down to 0.896): V8 growing its
      // young generation on some runs. The engine now runs with it capped (ENGINE_NODE_FLAGS), as the router
      // starts it; the 1 MB model still varies by ~8%, so the upper bound is not tighter than this.
      expect(ratio).toBeGreaterThan(0.9);
      expect(ratio).toBeLessThan(1.35);
    },
    120_000,
  );
});
