import treeKill from 'tree-kill';
import { oncePer } from './once.js';
import { listDescendants, pidAlive, processGroupAlive, type ProcStat } from './process-group.js';
import type { SpawnedProcess } from './spawn.js';

/** How often stop polls /proc for the group to be gone. */
const POLL_MS = 20;
/** After SIGKILL, how long to wait for the kernel to finish (a process in uninterruptible sleep, e.g. in a GPU driver call, dies only when the call returns). */
const KILL_WAIT_MS = 10_000;

/**
 * Signal every process of group `pgid`. False if no member could be signalled: ESRCH (the group is empty) or
 * EPERM (a member changed credentials, e.g. a setuid helper). Never throws: stop() must always get to its wait.
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

function killStraggler(p: ProcStat, signal: NodeJS.Signals): void {
  // Check identity first: after the snapshot the pid could have been reused by an unrelated process.
  if (!pidAlive(p.pid, p.startTime)) return;
  // tree-kill walks the straggler's children with ps before signalling, so it also catches ones forked after our
  // snapshot (once the straggler is dead its children are re-parented and can no longer be found from it).
  treeKill(p.pid, signal, () => {
    // Fallback when ps is missing or failed: the snapshot still lists this process.
    if (pidAlive(p.pid, p.startTime)) {
      try {
        process.kill(p.pid, signal);
      } catch {
        // Gone in between.
      }
    }
  });
}

export interface StopResult {
  /** SIGKILL was needed. */
  escalated: boolean;
  /** Everything we knew of was gone when we returned (false only if processes survived SIGKILL for KILL_WAIT_MS). */
  gone: boolean;
}

/**
 * SIGTERM to the process group (and stdin EOF), SIGKILL to the group after `timeoutMs`, and the same to the
 * "stragglers": descendants that left the group with setsid/setpgid, which a group signal misses. Stragglers can
 * only be found while their parent is alive (an orphan is re-parented to PID 1 and its ancestry is lost), so they
 * are listed before anything is signalled. Resolves once the direct child has exited and no live (non-zombie)
 * process of the group or of the stragglers is left.
 */
export async function stopProcessGroup(proc: SpawnedProcess, timeoutMs: number): Promise<StopResult> {
  const pid = proc.pid;
  if (pid === undefined) return { escalated: false, gone: true };
  const pgid = pid; // detached: the child leads its own group
  const stragglers = proc.hasExited ? [] : listDescendants(pid).filter((p) => p.pgid !== pgid);
  const gone = () => proc.hasExited && !processGroupAlive(pgid) && stragglers.every((p) => !pidAlive(p.pid, p.startTime));

  if (gone()) return { escalated: false, gone: true };
  signalGroup(pgid, 'SIGTERM');
  for (const p of stragglers) killStraggler(p, 'SIGTERM');
  proc.endStdin();
  if (await waitUntil(gone, timeoutMs, proc.exited)) return { escalated: false, gone: true };

  signalGroup(pgid, 'SIGKILL');
  for (const p of stragglers) killStraggler(p, 'SIGKILL');
  return { escalated: true, gone: await waitUntil(gone, KILL_WAIT_MS) };
}

/** stopProcessGroup, once per process: stop() during a crash cleanup or a failed start shares the same stop. */
export const stopOnce: (proc: SpawnedProcess, timeoutMs: number) => Promise<StopResult> = oncePer(stopProcessGroup);

/**
 * Polls `condition` every POLL_MS until it holds or `timeoutMs` passed. `wake` (the direct child's exit) cuts the
 * current wait short once: a child that exits on SIGTERM in 2 ms was otherwise seen gone only at the next poll,
 * up to 20 ms later, and a model swap waits for that.
 */
async function waitUntil(condition: () => boolean, timeoutMs: number, wake?: Promise<unknown>): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let woke = false;
  let wakeNow: (() => void) | undefined;
  void wake?.then(() => {
    woke = true;
    wakeNow?.();
  });
  for (;;) {
    if (condition()) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.min(POLL_MS, left));
      wakeNow = woke
        ? undefined
        : () => {
            clearTimeout(timer);
            resolve();
          };
    });
    wakeNow = undefined;
  }
}
