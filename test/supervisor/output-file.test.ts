import { fstatSync, readdirSync, readlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { OutputFile } from '../../src/supervisor/output-file.js';
import { SpawnedProcess } from '../../src/supervisor/spawn.js';
import { waitFor } from './helpers.js';

const leftovers = () => readdirSync(tmpdir()).filter((f) => f.startsWith(`router-output-${process.pid}-`));

describe('OutputFile', () => {
  it('passes on whole lines, keeps nothing on disk, and gives the last line without its newline at close', () => {
    const lines: string[] = [];
    const out = new OutputFile((l) => lines.push(l));
    try {
      expect(leftovers()).toEqual([]);
      writeSync(out.fd, 'one\r\ntw');
      out.read();
      expect(lines).toEqual(['one']);
      // A UTF-8 sequence split across two writes is decoded whole.
      const euro = Buffer.from('o €', 'utf8');
      writeSync(out.fd, euro.subarray(0, euro.length - 1));
      out.read();
      writeSync(out.fd, Buffer.concat([euro.subarray(euro.length - 1), Buffer.from('\nlast')]));
    } finally {
      out.close();
    }
    expect(lines).toEqual(['one', 'two €', 'last']);
    out.close(); // twice is fine
    expect(() => fstatSync(out.fd)).toThrow(/EBADF/);
  });

  it('is emptied once what was read passes its mark, and goes on reading from the start', () => {
    const lines: string[] = [];
    const out = new OutputFile((l) => lines.push(l), { truncateAt: 100 });
    try {
      writeSync(out.fd, `${'a'.repeat(120)}\n`);
      out.read();
      expect(fstatSync(out.fd).size).toBe(0);
      writeSync(out.fd, 'b\n');
      out.read();
      writeSync(out.fd, 'c\n');
      out.read();
      expect(fstatSync(out.fd).size).toBe(4);
    } finally {
      out.close();
    }
    expect(lines).toEqual(['a'.repeat(120), 'b', 'c']);
  });
});

/** A child printing `count` lines, each its own write, `gapMs` apart; then it waits to be stopped. */
function printer(count: number, gapMs: number, onLine: (line: string) => void): SpawnedProcess {
  const script = `let i = 0; const t = setInterval(() => { require('fs').writeSync(1, 'line ' + i + '\\n'); if (++i === ${count}) clearInterval(t); }, ${gapMs}); process.stdin.resume();`;
  return new SpawnedProcess({ command: process.execPath, args: ['-e', script], onLine });
}

/** How many separate reads delivered the lines: lines handed over in one read arrive in the same turn. */
async function batches(count: number, gapMs: number, relaxed: boolean): Promise<number> {
  let turns = 0;
  let inTurn = false;
  const lines: string[] = [];
  const proc = printer(count, gapMs, (line) => {
    lines.push(line);
    if (inTurn) return;
    inTurn = true;
    turns++;
    setImmediate(() => (inTurn = false));
  });
  try {
    if (relaxed) proc.relax();
    await waitFor(() => lines.length === count, 10_000, `${count} lines`);
  } finally {
    proc.endStdin();
    await proc.exited;
    proc.destroyStdio();
  }
  expect(lines).toEqual(Array.from({ length: count }, (_, i) => `line ${i}`));
  return turns;
}

describe("a child's output", () => {
  it('is read as it is written while the child starts, so a "listening" line is seen at once', async () => {
    // 20 writes 20 ms apart: each is its own read, but for a few a busy machine runs together.
    expect(await batches(20, 20, false)).toBeGreaterThanOrEqual(10);
  });

  it('is read in batches once the child is up: the router is not woken for each line', async () => {
    // 20 writes over ~100 ms: a pipe delivers each on its own; a reading every 100 ms, one to a few batches.
    expect(await batches(20, 5, true)).toBeLessThanOrEqual(4);
  });

  it('ends with every line read when the child is gone, and nothing left behind', async () => {
    const lines: string[] = [];
    const proc = new SpawnedProcess({
      command: process.execPath,
      args: ['-e', "process.stdout.write('a\\nb'); process.stderr.write('oops\\n')"],
      onLine: (line, stream) => lines.push(`${stream}: ${line}`),
    });
    proc.relax();
    await proc.exited;
    proc.destroyStdio();
    expect(lines.sort()).toEqual(['stderr: oops', 'stdout: a', 'stdout: b']);
    expect(leftovers()).toEqual([]);
  });

  it('leaves no file open, also when the command cannot be run', async () => {
    // The router's descriptors on output files ("/tmp/router-output-…-… (deleted)").
    const outputFds = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).includes('/router-output-');
        } catch {
          return false; // closed meanwhile (readdir's own descriptor)
        }
      });
    for (const command of [process.execPath, '/nonexistent/server']) {
      const proc = new SpawnedProcess({ command, args: ['-e', "console.log('hi')"], onLine: () => {} });
      expect(outputFds()).toHaveLength(4);
      await proc.exited;
      proc.destroyStdio();
      expect(outputFds()).toEqual([]);
    }
  });
});
