/**
 * The estimate per engine (bundled, llama-server, any other `cmd`) and the server base learned from a measured child,
 * kept in the ledger: through the router's memory hooks, on a generated model, with no process started.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { ModelSpec } from '../../src/catalog/model-spec.js';
import { memoryHooks, serverOf } from '../../src/cli/memory-hooks.js';
import { BUNDLED_CPU_BASE, cpuHasAmx, engineEstimateOptions, engineKind, LLAMA_SERVER_CPU_BASE } from '../../src/memory/engine.js';
import { estimateFromGguf } from '../../src/memory/estimate.js';
import { MemoryLedger } from '../../src/memory/ledger.js';
import { learnBase, learnedBase, serverBaseKey } from '../../src/memory/server-base.js';
import { tinyModel } from '../helpers/models.js';
import { modelSpec } from '../helpers/model-spec.js';

const MiB = 1024 * 1024;
let dir: string;
let model: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'engine-'));
  model = await tinyModel();
});
afterAll(() => rm(dir, { recursive: true, force: true }));

test('engineKind: the bundled engine, a program named llama-server, anything else', () => {
  expect(engineKind('/usr/bin/node', true)).toBe('bundled');
  expect(engineKind('/opt/llama.cpp/build/bin/llama-server', false)).toBe('llama-server');
  expect(engineKind('llama-server', false)).toBe('llama-server');
  expect(engineKind('/opt/vllm/serve', false)).toBe('other');
  expect(engineKind(undefined, false)).toBe('other');
});

describe('engineEstimateOptions', () => {
  test("llama-server: -c shared by the slots, flash attention on unless -fa off, llama-server's base", () => {
    expect(engineEstimateOptions('llama-server', ['-c', '4096', '-np', '2'], { devices: [] })).toMatchObject({
      ctxSize: 4096,
      parallel: 2,
      ctxScope: 'total',
      flashAttention: true,
      cpuBaseBytes: LLAMA_SERVER_CPU_BASE,
    });
    expect(engineEstimateOptions('llama-server', ['-fa', 'auto'], { devices: [] }).flashAttention).toBe(true);
    expect(engineEstimateOptions('llama-server', ['-fa', 'off'], { devices: [] }).flashAttention).toBe(false);
    expect(engineEstimateOptions('llama-server', [], { devices: [], env: { LLAMA_ARG_FLASH_ATTN: 'off' } }).flashAttention).toBe(false);
  });

  test("the bundled engine: -c per slot, node-llama-cpp's flash attention (auto = on), its own base, AMX's copy where the CPU has it", () => {
    const o = engineEstimateOptions('bundled', ['-c', '4096', '-np', '2', '-fa', 'off'], { devices: [] });
    expect(o).toMatchObject({ ctxScope: 'per-sequence', cpuBaseBytes: BUNDLED_CPU_BASE, flashAttention: true, repackWeights: cpuHasAmx() });
    expect(engineEstimateOptions('llama-server', [], { devices: [] }).repackWeights).toBeUndefined();
  });

  test('repackWeights counts the blocks\' CPU weights again, norms aside, as `repack`', async () => {
    const plain = await estimateFromGguf(model, engineEstimateOptions('bundled', [], { devices: [], repackWeights: false }));
    const amx = await estimateFromGguf(model, engineEstimateOptions('bundled', [], { devices: [], repackWeights: true }));
    expect(plain.parts.CPU!.repack).toBeUndefined();
    const repack = amx.parts.CPU!.repack!;
    expect(repack).toBeGreaterThan(0.5 * amx.parts.CPU!.weights);
    expect(repack).toBeLessThan(amx.parts.CPU!.weights);
    expect(amx.devices.CPU! - plain.devices.CPU!).toBe(repack);
  });

  test('llama-server with -np N and no -c gives each slot the training context (as llama-server does)', async () => {
    const one = await estimateFromGguf(model, engineEstimateOptions('llama-server', [], { devices: [] }));
    const two = await estimateFromGguf(model, engineEstimateOptions('llama-server', ['-np', '2'], { devices: [] }));
    const shared = await estimateFromGguf(model, engineEstimateOptions('llama-server', ['-np', '2', '-c', '2048'], { devices: [] }));
    expect(one.kvCells).toBe(2048);
    expect(two.kvCells).toBe(4096);
    expect(shared.kvCells).toBe(2048);
  });

  test('the same model costs llama-server the same weights, KV cache and compute, and a smaller base', async () => {
    const ls = await estimateFromGguf(model, engineEstimateOptions('llama-server', ['-c', '2048'], { devices: [] }));
    const bundled = await estimateFromGguf(model, engineEstimateOptions('bundled', ['-c', '2048'], { devices: [] }));
    expect(ls.parts.CPU!.base).toBe(16 * MiB);
    expect(bundled.parts.CPU!.base).toBe(BUNDLED_CPU_BASE);
    for (const k of ['weights', 'kv', 'compute'] as const) expect(ls.parts.CPU![k]).toBe(bundled.parts.CPU![k]);
    // Without flash attention the attention scores are in the compute buffer.
    const noFa = await estimateFromGguf(model, engineEstimateOptions('llama-server', ['-c', '2048', '-fa', 'off'], { devices: [] }));
    expect(noFa.parts.CPU!.compute).toBeGreaterThan(ls.parts.CPU!.compute);
  });
});

describe('a server base learned from a measured child, in the ledger', () => {
  test('learnBase keeps the largest base seen; a measurement below the model part records nothing', () => {
    const ledger = new MemoryLedger(path.join(dir, 'l1'));
    expect(learnedBase(ledger, 'srv')).toBeUndefined();
    expect(learnBase(ledger, 'srv', 100 * MiB, 70 * MiB)).toBe(30 * MiB);
    learnBase(ledger, 'srv', 90 * MiB, 70 * MiB);
    expect(learnedBase(ledger, 'srv')).toBe(30 * MiB);
    expect(learnBase(ledger, 'other', 50 * MiB, 70 * MiB)).toBe(0);
    expect(learnedBase(ledger, 'other')).toBeUndefined();
    // It is on disk, beside the measured figures, under a key of its own kind.
    expect(new MemoryLedger(path.join(dir, 'l1')).get(serverBaseKey('srv'))).toEqual({ CPU: 30 * MiB });
  });

  const spec = (name: string, cmd?: string, args = ['-c', '2048']): ModelSpec =>
    modelSpec(name, { modelPath: model, args, ...(cmd ? { cmd } : {}) });

  test('another cmd: the estimate starts from the safe base, then the base its first measured child showed', async () => {
    const logger = pino({ level: 'silent' });
    const server = { command: '/nonexistent/llama-server', prefix: [] };
    const wiring = memoryHooks({ stateDir: path.join(dir, 'hooks'), server, bundled: false, logger, fitParamsBin: '/nonexistent/llama-fit-params' });
    try {
      const cmd = (port: string) => `/opt/other/serve --model \${MODEL} --port ${port}`;
      const a = spec('a', cmd('1'));
      const first = await wiring.hooks.need(a);
      expect(first).toMatchObject({ source: 'estimate', parts: { CPU: { base: BUNDLED_CPU_BASE } } });
      const modelPart = first!.devices.CPU! - BUNDLED_CPU_BASE;
      // Its child was seen to hold 40 MiB beyond its model part: that is the server's base from now on.
      wiring.hooks.measured!(a, { CPU: modelPart + 40 * MiB });
      expect(learnedBase(wiring.ledger, serverOf(a, server, false).id)).toBe(40 * MiB);
      const b = await wiring.hooks.need(spec('b', cmd('2')));
      expect(b).toMatchObject({ source: 'estimate', parts: { CPU: { base: 40 * MiB } } });
      expect(b!.devices.CPU).toBe(modelPart + 40 * MiB);
      // A model of llama-server (the router's --server-bin) keeps llama-server's base: learned per server.
      const c = await wiring.hooks.need(spec('c'));
      expect(c).toMatchObject({ source: 'estimate', parts: { CPU: { base: LLAMA_SERVER_CPU_BASE } } });
    } finally {
      wiring.hooks.close?.();
    }
  });

  test("llama-server: a learned base can only raise llama-server's known one", async () => {
    const logger = pino({ level: 'silent' });
    const server = { command: '/nonexistent/llama-server', prefix: [] };
    const wiring = memoryHooks({ stateDir: path.join(dir, 'hooks2'), server, bundled: false, logger, fitParamsBin: '/nonexistent/llama-fit-params' });
    try {
      const a = spec('a');
      const first = await wiring.hooks.need(a);
      const modelPart = first!.devices.CPU! - LLAMA_SERVER_CPU_BASE;
      // Another context: not measured yet, so estimated.
      const b = () => wiring.hooks.need(spec('b', undefined, ['-c', '1024']));
      wiring.hooks.measured!(a, { CPU: modelPart + 2 * MiB }); // measured right after load: compute not touched yet
      expect(await b()).toMatchObject({ source: 'estimate', parts: { CPU: { base: LLAMA_SERVER_CPU_BASE } } });
      wiring.hooks.measured!(a, { CPU: modelPart + 90 * MiB }); // a GPU build maps more code
      expect((await b())!.parts!.CPU!.base).toBe(90 * MiB);
    } finally {
      wiring.hooks.close?.();
    }
  });
});
