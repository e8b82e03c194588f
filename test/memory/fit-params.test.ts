/**
 * llama-fit-params as a probe: its breakdown table parsed (captured from the real binary on generated models, and a
 * two-GPU table laid out as llama.cpp's common_memory_breakdown_print does), the child's flags it is given, and where
 * it is found. The real binary itself: test/memory-int/fit-params.test.ts.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { deviceOfRow, findFitParams, fitParamsArgs, fitParamsArgv, parseBreakdown } from '../../src/memory/fit-params.js';

const MiB = 1024 * 1024;
const FIXTURES = path.join(import.meta.dirname ?? path.join(process.cwd(), 'test', 'memory'), 'fixtures');
const fixture = (name: string) => readFile(path.join(FIXTURES, name), 'utf8');

describe('parseBreakdown', () => {
  test('captured from llama-fit-params -lv 4 on a 50 MB generated model (build 10587, CPU)', async () => {
    const b = parseBreakdown(await fixture('fit-params-50mb.stderr'));
    expect(b.rows).toEqual([{ name: 'Host', device: 'CPU', self: 82, model: 50, context: 18, compute: 14 }]);
    // Each figure is rounded down to whole MiB: one MiB is added back per row.
    expect(b.devices).toEqual({ CPU: 83 * MiB });
    expect(b.parts).toEqual({ CPU: { weights: 50 * MiB, kv: 18 * MiB, compute: 15 * MiB } });
  });

  test('captured: a 1 MB model, and a 50 MB one at -c 8192 -np 4 with q8_0 caches', async () => {
    expect(parseBreakdown(await fixture('fit-params-1mb.stderr')).rows[0]).toMatchObject({ device: 'CPU', self: 7, model: 0, context: 1, compute: 5 });
    expect(parseBreakdown(await fixture('fit-params-50mb-c8192-np4-q8.stderr')).rows[0]).toMatchObject({ self: 101, model: 50, context: 38, compute: 13 });
  });

  test("two GPUs, host and an extra buffer type, in common_memory_breakdown_print's layout", async () => {
    const b = parseBreakdown(await fixture('fit-params-2gpu.stderr'));
    expect(b.rows.map((r) => [r.name, r.device, r.description])).toEqual([
      ['CUDA0', 'CUDA0', 'RTX 4090'],
      ['CUDA1', 'CUDA1', 'RTX 3090'],
      ['Host', 'CPU', undefined],
      ['CPU_REPACK', 'CPU', undefined],
    ]);
    expect(b.rows[0]).toMatchObject({ total: 24080, free: 1057, self: 11776, model: 10240, context: 1024, compute: 512, unaccounted: 11247 });
    expect(b.rows[1]).toMatchObject({ total: 24576, free: 9000, self: 10300, model: 9000, context: 900, compute: 400 });
    // Host and CPU_REPACK are both host memory: one CPU figure.
    expect(b.devices).toEqual({ CUDA0: 11777 * MiB, CUDA1: 10301 * MiB, CPU: (1249 + 301) * MiB });
    expect(b.parts.CPU).toEqual({ weights: 1500 * MiB, kv: 0, compute: 50 * MiB });
  });

  test('the last table wins (fit-params prints one per attempt when it shrinks the context)', async () => {
    const first = await fixture('fit-params-2gpu.stderr');
    const b = parseBreakdown(first + (await fixture('fit-params-50mb.stderr')));
    expect(Object.keys(b.devices)).toEqual(['CPU']);
    expect(b.rows[0]!.self).toBe(82);
  });

  test('rows as printed by other builds: a bare prefix, a negative unaccounted, a Metal GPU', () => {
    const text = [
      'llama_memory_breakdown_print: | memory breakdown [MiB] | total    free    self   model   context   compute    unaccounted |',
      'llama_memory_breakdown_print: |   - MTL0 (Apple M5)    | 18186 = 10905 + (7280 =  6095 +     786 +     398) +          -1 |',
      'llama_memory_breakdown_print: |   - Host               |                  5556 =  5440 +       0 +     116                |',
      'ggml_metal_free: deallocating',
    ].join('\n');
    const b = parseBreakdown(text);
    expect(b.rows.map((r) => r.device)).toEqual(['Metal0', 'CPU']);
    expect(b.rows[0]!.unaccounted).toBe(-1);
  });

  test('no table, or a row it cannot read, is an error that says so', () => {
    expect(() => parseBreakdown('-c 2048 -ngl -1\n')).toThrow(/no memory breakdown table/);
    expect(() => parseBreakdown('x: | memory breakdown [MiB] | total |\nx: |   - Host | lots |\n')).toThrow(/unreadable memory breakdown row.*Host/);
  });
});

test('deviceOfRow: llama.cpp device names to ours', () => {
  expect(['Host', 'CUDA0', 'CUDA12', 'ROCm1', 'Vulkan0', 'MTL0', 'SYCL0', 'CPU_REPACK', 'CUDA_Host', 'HTP0-REPACK'].map(deviceOfRow)).toEqual([
    'CPU',
    'CUDA0',
    'CUDA12',
    'ROCm1',
    'Vulkan0',
    'Metal0',
    'SYCL0',
    'CPU',
    'CPU',
    'HTP0',
  ]);
});

describe('the flags it is run with', () => {
  test("the child's memory flags, spelled once, and nothing else (server flags would fail it; a key must not leak)", () => {
    const args = ['-c', '8192', '--parallel=4', '-ngl', '20', '-ctk', 'q8_0', '-ctv', 'q8_0', '-fa', '-ts', '3/1', '--no-mmap', '-nkvo'];
    const extra = ['--api-key', 'sekret', '--host', '0.0.0.0', '-t', '2', '--alias', 'x', '--jinja', '--kv-unified', '--mmproj', 'p.gguf'];
    const out = fitParamsArgs([...args, ...extra]);
    expect(out).toEqual([
      '--ctx-size', '8192', '--parallel', '4', '--n-gpu-layers', '20', '--cache-type-k', 'q8_0', '--cache-type-v', 'q8_0',
      '--tensor-split', '3,1', '--flash-attn', 'on', '--no-mmap', '--no-kv-offload',
    ]);
    expect(out.join(' ')).not.toMatch(/sekret|api-key|host|alias|mmproj|unified/);
  });

  test('opposites, repeats and LLAMA_ARG_* variables', () => {
    expect(fitParamsArgs(['--no-mmap', '--mmap', '-ot', 'exps=CPU', '-ot', 'blk\\.1=CUDA0', '-cmoe'])).toEqual([
      '--mmap', '--cpu-moe', '--override-tensor', 'exps=CPU', '--override-tensor', 'blk\\.1=CUDA0',
    ]);
    expect(fitParamsArgs(['-c', '1024'], { LLAMA_ARG_CTX_SIZE: '4096', LLAMA_ARG_N_PARALLEL: '2' })).toEqual(['--ctx-size', '1024', '--parallel', '2']);
    expect(fitParamsArgv('/bin/fp', '/m.gguf', ['-c', '512'])).toEqual(['/bin/fp', '-m', '/m.gguf', '--ctx-size', '512', '-lv', '4']);
  });
});

describe('findFitParams', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fit-params-find-'));
    for (const d of ['build', 'onpath', 'empty']) await mkdir(path.join(dir, d));
    for (const f of ['build/llama-server', 'build/llama-fit-params', 'onpath/llama-fit-params']) {
      await writeFile(path.join(dir, f), '#!/bin/sh\n');
      await chmod(path.join(dir, f), 0o755);
    }
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('the flag first, then beside the server binary, then on PATH; none: undefined', () => {
    const pathEnv = path.join(dir, 'onpath');
    const serverBin = path.join(dir, 'build', 'llama-server');
    expect(findFitParams({ flag: '/x/fp', serverBin, pathEnv })).toBe('/x/fp');
    expect(findFitParams({ serverBin, pathEnv })).toBe(path.join(dir, 'build', 'llama-fit-params'));
    expect(findFitParams({ serverBin: path.join(dir, 'empty', 'llama-server'), pathEnv })).toBe(path.join(dir, 'onpath', 'llama-fit-params'));
    expect(findFitParams({ serverBin: 'llama-server', pathEnv })).toBe(path.join(dir, 'onpath', 'llama-fit-params'));
    expect(findFitParams({ serverBin, pathEnv: path.join(dir, 'empty') })).toBe(path.join(dir, 'build', 'llama-fit-params'));
    expect(findFitParams({ serverBin: path.join(dir, 'empty', 'llama-server'), pathEnv: path.join(dir, 'empty') })).toBeUndefined();
  });

  test('a file that is there but not executable is not taken', async () => {
    await writeFile(path.join(dir, 'empty', 'llama-fit-params'), '');
    expect(findFitParams({ serverBin: path.join(dir, 'empty', 'llama-server'), pathEnv: '' })).toBeUndefined();
  });
});
