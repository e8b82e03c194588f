import { readdirSync, readFileSync } from 'node:fs';

/**
 * Reading /proc to see which processes are really alive. `kill(pid, 0)` is not enough here: PID 1 in these
 * sandboxes (and in many containers) does not reap, so a killed grandchild that was re-parented to it stays a
 * zombie forever and kill(pid, 0) keeps saying "alive". A zombie holds no memory, no ports and no GPU, so for us
 * it is gone: state Z (zombie) and X (dead) count as gone.
 */
export interface ProcStat {
  pid: number;
  /** Single-letter state: R running, S sleeping, D disk sleep, T stopped, Z zombie, X dead, ... */
  state: string;
  ppid: number;
  pgid: number;
  /** Clock ticks since boot at which the process started: with pid, identifies a process across pid reuse. */
  startTime: number;
}

export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ..."; comm may itself contain spaces and parentheses, so split after the last ')'.
  const close = text.lastIndexOf(')');
  if (close === -1) return undefined;
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 of proc(5) (state); starttime is field 22.
  return {
    pid,
    state: fields[0] ?? '?',
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    startTime: Number(fields[19]),
  };
}

function isGone(stat: ProcStat | undefined): boolean {
  return stat === undefined || stat.state === 'Z' || stat.state === 'X';
}

/** Every live (non-zombie) process, read from /proc. */
export function listProcesses(): ProcStat[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: ProcStat[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (!isGone(stat)) out.push(stat!);
  }
  return out;
}

/** Is this pid a live process (not a zombie)? Pass startTime to make sure it is still the same process. */
export function pidAlive(pid: number, startTime?: number): boolean {
  const stat = readProcStat(pid);
  if (isGone(stat)) return false;
  return startTime === undefined || stat!.startTime === startTime;
}

/** Live members of process group `pgid`. */
export function listGroupPids(pgid: number): number[] {
  return listProcesses()
    .filter((p) => p.pgid === pgid)
    .map((p) => p.pid);
}

/** Does process group `pgid` still have a live member? */
export function processGroupAlive(pgid: number): boolean {
  // No member at all, not even a zombie: known without reading /proc (a scan costs ~2.5 ms per 100 processes,
  // and stop() asks at every poll).
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  return listGroupPids(pgid).length > 0;
}

/** Live descendants of `pid` (children, their children, ...), found through parent links. */
export function listDescendants(pid: number): ProcStat[] {
  const all = listProcesses();
  const byParent = new Map<number, ProcStat[]>();
  for (const p of all) {
    const siblings = byParent.get(p.ppid);
    if (siblings) siblings.push(p);
    else byParent.set(p.ppid, [p]);
  }
  const out: ProcStat[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of byParent.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child.pid);
    }
  }
  return out;
}
