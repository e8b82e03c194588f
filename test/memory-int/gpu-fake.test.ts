/**
 * GPUs through a fake nvidia-smi (two GPUs, per-process usage from a state file the test writes), the real
 * router, and stand-in children (`cmd =` running test/fixtures/fake-server.mjs, which writes the
 * *_VISIBLE_DEVICES it was started with to a file): discovery, per-device eviction, placement.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeToolDir } from '../devices/fake-tools.js';
import { loadModel, unloadModel } from '../helpers/api.js';
import { chat, json, models, processesMentioning, ROOT, startRouter, waitFor, type RunningRouter } from '../helpers/router.js';
import { presetFile } from '../router/fixtures.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const FAKE_SERVER = join(ROOT, 'test/fixtures/fake-server.mjs');
const UUID0 = 'GPU-00000000-1111-2222-3333-444444444444';
const UUID1 = 'GPU-55555555-6666-7777-8888-999999999999';

interface Gpu {
  index: number;
  uuid: string;
  name: string;
  totalMiB: number;
  usedMiB: number;
}
const gpus = (used0 = 0, used1 = 0): Gpu[] => [
  { index: 0, uuid: UUID0, name: 'NVIDIA GeForce RTX 4090', totalMiB: 24576, usedMiB: used0 },
  { index: 1, uuid: UUID1, name: 'NVIDIA RTX A4000', totalMiB: 16384, usedMiB: used1 },
];

type Tools = Awaited<ReturnType<typeof fakeToolDir>>;

/** One `[name]` section per model: a fake server that records its environment in dir/NAME.env. */
function presets(dir: string, models: Record<string, { memory: string; env?: string }>): string {
  const text = Object.entries(models)
    .map(
      ([name, m]) =>
        `[${name}]\ncmd = ${process.execPath} ${FAKE_SERVER} --port \${PORT} --write-env ${join(dir, `${name}.env`)}\n` +
        `memory = ${m.memory}\n` +
        (m.env ? `${m.env}\n` : ''),
    )
    .join('\n');
  return presetFile(dir, text);
}

function envOf(dir: string, name: string): { pid: number; CUDA_VISIBLE_DEVICES: string | null } {
  return JSON.parse(readFileSync(join(dir, `${name}.env`), 'utf8'));
}

async function statuses(url: string): Promise<Record<string, string>> {
  return Object.fromEntries((await models(url)).map((m) => [m.id, m.status.value]));
}

describe('GPUs from a fake nvidia-smi', () => {
  let tools: Tools;
  let dir: string;
  let r: RunningRouter | undefined;

  beforeEach(async () => {
    tools = await fakeToolDir({ nvidia: true });
    dir = await mkdtemp(join(tmpdir(), 'memory-int-gpu-'));
  });
  afterEach(async () => {
    if (r) expect(await r.stop()).toBe(0);
    r = undefined;
    expect(processesMentioning(dir)).toEqual([]);
    await tools.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  // No reuse of nvidia-smi's answer and no reading older than the plan: what the test just wrote to the fake
  // tool's state is what the next measure or load sees (the defaults, 0.5 s and 1 s, would have it sleep past them).
  const start = (preset: string, flags: string[]) =>
    startRouter(['--models-preset', preset, '--state-dir', join(dir, 'state'), '--device-cache', '0', '--device-reading-max-age', '0', ...flags], {
      env: tools.env() as Record<string, string>,
    });

  test('discovery: /devices lists both GPUs and the CPU; /models shows the need on each', async () => {
    await tools.setState({ gpus: gpus(1024, 0) });
    r = await start(presets(dir, { a: { memory: 'CUDA1:3GiB' }, g: { memory: 'GPU:5GiB, CPU:1GiB' } }), []);
    const devices = await waitFor('a device reading', async () => {
      const d = await json(await fetch(`${r!.url}/devices`));
      return d.data.length > 0 && d;
    });
    expect(devices.data.map((d: { name: string }) => d.name)).toEqual(['CUDA0', 'CUDA1', 'CPU']);
    expect(devices.data[0]).toMatchObject({ name: 'CUDA0', label: 'NVIDIA GeForce RTX 4090', total: 24 * GiB, free: 23 * GiB });
    expect(devices.data[1]).toMatchObject({ name: 'CUDA1', label: 'NVIDIA RTX A4000', total: 16 * GiB, free: 16 * GiB });
    expect(devices.memory_margin).toBe(1024 * MiB);
    // Needs are resolved in the background from startup: a /devices answer does not mean they are done.
    const list = await waitFor('both needs resolved', async () => {
      const l = await models(r!.url);
      return l.every((m) => m.memory) ? l : undefined;
    });
    expect(list.find((m) => m.id === 'a').memory).toEqual({ devices: { CUDA1: 3 * GiB }, source: 'override' });
    // A model the router places: its need on one GPU, whichever it will be.
    expect(list.find((m) => m.id === 'g').memory).toEqual({ devices: { GPU: 5 * GiB, CPU: GiB }, source: 'override' });
  });

  test('per-device eviction: only the short GPU loses a model, though another is least recently used', async () => {
    await tools.setState({ gpus: gpus() });
    r = await start(
      presets(dir, {
        a0: { memory: 'CUDA0:10GiB' },
        a1: { memory: 'CUDA1:10GiB' },
        b1: { memory: 'CUDA1:10GiB' },
      }),
      ['--models-memory-margin', '0', '--models-memory-max', 'CUDA0=20GiB,CUDA1=16GiB'],
    );
    await loadModel(r.url, 'a0'); // least recently used of all
    await loadModel(r.url, 'a1');
    // A need that names its GPU pins the child there.
    expect(envOf(dir, 'a0').CUDA_VISIBLE_DEVICES).toBe(UUID0);
    expect(envOf(dir, 'a1').CUDA_VISIBLE_DEVICES).toBe(UUID1);

    // Per-process usage: nvidia-smi now reports a1's pid using 9000 MiB on GPU 1; a request makes the
    // router measure again.
    const a1 = (await models(r.url)).find((m) => m.id === 'a1');
    await tools.setState({ gpus: gpus(10240, 9000), apps: [{ pid: a1.pid, uuid: UUID1, usedMiB: 9000 }] });
    await (await chat(r.url, 'a1')).text();
    const measured = await waitFor('a1 measured on CUDA1', async () => {
      const m = (await models(r!.url)).find((x) => x.id === 'a1');
      return m.memory?.source === 'measured' && m.memory.devices.CUDA1 && m.memory;
    });
    expect(measured.devices.CUDA1).toBe(9000 * MiB);
    expect(measured.devices.CPU).toBeGreaterThan(10 * MiB); // the fake server's own RSS

    // b1 needs 10 GiB of CUDA1's 16 GiB cap, a1 holds 8.8: a1 goes, a0 (older, on CUDA0) stays.
    await loadModel(r.url, 'b1');
    expect(await statuses(r.url)).toEqual({ a0: 'loaded', a1: 'unloaded', b1: 'loaded' });
    expect(envOf(dir, 'b1').CUDA_VISIBLE_DEVICES).toBe(UUID1);
    const evictions = r.logs().filter((l) => String(l.msg).includes('-> unloading'));
    expect(evictions.map((l) => l.model)).toEqual(['a1']);
  });

  test('placement: the GPU with the most room, the other when another process fills it, a split when neither holds it', async () => {
    // A child is measured in the background once ready, and /models then shows the measured figure instead of the
    // placed one: the per-process query answers 2.5 s late here (within the 3 s tool timeout), so the reads
    // right after each load see the plan.
    const state = (used0 = 0, used1 = 0) => tools.setState({ gpus: gpus(used0, used1), appsDelayMs: 2500 });
    await state();
    r = await start(
      presets(dir, {
        p1: { memory: 'GPU:6GiB' },
        p2: { memory: 'GPU:6GiB' },
        big: { memory: 'GPU:30GiB' },
        own: { memory: 'CUDA1:2GiB', env: 'env.CUDA_VISIBLE_DEVICES = 1' },
      }),
      [],
    );
    // Both GPUs idle: the larger one has the most room.
    await loadModel(r.url, 'p1');
    expect(envOf(dir, 'p1').CUDA_VISIBLE_DEVICES).toBe(UUID0);
    expect((await models(r.url)).find((m) => m.id === 'p1').memory).toEqual({ devices: { CUDA0: 6 * GiB }, source: 'override' });

    // Another process now takes 16 GiB of GPU 0 (with p1's 6 GiB, it reads 2 GiB free). The next load is
    // planned on a fresh reading: GPU 1.
    await state(22528, 0);
    await loadModel(r.url, 'p2');
    expect(envOf(dir, 'p2').CUDA_VISIBLE_DEVICES).toBe(UUID1);

    // 30 GiB fits neither GPU alone: split over both (once p1, p2 and the other process are gone).
    for (const m of ['p1', 'p2']) await unloadModel(r.url, m);
    await waitFor('p1 and p2 unloaded', async () => {
      const s = await statuses(r!.url);
      return s.p1 === 'unloaded' && s.p2 === 'unloaded';
    });
    await state(0, 0);
    await loadModel(r.url, 'big');
    expect(envOf(dir, 'big').CUDA_VISIBLE_DEVICES).toBe(`${UUID0},${UUID1}`);
    const placed = (await models(r.url)).find((m) => m.id === 'big').memory.devices;
    expect(Object.keys(placed).sort()).toEqual(['CUDA0', 'CUDA1']);
    expect(placed.CUDA0 + placed.CUDA1).toBeGreaterThanOrEqual(30 * GiB);

    // A preset that chooses its own GPU is left alone.
    await loadModel(r.url, 'own');
    expect(envOf(dir, 'own').CUDA_VISIBLE_DEVICES).toBe('1');
  });

  test('a model bigger than any GPU and any split fails at once, naming the GPUs', async () => {
    await tools.setState({ gpus: gpus() });
    r = await start(presets(dir, { huge: { memory: 'GPU:64GiB' } }), []);
    const t0 = Date.now();
    const res = await chat(r.url, 'huge');
    expect(res.status).toBe(507);
    expect((await json(res)).error.message).toBe(
      "model 'huge' needs 64.0 GiB on a GPU, which has 23.0 GiB at most, and no split over CUDA0, CUDA1 holds it",
    );
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});
