import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DeviceMonitor } from '../../src/devices/monitor.js';
import { kfdVramByGpuOrdinal, nameRocmDevices, parseRocmVramJson } from '../../src/devices/rocm.js';
import { fakeToolDir } from './fake-tools.js';

const GiB = 1024 ** 3;

describe('rocm-smi', () => {
  test('parses --showmeminfo vram --json, with a warning line before it', () => {
    const cards = parseRocmVramJson(
      'WARNING: something\n{"card0": {"VRAM Total Memory (B)": "17163091968", "VRAM Total Used Memory (B)": "12288000"},' +
        ' "card1": {"VRAM Total Memory (B)": "25753026560", "VRAM Total Used Memory (B)": "0", "Card Series": "Radeon RX 7900 XTX"}}',
    );
    expect(cards).toEqual([
      { index: 0, total: 17163091968, used: 12288000, label: undefined, uuid: undefined },
      { index: 1, total: 25753026560, used: 0, label: 'Radeon RX 7900 XTX', uuid: undefined },
    ]);
    expect(nameRocmDevices(cards, {}).map((d) => [d.name, d.free])).toEqual([
      ['ROCm0', 17163091968 - 12288000],
      ['ROCm1', 25753026560],
    ]);
    expect(nameRocmDevices(cards, { HIP_VISIBLE_DEVICES: '1' }).map((d) => [d.name, d.index])).toEqual([['ROCm0', 1]]);
  });

  test('monitor with the fake rocm-smi; per-process VRAM from KFD sysfs', async () => {
    const tools = await fakeToolDir({ rocm: true });
    const sys = await mkdtemp(path.join(os.tmpdir(), 'kfd-'));
    try {
      await tools.setState({ cards: [{ totalB: 16 * GiB, usedB: 2 * GiB }, { totalB: 24 * GiB, usedB: 0 }] });
      const kfd = path.join(sys, 'class/kfd/kfd');
      // Node 0 is the CPU (gpu_id 0); nodes 1 and 2 are the GPUs.
      for (const [node, id] of [['0', '0'], ['1', '4660'], ['2', '9999']] as const) {
        await mkdir(path.join(kfd, 'topology/nodes', node), { recursive: true });
        await writeFile(path.join(kfd, 'topology/nodes', node, 'gpu_id'), `${id}\n`);
      }
      await mkdir(path.join(kfd, 'proc', String(process.pid)), { recursive: true });
      await writeFile(path.join(kfd, 'proc', String(process.pid), 'vram_9999'), `${3 * GiB}\n`);
      expect([...(await kfdVramByGpuOrdinal(process.pid, sys))]).toEqual([[1, 3 * GiB]]);

      const monitor = new DeviceMonitor({ env: tools.env(), cacheMs: 0, paths: { sysRoot: sys } });
      const devices = await monitor.read();
      expect(devices.map((d) => [d.name, d.total, d.free])).toEqual([
        ['ROCm0', 16 * GiB, 14 * GiB],
        ['ROCm1', 24 * GiB, 24 * GiB],
        ['CPU', expect.any(Number), expect.any(Number)],
      ]);
      const usage = await monitor.usageByPids([process.pid]);
      expect(usage).toMatchObject({ ROCm0: 0, ROCm1: 3 * GiB });
    } finally {
      await tools.cleanup();
      await rm(sys, { recursive: true });
    }
  });
});
