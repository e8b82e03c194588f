import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeTinyModel } from '../../src/gguf/tiny-model.js';
import { MemoryLedger } from '../../src/memory/ledger.js';
import { resolveNeed } from '../../src/memory/resolve.js';

const GiB = 1024 ** 3;
let dir: string;
let model: string;
let counter: string;
let probe: string[];
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'resolve-'));
  model = path.join(dir, 'tiny.gguf');
  await makeTinyModel(model);
  counter = path.join(dir, 'probe-calls');
  const script = path.join(dir, 'probe.js');
  await writeFile(script, `require('fs').appendFileSync(${JSON.stringify(counter)}, 'x'); console.log(JSON.stringify({devices: {CPU: 333}}))`);
  await writeFile(path.join(dir, 'package.json'), '{"type": "commonjs"}');
  probe = [process.execPath, script];
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('resolveNeed: override > measured > probe > estimate', () => {
  const ledgerWith = (devices?: Record<string, number>) => {
    const ledger = new MemoryLedger(path.join(dir, `ledger-${Math.random()}`));
    if (devices) ledger.record('k', devices);
    return ledger;
  };

  test('override wins over everything', async () => {
    const need = await resolveNeed({ override: { CUDA0: 8 * GiB }, ledger: ledgerWith({ CPU: 1 }), ledgerKey: 'k', probe, gguf: model });
    expect(need).toEqual({ devices: { CUDA0: 8 * GiB }, source: 'override', notes: [] });
  });

  test('measured beats probe and estimate', async () => {
    const need = await resolveNeed({ ledger: ledgerWith({ CPU: 111 }), ledgerKey: 'k', probe, gguf: model });
    expect(need).toMatchObject({ devices: { CPU: 111 }, source: 'measured' });
  });

  test('probe when nothing was measured; cached per command when a cache is given', async () => {
    const cache = new Map();
    for (let i = 0; i < 3; i++) {
      const need = await resolveNeed({ ledger: ledgerWith(), ledgerKey: 'k', probe, probeCache: cache, gguf: model });
      expect(need).toMatchObject({ devices: { CPU: 333 }, source: 'probe' });
    }
    const { readFile } = await import('node:fs/promises');
    expect(await readFile(counter, 'utf8')).toBe('x');
  });

  test('a failing probe falls back to the estimate and says why', async () => {
    const logs: string[] = [];
    const need = await resolveNeed({ probe: 'exit 3', gguf: model, estimate: { ctxSize: 512, devices: [] }, logger: (m) => logs.push(m) });
    expect(need.source).toBe('estimate');
    expect(need.devices.CPU).toBeGreaterThan(100 * 1024 * 1024);
    expect(need.notes[0]).toMatch(/probe failed.*exited with code 3/);
    expect(logs).toEqual(need.notes);
  });

  test('estimate from the GGUF when there is nothing else', async () => {
    const need = await resolveNeed({ gguf: model, estimate: { ctxSize: 2048, devices: ['CUDA0'], gpuLayers: 99 } });
    expect(need.source).toBe('estimate');
    expect(Object.keys(need.devices).sort()).toEqual(['CPU', 'CUDA0']);
  });

  test('unknown when there is no file, and when the file is not a GGUF', async () => {
    expect(await resolveNeed({})).toEqual({ devices: {}, source: 'unknown', notes: [] });
    const bad = path.join(dir, 'bad.gguf');
    await writeFile(bad, 'not a gguf at all');
    const need = await resolveNeed({ gguf: bad });
    expect(need.source).toBe('unknown');
    expect(need.notes[0]).toMatch(/estimate failed/);
  });

  test('an empty override or an empty measured entry does not count', async () => {
    const need = await resolveNeed({ override: {}, ledger: ledgerWith(), ledgerKey: 'missing', gguf: model });
    expect(need.source).toBe('estimate');
  });
});
