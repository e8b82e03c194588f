/**
 * Memory on the CPU with real children (the bundled engine on generated models): figures measured by
 * one router are kept in the ledger and known to the next one before any load; a CPU cap sized from
 * them holds two models but not three, so the third evicts the least recently used; a model larger
 * than the cap fails at once, naming the device.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { chat, json, models, processesMentioning, ROUTER_BIN, startRouter, waitFor, type RunningRouter } from '../helpers/router.js';
import { modelsDir } from '../router/fixtures.js';

const NAMES = ['m1', 'm2', 'm3'];

describe('CPU memory from measured figures', () => {
  let dir: string;
  let state: string;
  /** CPU bytes per model as the ledger kept them. */
  let measured: Record<string, number> = {};
  let r: RunningRouter | undefined;

  beforeAll(async () => {
    dir = await modelsDir(NAMES);
    state = await mkdtemp(join(tmpdir(), 'memory-int-state-'));
  });
  afterEach(async () => {
    if (r) expect(await r.stop()).toBe(0);
    r = undefined;
    expect(processesMentioning(dir)).toEqual([]);
  });
  afterAll(async () => {
    await rm(state, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  });

  /** The ledger's CPU figure per model (keys start with the model's path). */
  function ledger(): Record<string, number> {
    let entries: Record<string, { devices: Record<string, number> }> = {};
    try {
      entries = JSON.parse(readFileSync(join(state, 'memory-ledger.json'), 'utf8')).entries;
    } catch {
      return {};
    }
    const out: Record<string, number> = {};
    for (const [key, e] of Object.entries(entries)) {
      const name = NAMES.find((n) => key.startsWith(join(dir, `${n}.gguf`) + '|'));
      if (name && e.devices.CPU) out[name] = e.devices.CPU;
    }
    return out;
  }

  const memoryOf = async (url: string): Promise<Record<string, { source: string }>> =>
    Object.fromEntries((await models(url)).map((m) => [m.id, m.memory]));

  test('measured figures survive a restart through the ledger (--state-dir)', async () => {
    r = await startRouter(['--models-dir', dir, '--state-dir', state, '--models-memory-margin', '0']);
    for (const m of NAMES) expect((await chat(r.url, m)).status).toBe(200);
    // Each child is measured when ready and again after its first request; the ledger keeps the larger.
    await waitFor('three measured figures in the ledger', () => Object.keys(ledger()).length === 3);
    for (const mem of Object.values(await memoryOf(r.url))) expect(mem.source).toBe('measured');
    expect(await r.stop()).toBe(0);
    r = undefined;
    measured = ledger();
    for (const b of Object.values(measured)) expect(b).toBeGreaterThan(50 * 2 ** 20); // an engine is ~100+ MiB

    // A new router knows them before any load (figures are resolved in the background at start).
    r = await startRouter(['--models-dir', dir, '--state-dir', state, '--models-memory-margin', '0']);
    const list: any[] = await waitFor('figures for every model', async () => {
      const l = await models(r!.url);
      return l.every((m) => m.memory) ? l : undefined;
    });
    for (const m of list) {
      expect(m.status.value).toBe('unloaded');
      expect(m.memory).toEqual({ devices: { CPU: measured[m.id] }, source: 'measured' });
    }
    // `router probe` answers from the same ledger.
    const probe = await execa(process.execPath, [ROUTER_BIN, 'probe', 'm1', '--models-dir', dir, '--state-dir', state]);
    expect(JSON.parse(probe.stdout)).toEqual(list.find((m) => m.id === 'm1').memory);
  });

  test('a CPU cap holding two of them: loading a third evicts the least recently used', async () => {
    expect(Object.keys(measured)).toHaveLength(3);
    const largest = Math.max(...Object.values(measured));
    // Two fit (2 x largest); three do not (each is within a few per cent of the others).
    const cap = Math.floor(2.5 * largest);
    r = await startRouter(['--models-dir', dir, '--state-dir', state, '--models-memory-margin', '0', '--models-memory-max', `CPU=${cap}`]);
    expect((await chat(r.url, 'm1')).status).toBe(200);
    expect((await chat(r.url, 'm2')).status).toBe(200);
    await waitFor('m1 and m2 loaded', async () => {
      const list = await models(r!.url);
      return list.filter((m) => m.status.value === 'loaded').length === 2;
    });
    expect((await chat(r.url, 'm3')).status).toBe(200);
    const status = Object.fromEntries((await models(r.url)).map((m) => [m.id, m.status.value]));
    expect(status).toEqual({ m1: 'unloaded', m2: 'loaded', m3: 'loaded' });
    const evicted = r.logs().filter((l) => String(l.msg).endsWith('loaded -> unloading'));
    expect(evicted.map((l) => [l.model, l.reason])).toEqual([['m1', 'memory']]);
  });

  test('a model larger than the cap fails at once (not after a timeout), naming the device', async () => {
    r = await startRouter(['--models-dir', dir, '--state-dir', state, '--models-memory-margin', '0', '--models-memory-max', 'CPU=32MiB']);
    const t0 = Date.now();
    const res = await chat(r.url, 'm1');
    const ms = Date.now() - t0;
    expect(res.status).toBe(507);
    const err = (await json(res)).error;
    expect(err.code).toBe('model_too_large');
    expect(err.message).toMatch(/^model 'm1' needs \d+ MiB on CPU, which has 32 MiB$/);
    expect(ms).toBeLessThan(3000);
    const m1 = (await models(r.url)).find((m) => m.id === 'm1');
    expect(m1.status.value).toBe('unloaded');
    expect(m1.pid).toBeUndefined(); // no child was ever started
  });
});
