import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DeviceMonitor } from '../../src/devices/monitor.js';
import { nameCudaDevices, parseAppsCsv, parseGpuCsv } from '../../src/devices/nvidia.js';
import { waitFor } from '../helpers/wait.js';
import { fakeToolDir } from './fake-tools.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const U0 = 'GPU-00000000-1111-2222-3333-444444444444';
const U1 = 'GPU-55555555-6666-7777-8888-999999999999';

describe('nvidia-smi CSV', () => {
  test('GPU lines, including a name with a comma and an [N/A] board', () => {
    const { gpus, skipped } = parseGpuCsv(
      [
        '0, GPU-aaa, NVIDIA GeForce RTX 4090, 24564, 1020, 23144',
        '1, GPU-bbb, Tesla, Rev 2, 16384, 0, 16384',
        '2, GPU-ccc, NVIDIA GB10, [N/A], [N/A], [N/A]',
        '',
      ].join('\n'),
    );
    expect(gpus).toEqual([
      { index: 0, uuid: 'GPU-aaa', label: 'NVIDIA GeForce RTX 4090', total: 24564 * MiB, used: 1020 * MiB, free: 23144 * MiB },
      { index: 1, uuid: 'GPU-bbb', label: 'Tesla, Rev 2', total: 16384 * MiB, used: 0, free: 16384 * MiB },
    ]);
    expect(skipped).toHaveLength(1);
  });

  test('compute apps, [N/A] usage kept as unknown', () => {
    expect(parseAppsCsv('123, GPU-aaa, 1536\n456, GPU-bbb, [N/A]\n')).toEqual([
      { pid: 123, uuid: 'GPU-aaa', used: 1536 * MiB },
      { pid: 456, uuid: 'GPU-bbb', used: undefined },
    ]);
    expect(parseAppsCsv('')).toEqual([]);
  });

  test('CUDA_VISIBLE_DEVICES renumbers like the CUDA runtime', () => {
    const { gpus } = parseGpuCsv('0, GPU-aaa, A, 100, 0, 100\n1, GPU-bbb, A, 200, 0, 200\n2, GPU-ccc, A, 300, 0, 300\n');
    const names = (env: NodeJS.ProcessEnv) => nameCudaDevices(gpus, env).readings.map((r) => `${r.name}:${r.uuid}`);
    expect(names({})).toEqual(['CUDA0:GPU-aaa', 'CUDA1:GPU-bbb', 'CUDA2:GPU-ccc']);
    expect(names({ CUDA_VISIBLE_DEVICES: '2,0' })).toEqual(['CUDA0:GPU-ccc', 'CUDA1:GPU-aaa']);
    expect(names({ CUDA_VISIBLE_DEVICES: 'GPU-bb' })).toEqual(['CUDA0:GPU-bbb']);
    expect(names({ CUDA_VISIBLE_DEVICES: '1,7,0' })).toEqual(['CUDA0:GPU-bbb']); // stops at the first bad entry
    expect(names({ CUDA_VISIBLE_DEVICES: '' })).toEqual([]);
    expect(names({ CUDA_VISIBLE_DEVICES: '-1' })).toEqual([]);
  });

  test('mixed GPU models without PCI_BUS_ID order are warned about', () => {
    const { gpus } = parseGpuCsv('0, GPU-aaa, A, 100, 0, 100\n1, GPU-bbb, B, 200, 0, 200\n');
    expect(nameCudaDevices(gpus, {}).orderWarning).toMatch(/CUDA_DEVICE_ORDER/);
    expect(nameCudaDevices(gpus, { CUDA_DEVICE_ORDER: 'PCI_BUS_ID' }).orderWarning).toBeUndefined();
  });
});

describe('DeviceMonitor with the fake nvidia-smi on PATH', () => {
  let tools: Awaited<ReturnType<typeof fakeToolDir>>;
  beforeEach(async () => {
    tools = await fakeToolDir({ nvidia: true });
  });
  afterEach(() => tools.cleanup());

  test('two GPUs and the CPU, free memory followed between calls', async () => {
    await tools.setState({
      gpus: [
        { index: 0, uuid: U0, name: 'NVIDIA GeForce RTX 4090', totalMiB: 24576, usedMiB: 1024 },
        { index: 1, uuid: U1, name: 'NVIDIA RTX A4000', totalMiB: 16384, usedMiB: 0 },
      ],
    });
    const logs: string[] = [];
    const monitor = new DeviceMonitor({ env: tools.env({ CUDA_DEVICE_ORDER: 'PCI_BUS_ID' }), cacheMs: 0, logger: (m) => !m.startsWith('rocm-smi not found') && logs.push(m) });
    const first = await monitor.read();
    expect(first.map((d) => d.name)).toEqual(['CUDA0', 'CUDA1', 'CPU']);
    expect(first[0]).toEqual({
      name: 'CUDA0',
      kind: 'cuda',
      index: 0,
      uuid: U0,
      label: 'NVIDIA GeForce RTX 4090',
      total: 24 * GiB,
      free: 23 * GiB,
    });
    expect(first[1]).toMatchObject({ name: 'CUDA1', total: 16 * GiB, free: 16 * GiB });
    expect(first[2]!.kind).toBe('cpu');

    await tools.setState({
      gpus: [
        { index: 0, uuid: U0, name: 'NVIDIA GeForce RTX 4090', totalMiB: 24576, usedMiB: 10240 },
        { index: 1, uuid: U1, name: 'NVIDIA RTX A4000', totalMiB: 16384, usedMiB: 4096 },
      ],
    });
    const second = await monitor.read();
    expect(second[0]!.free).toBe(14 * GiB);
    expect(second[1]!.free).toBe(12 * GiB);
    expect(logs).toEqual([]);
  });

  test('usageByPids sums nvidia-smi per-process memory per GPU, ignoring other pids', async () => {
    const me = process.pid;
    await tools.setState({
      apps: [
        { pid: me, uuid: U0, usedMiB: 3000 },
        { pid: me, uuid: U1, usedMiB: 500 },
        { pid: 999999, uuid: U0, usedMiB: 7000 },
      ],
    });
    const monitor = new DeviceMonitor({ env: tools.env(), cacheMs: 0 });
    const usage = await monitor.usageByPids([me]);
    expect(usage.CUDA0).toBe(3000 * MiB);
    expect(usage.CUDA1).toBe(500 * MiB);
    expect(usage.CPU).toBeGreaterThan(10 * MiB);

    await tools.setState({ apps: [{ pid: me, uuid: U1, usedMiB: 800 }] });
    const later = await monitor.usageByPids([me]);
    expect(later).toMatchObject({ CUDA0: 0, CUDA1: 800 * MiB });
  });

  test('readings are cached for cacheMs and concurrent reads share one tool run', async () => {
    const log = path.join(tools.dir, 'calls.log');
    await tools.setState({ log });
    const monitor = new DeviceMonitor({ env: tools.env(), cacheMs: 60_000 });
    await Promise.all([monitor.read(), monitor.read(), monitor.read()]);
    await monitor.read();
    const calls = (await readFile(log, 'utf8')).trim().split('\n');
    expect(calls).toHaveLength(1);
    monitor.invalidate();
    await monitor.read();
    expect((await readFile(log, 'utf8')).trim().split('\n')).toHaveLength(2);
  });

  test('a read after invalidate() does not join a poll that started before it, and that poll is not cached', async () => {
    // A child exits while a reading (started before the exit) is still running: the router invalidates and reads
    // to see the memory it gave back. Joining the older poll answered with the memory as it was before the exit.
    const log = path.join(tools.dir, 'calls.log');
    const gpu = (usedMiB: number) => ({ gpus: [{ index: 0, uuid: U0, name: 'A', totalMiB: 24576, usedMiB }], log, delayMs: 300 });
    await tools.setState(gpu(20_000));
    const monitor = new DeviceMonitor({ env: tools.env(), cacheMs: 60_000 });
    const before = monitor.read();
    // The fake appends to the log after it has read its state: from then on that run answers 20 000 MiB used.
    // (A fixed sleep here raced a slow spawn on a loaded CI machine, and the first run read the later state.)
    await waitFor('the first nvidia-smi run', async () => (await readFile(log, 'utf8').catch(() => '')).includes('\n'), 15_000, 10);
    await tools.setState(gpu(0));
    monitor.invalidate();
    const after = await monitor.read();
    expect((await before)[0].free).toBe(4576 * MiB);
    expect(after[0].free).toBe(24576 * MiB);
    expect((await readFile(log, 'utf8')).trim().split('\n')).toHaveLength(2);
    // The older poll's answer did not go into the cache.
    expect((await monitor.read())[0].free).toBe(24576 * MiB);
  });

  test('a failing driver means no GPUs, logged once, and recovery is picked up', async () => {
    await tools.setState({ fail: true });
    const logs: string[] = [];
    const monitor = new DeviceMonitor({ env: tools.env(), cacheMs: 0, logger: (m) => !m.startsWith('rocm-smi not found') && logs.push(m) });
    for (let i = 0; i < 3; i++) expect((await monitor.read()).map((d) => d.name)).toEqual(['CPU']);
    expect(await monitor.usageByPids([process.pid])).toEqual({ CPU: expect.any(Number) });
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/nvidia-smi .*failed \(exit 9\).*couldn't communicate/);

    await tools.setState({});
    expect((await monitor.read()).map((d) => d.name)).toEqual(['CUDA0', 'CUDA1', 'CPU']);
  });

  test('a hung nvidia-smi is cut off by the timeout', async () => {
    await tools.setState({ delayMs: 10_000 });
    const logs: string[] = [];
    const monitor = new DeviceMonitor({ env: tools.env(), cacheMs: 0, timeoutMs: 300, logger: (m) => !m.startsWith('rocm-smi not found') && logs.push(m) });
    const t0 = Date.now();
    expect((await monitor.read()).map((d) => d.name)).toEqual(['CPU']);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(logs[0]).toMatch(/did not answer within 300 ms/);
  });

  test('the fake rejects arguments it does not know, like the real one', async () => {
    const { execa } = await import('execa');
    const r = await execa('nvidia-smi', ['-L'], { env: tools.env(), extendEnv: false, reject: false });
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).toMatch(/Invalid combination of input arguments/);
  });
});

describe('DeviceMonitor without vendor tools', () => {
  test('CPU only, each missing tool logged once', async () => {
    const tools = await fakeToolDir({});
    try {
      const logs: string[] = [];
      const monitor = new DeviceMonitor({ env: tools.env(), cacheMs: 0, logger: (m) => logs.push(m) });
      for (let i = 0; i < 3; i++) {
        const devices = await monitor.read();
        expect(devices.map((d) => d.name)).toEqual(['CPU']);
        await monitor.usageByPids([process.pid]);
      }
      expect(logs.sort()).toEqual(['nvidia-smi not found: no CUDA devices', 'rocm-smi not found: no ROCm devices']);
    } finally {
      await tools.cleanup();
    }
  });
});
