/** CPU time of processes, from /proc (Linux): what a proxy spent, read around a measured round. */
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/**
 * CPU time of one process in ms, all its threads (node's GC and libuv threads too), 0 when it is gone. From each
 * thread's schedstat (nanoseconds): utime/stime count 10 ms ticks, too coarse for a round of a few hundred
 * requests at a few hundred microseconds each.
 */
export function cpuMs(pid: number): number {
  try {
    let ns = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1e6;
  } catch {
    return ticksMs(pid);
  }
}

/** utime + stime (10 ms ticks): where schedstat is not there. */
function ticksMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/** The direct children of a process (nginx's workers). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

export const totalCpuMs = (pids: number[]): number => pids.reduce((s, p) => s + cpuMs(p), 0);
