import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DeviceMonitor } from '../../src/devices/monitor.js';
import { parseMeminfo, readCgroupMemory, readCpuDevice, readRss, withDescendants } from '../../src/devices/host.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

async function tree(files: Record<string, string>) {
  const root = await mkdtemp(path.join(os.tmpdir(), 'host-fixture-'));
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), text);
  }
  return root;
}

describe('CPU device from /proc/meminfo', () => {
  test('parses MemTotal and MemAvailable', () => {
    expect(parseMeminfo('MemTotal:       24684084 kB\nMemFree:        1000 kB\nMemAvailable:   20000000 kB\n')).toEqual({
      total: 24684084 * 1024,
      available: 20000000 * 1024,
    });
    // Old kernels: free + buffers + cached.
    expect(parseMeminfo('MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 20 kB\n')).toEqual({ total: 102400, available: 35 * 1024 });
  });

  test('this machine: matches /proc/meminfo', async () => {
    const cpu = await readCpuDevice();
    const meminfo = parseMeminfo(await readFile('/proc/meminfo', 'utf8'))!;
    expect(cpu.name).toBe('CPU');
    expect(cpu.kind).toBe('cpu');
    expect(cpu.total).toBeLessThanOrEqual(meminfo.total);
    expect(cpu.free).toBeGreaterThan(0);
    expect(cpu.free).toBeLessThanOrEqual(cpu.total);
    // Free memory moves between two reads; allow 512 MiB of drift.
    expect(Math.abs(cpu.free - meminfo.available)).toBeLessThan(512 * MiB);
  });

  test('a tighter cgroup v2 limit caps total and free (inactive page cache not counted as used)', async () => {
    const root = await tree({
      'proc/meminfo': 'MemTotal: 33554432 kB\nMemAvailable: 30000000 kB\n',
      'proc/self/cgroup': '0::/box\n',
      'cg/box/memory.max': `${4 * GiB}\n`,
      'cg/box/memory.current': `${3 * GiB}\n`,
      'cg/box/memory.stat': `anon 1000\ninactive_file ${1 * GiB}\n`,
    });
    try {
      const cpu = await readCpuDevice({ procRoot: path.join(root, 'proc'), cgroupRoot: path.join(root, 'cg') });
      expect(cpu.total).toBe(4 * GiB);
      expect(cpu.free).toBe(2 * GiB);
    } finally {
      await rm(root, { recursive: true });
    }
  });

  test('cgroup v1 limit, and "no limit" values ignored', async () => {
    const root = await tree({
      'proc/self/cgroup': '4:memory:/job\n0::/\n',
      'cg/memory/job/memory.limit_in_bytes': `${2 * GiB}\n`,
      'cg/memory/job/memory.usage_in_bytes': `${512 * MiB}\n`,
      'cg/memory/job/memory.stat': `total_inactive_file 0\n`,
      'cg2/memory.max': 'max\n',
    });
    try {
      expect(await readCgroupMemory({ procRoot: path.join(root, 'proc'), cgroupRoot: path.join(root, 'cg') })).toEqual({
        limit: 2 * GiB,
        used: 512 * MiB,
      });
      expect(await readCgroupMemory({ procRoot: path.join(root, 'proc'), cgroupRoot: path.join(root, 'cg2') })).toBeUndefined();
    } finally {
      await rm(root, { recursive: true });
    }
  });
});

describe('process memory', () => {
  test('usageByPids for this process: RSS within sane bounds and close to process.memoryUsage()', async () => {
    const monitor = new DeviceMonitor({ env: { PATH: '/nonexistent' }, cacheMs: 0 });
    const usage = await monitor.usageByPids([process.pid]);
    const own = process.memoryUsage().rss;
    expect(usage.CPU).toBeGreaterThan(20 * MiB);
    expect(usage.CPU).toBeLessThan(4 * GiB);
    // jest's own children are not ours; the figure is this process (plus descendants, none here but
    // possibly a finished tool being reaped): within 25% of Node's own RSS figure.
    expect(Math.abs(usage.CPU! - own) / own).toBeLessThan(0.25);
  });

  test('a vanished pid counts 0', async () => {
    expect(await readRss(2 ** 22 + 12345)).toBe(0);
  });

  test('descendants are counted: memory held by a grandchild behind sh -c', async () => {
    // sh -> node holding ~64 MiB of touched memory (`; exit 0` keeps sh from exec'ing node in its place).
    const child = spawn('sh', ['-c', `"${process.execPath}" -e "const b=Buffer.alloc(64*1024*1024,1);console.log('ready');setInterval(()=>b[0]++,1000)"; exit 0`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
      const all = await withDescendants([child.pid!]);
      expect(all.length).toBeGreaterThanOrEqual(2);
      const monitor = new DeviceMonitor({ env: { PATH: '/nonexistent' }, cacheMs: 0 });
      const usage = await monitor.usageByPids([child.pid!]);
      expect(usage.CPU).toBeGreaterThan(64 * MiB);
      expect(await readRss(child.pid!)).toBeLessThan(16 * MiB); // the shell alone is small
    } finally {
      // Grandchild first (found while its parent still lives), then the shell; wait for the pipe to close.
      const all = await withDescendants([child.pid!]);
      const closed = new Promise((resolve) => child.once('close', resolve));
      for (const p of all.reverse()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await closed;
    }
  });
});
