import { readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeviceMonitor } from '../../src/devices/monitor.js';
import { fakeToolDir } from './fake-tools.js';

const fakeNvidiaSmi = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/fake-nvidia-smi');

/**
 * Looking for a missing vendor tool is a process spawn that blocks the event loop; on a machine without
 * that vendor's GPUs it used to happen on every reading, e.g. between a child turning ready and its waiting
 * request being proxied. The monitor remembers the absence instead. The fake is put on PATH after the first
 * reading: a monitor that looked again would find it.
 */
describe('DeviceMonitor remembering a missing tool', () => {
  let tools: Awaited<ReturnType<typeof fakeToolDir>>;
  beforeEach(async () => {
    tools = await fakeToolDir({});
  });
  afterEach(() => tools.cleanup());

  const appears = async () => {
    await symlink(fakeNvidiaSmi, path.join(tools.dir, 'nvidia-smi'));
    const log = path.join(tools.dir, 'calls.log');
    await tools.setState({ log });
    return log;
  };

  test('is not looked for again within missingRetryMs, however often it is read, and is logged once', async () => {
    const logs: string[] = [];
    const monitor = new DeviceMonitor({ env: tools.env(), cacheMs: 0, logger: (m) => logs.push(m) });
    expect((await monitor.read()).map((d) => d.name)).toEqual(['CPU']);
    const log = await appears();
    for (let i = 0; i < 3; i++) {
      expect((await monitor.read()).map((d) => d.name)).toEqual(['CPU']);
      expect(Object.keys(await monitor.usageByPids([process.pid]))).toEqual(['CPU']);
      // A child exiting invalidates the reading, not what is known about the tools.
      monitor.invalidate();
    }
    await expect(readFile(log, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(logs.sort()).toEqual(['nvidia-smi not found: no CUDA devices', 'rocm-smi not found: no ROCm devices']);
  });

  test('is looked for again once missingRetryMs has passed', async () => {
    const monitor = new DeviceMonitor({ env: tools.env(), cacheMs: 0, missingRetryMs: 0 });
    expect((await monitor.read()).map((d) => d.name)).toEqual(['CPU']);
    const log = await appears();
    expect((await monitor.read()).map((d) => d.name)).toEqual(['CUDA0', 'CUDA1', 'CPU']);
    expect((await readFile(log, 'utf8')).trim().split('\n')).toHaveLength(1);
  });
});
