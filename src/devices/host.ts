import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DeviceReading } from './types.js';

/**
 * Host RAM as the device `CPU`, and what processes hold of it.
 *
 * Free is MemAvailable (what can be allocated without swapping: free + reclaimable cache), not MemFree.
 * In a container /proc/meminfo shows the host's figures, so a cgroup limit (v2 memory.max, v1
 * memory.limit_in_bytes) lowers both total and free when it is tighter. The cgroup's own usage counts
 * its page cache; inactive file pages are subtracted as the kernel would reclaim them first.
 */
export interface HostPaths {
  /** Default "/proc". */
  procRoot?: string;
  /** Default "/sys/fs/cgroup". */
  cgroupRoot?: string;
}

export function parseMeminfo(text: string): { total: number; available: number } | undefined {
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const total = kb('MemTotal');
  if (total === undefined) return undefined;
  // Kernels before 3.14 have no MemAvailable; free + buffers + cache is the classic approximation.
  const available = kb('MemAvailable') ?? (kb('MemFree') ?? 0) + (kb('Buffers') ?? 0) + (kb('Cached') ?? 0);
  return { total, available };
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

function statField(stat: string | undefined, key: string): number | undefined {
  if (!stat) return undefined;
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(stat);
  return m ? Number(m[1]) : undefined;
}

/** The memory limit and current usage of this process's cgroup, if it has a limit. */
export async function readCgroupMemory(paths: HostPaths = {}): Promise<{ limit: number; used: number } | undefined> {
  const procRoot = paths.procRoot ?? '/proc';
  const cgRoot = paths.cgroupRoot ?? '/sys/fs/cgroup';
  const self = (await readText(path.join(procRoot, 'self/cgroup'))) ?? '';
  // cgroup v2: "0::/some/path"; v1: "N:memory:/some/path".
  const v2 = /^0::(.*)$/m.exec(self)?.[1];
  const v1 = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/m.exec(self)?.[1];
  const candidates: { limit: string; usage: string; stat: string; inactiveKey: string }[] = [];
  for (const rel of [v2, '/'].filter((x): x is string => x !== undefined)) {
    const dir = path.join(cgRoot, rel);
    candidates.push({ limit: path.join(dir, 'memory.max'), usage: path.join(dir, 'memory.current'), stat: path.join(dir, 'memory.stat'), inactiveKey: 'inactive_file' });
  }
  for (const rel of [v1, '/'].filter((x): x is string => x !== undefined)) {
    const dir = path.join(cgRoot, 'memory', rel);
    candidates.push({ limit: path.join(dir, 'memory.limit_in_bytes'), usage: path.join(dir, 'memory.usage_in_bytes'), stat: path.join(dir, 'memory.stat'), inactiveKey: 'total_inactive_file' });
  }
  for (const c of candidates) {
    const limitText = (await readText(c.limit))?.trim();
    if (limitText === undefined) continue;
    const limit = Number(limitText);
    // "max" (v2) or a huge page-aligned number (v1) means no limit.
    if (limitText === 'max' || !Number.isFinite(limit) || limit >= 2 ** 60) return undefined;
    const usage = Number((await readText(c.usage))?.trim() ?? NaN);
    const inactive = statField(await readText(c.stat), c.inactiveKey) ?? 0;
    return { limit, used: Number.isFinite(usage) ? Math.max(0, usage - inactive) : 0 };
  }
  return undefined;
}

export async function readCpuDevice(paths: HostPaths = {}): Promise<DeviceReading> {
  const procRoot = paths.procRoot ?? '/proc';
  const meminfo = parseMeminfo((await readText(path.join(procRoot, 'meminfo'))) ?? '');
  let total = meminfo?.total ?? os.totalmem();
  let free = meminfo?.available ?? os.freemem();
  const cg = await readCgroupMemory(paths);
  if (cg && cg.limit < total) {
    total = cg.limit;
    free = Math.min(free, Math.max(0, cg.limit - cg.used));
  }
  return { name: 'CPU', kind: 'cpu', total, free, label: os.cpus()[0]?.model?.trim() || undefined };
}

/** Resident bytes of one process: VmRSS from /proc/PID/status; 0 for a zombie or a vanished pid. */
export async function readRss(pid: number, paths: HostPaths = {}): Promise<number> {
  const procRoot = paths.procRoot ?? '/proc';
  const status = await readText(path.join(procRoot, String(pid), 'status'));
  if (status !== undefined) {
    const m = /^VmRSS:\s+(\d+)\s*kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : 0; // kernel threads and zombies have no VmRSS line
  }
  // Not Linux (or no /proc): only our own figure is cheap to get.
  if (pid === process.pid && procRoot === '/proc') return process.memoryUsage().rss;
  return 0;
}

/**
 * The given pids and every process descending from them, read from /proc/PID/stat parent links.
 * A child started through `sh -c` or a wrapper holds its memory in a grandchild: counting only the
 * direct child would miss it.
 */
export async function withDescendants(pids: number[], paths: HostPaths = {}): Promise<number[]> {
  const procRoot = paths.procRoot ?? '/proc';
  let entries: string[];
  try {
    entries = (await readdir(procRoot)).filter((e) => /^\d+$/.test(e));
  } catch {
    return [...new Set(pids)];
  }
  const children = new Map<number, number[]>();
  // Read synchronously: a /proc stat file is a few hundred bytes made on demand, and ~100 of them cost ~2.5 ms of
  // CPU this way against ~10 ms as awaited readFile calls (four thread-pool trips each). The router measures right
  // after a load and after its first request, so on a busy 2-core machine that CPU slowed model swaps.
  for (const e of entries) {
    let stat: string;
    try {
      stat = readFileSync(path.join(procRoot, e, 'stat'), 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // The command name may contain spaces and parentheses: fields resume after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    if (!Number.isInteger(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(e));
    children.set(ppid, list);
  }
  const seen = new Set<number>();
  const stack = [...pids];
  while (stack.length) {
    const p = stack.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    stack.push(...(children.get(p) ?? []));
  }
  return [...seen];
}
