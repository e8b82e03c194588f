import { spawn } from 'node:child_process';
import { listDescendants, listGroupPids, pidAlive, processGroupAlive, readProcStat } from '../../src/supervisor/process-group.js';
import { waitFor } from './helpers.js';

describe('process-group (/proc)', () => {
  it('reads our own stat line', () => {
    const me = readProcStat(process.pid)!;
    expect(me.ppid).toBe(process.ppid);
    expect(me.state).toMatch(/^[RS]$/);
    expect(listGroupPids(me.pgid)).toContain(process.pid);
    expect(processGroupAlive(me.pgid)).toBe(true);
  });

  it('unknown pids and groups are not alive', () => {
    expect(readProcStat(2 ** 30)).toBeUndefined();
    expect(pidAlive(2 ** 30)).toBe(false);
    expect(processGroupAlive(2 ** 30)).toBe(false);
  });

  it('counts a zombie as gone, where kill(pid, 0) would call it alive', async () => {
    // `sleep 0` is a child of the shell, which then execs into `sleep 30` and never reaps it: a zombie until the
    // group ends, as a killed grandchild under a non-reaping PID 1 is. (30 s: the checks must run while it lives;
    // the finally kills the group.)
    const sh = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
    try {
      const zombie = await new Promise<number>((resolve) => sh.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
      await waitFor(() => readProcStat(zombie)?.state === 'Z', 3000, 'sleep 0 to become a zombie');
      expect(() => process.kill(zombie, 0)).not.toThrow();
      expect(pidAlive(zombie)).toBe(false);
      expect(listGroupPids(sh.pid!)).toEqual([sh.pid]);
      expect(listDescendants(sh.pid!)).toEqual([]);
    } finally {
      process.kill(-sh.pid!, 'SIGKILL');
    }
  });

  it('pidAlive with a start time tells a reused pid from the original', () => {
    const me = readProcStat(process.pid)!;
    expect(pidAlive(process.pid, me.startTime)).toBe(true);
    expect(pidAlive(process.pid, me.startTime + 1)).toBe(false);
  });
});
