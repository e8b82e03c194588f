/**
 * A child's output is read from one unlinked file (src/supervisor/output-file.ts): every line, in the order
 * written across stdout and stderr; as it is written while the child starts, in batches once it is up; the rest
 * when it is gone; nothing left behind; bounded when the child floods it or when someone else empties it.
 */
import { fstatSync, ftruncateSync, readdirSync, readlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { OutputFile, OutputFileError } from '../../src/supervisor/output-file.js';
import { SpawnedProcess } from '../../src/supervisor/spawn.js';
import { waitFor } from './helpers.js';

const leftovers = () => readdirSync(tmpdir()).filter((f) => f.startsWith(`router-output-${process.pid}-`));

/** The output files this process has open, by what their descriptors point at (each name is unique). */
function openOutputs(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.includes('/router-output-')) out.push(target);
    } catch {
      // closed meanwhile (readdir's own descriptor)
    }
  }
  return out;
}

describe('OutputFile', () => {
  it('passes on whole lines, keeps nothing on disk, is watched by inotify, and gives the last line without its newline at close', () => {
    const lines: string[] = [];
    const out = new OutputFile((l) => lines.push(l));
    try {
      expect(out.watched).toBe(true);
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

  it('is emptied once a read reaches its end past the mark, and goes on reading from the start', () => {
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

  it('reads from the start again when the file is emptied under it, passing on the line it cut short', () => {
    // As a wrapper's `echo … > /dev/stderr` does: it opens the file again with O_TRUNC (here: through the child's end).
    const lines: string[] = [];
    const out = new OutputFile((l) => lines.push(l));
    try {
      writeSync(out.fd, 'done\nloading....');
      out.read();
      ftruncateSync(out.fd, 0);
      writeSync(out.fd, 'exited 1\n');
      out.read();
    } finally {
      out.close();
    }
    expect(lines).toEqual(['done', 'loading....', 'exited 1']);
  });

  it('reads a burst larger than its budget to the end on the following turns, without another write', async () => {
    const lines: string[] = [];
    const out = new OutputFile((l) => lines.push(l), { readBudget: 1000 });
    out.relax(); // no inotify events from here on: only the reads it makes itself
    try {
      writeSync(out.fd, `${Array.from({ length: 30 }, (_, i) => `line ${i} ${'x'.repeat(90)}`).join('\n')}\nlistening\n`);
      out.read();
      expect(lines.length).toBeLessThan(11);
      await waitFor(() => lines.at(-1) === 'listening', 2_000, 'the last line of the burst');
      expect(lines).toHaveLength(31);
    } finally {
      out.close();
    }
  });

  it('at close, reads what is left to its end, skipping all but the last budget with a line that says so', () => {
    const lines: string[] = [];
    const out = new OutputFile((l) => lines.push(l), { readBudget: 1000, skipAt: 5000 });
    writeSync(out.fd, `${Array.from({ length: 30 }, (_, i) => `line ${String(i).padStart(4, '0')} ${'x'.repeat(89)}`).join('\n')}\nFATAL: out of memory`);
    out.close();
    expect(lines[0]).toMatch(/^router: \d+ bytes of this output skipped/);
    expect(lines.at(-1)).toBe('FATAL: out of memory');
    expect(lines.at(-2)).toBe(`line 0029 ${'x'.repeat(89)}`);
  });

  it('reads at most its budget a call, and drops what a flood left far behind, saying so', () => {
    const lines: string[] = [];
    const out = new OutputFile((l) => lines.push(l), { readBudget: 1000, skipAt: 5000 });
    try {
      const line = (i: number) => `line ${String(i).padStart(4, '0')} ${'x'.repeat(89)}\n`; // 100 bytes
      writeSync(out.fd, Array.from({ length: 30 }, (_, i) => line(i)).join(''));
      out.read();
      expect(lines).toHaveLength(10); // 1,000 bytes a call
      writeSync(out.fd, Array.from({ length: 70 }, (_, i) => line(30 + i)).join(''));
      out.read(); // 9,000 bytes behind after reading 1,000: the rest is dropped and the file emptied
      expect(lines).toHaveLength(21);
      expect(lines[20]).toBe('router: 8000 bytes of this output skipped (written faster than read)');
      expect(fstatSync(out.fd).size).toBe(0);
      writeSync(out.fd, 'after\n');
      out.read();
    } finally {
      out.close();
    }
    expect(lines.at(-1)).toBe('after');
  });

  it('cannot be made in a missing directory: a clear error', () => {
    expect(() => new OutputFile(() => {}, { dir: '/nonexistent/router-tmp' })).toThrow(OutputFileError);
    expect(() => new OutputFile(() => {}, { dir: '/nonexistent/router-tmp' })).toThrow(/^no file for its output in \/nonexistent\/router-tmp \(ENOENT/);
  });
});

/** A child printing `count` lines, each its own write and stamped with its own clock, `gapMs` apart. */
function printer(count: number, gapMs: number, onLine: (line: string) => void): SpawnedProcess {
  const script = `let i = 0; const t = setInterval(() => { require('fs').writeSync(1, i + ' ' + Date.now() + '\\n'); if (++i === ${count}) clearInterval(t); }, ${gapMs}); process.stdin.resume();`;
  return new SpawnedProcess({ command: process.execPath, args: ['-e', script], onLine });
}

/** How many separate reads delivered the lines (lines handed over in one read arrive in the same turn), and how
 * long the child took to print them by its own clock. */
async function batches(count: number, gapMs: number, relaxed: boolean): Promise<{ turns: number; spanMs: number }> {
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
  expect(lines.map((l) => Number(l.split(' ')[0]))).toEqual(Array.from({ length: count }, (_, i) => i));
  const stamps = lines.map((l) => Number(l.split(' ')[1]));
  return { turns, spanMs: stamps.at(-1)! - stamps[0]! };
}

describe("a child's output", () => {
  it('is read as it is written while the child starts, so a "listening" line is seen at once', async () => {
    // 20 writes 20 ms apart: each is its own read, but for a few a busy machine runs together; read every 100 ms
    // instead, they would come in 4 to 6 turns.
    const { turns } = await batches(20, 20, false);
    expect(turns).toBeGreaterThanOrEqual(8);
  });

  it('is read in batches once the child is up: the router is not woken for each line', async () => {
    // 20 writes a few ms apart: a pipe delivers each on its own (20 turns); a reading every 100 ms, one per 100 ms
    // of the child's printing, and one more for the tick that split it.
    const { turns, spanMs } = await batches(20, 3, true);
    expect(turns).toBeLessThanOrEqual(Math.ceil(spanMs / 100) + 1);
    expect(turns).toBeLessThan(20);
  });

  it("keeps stdout's and stderr's lines in the order written, up to the last one before exit, and leaves nothing behind", async () => {
    const lines: string[] = [];
    const script = "for (let i = 0; i < 50; i++) require('fs').writeSync(1 + (i % 2), (i % 2 ? 'err ' : 'out ') + i + '\\n'); process.stdout.write('last words')";
    const proc = new SpawnedProcess({ command: process.execPath, args: ['-e', script], onLine: (line) => lines.push(line) });
    proc.relax();
    await proc.exited;
    proc.destroyStdio();
    expect(lines).toEqual([...Array.from({ length: 50 }, (_, i) => `${i % 2 ? 'err' : 'out'} ${i}`), 'last words']);
    expect(leftovers()).toEqual([]);
  });

  it('leaves no file open, also when the command cannot be run', async () => {
    const before = openOutputs();
    for (const command of [process.execPath, '/nonexistent/server']) {
      const proc = new SpawnedProcess({ command, args: ['-e', "console.log('hi')"], onLine: () => {} });
      expect(openOutputs().filter((f) => !before.includes(f))).toHaveLength(2); // the child's end and ours
      await proc.exited;
      proc.destroyStdio();
      expect(openOutputs()).toEqual(before);
    }
  });

  it('a start that cannot make its output file fails as a spawn, naming the directory, not the command', async () => {
    // In a router of its own: os.tmpdir() reads the real process's TMPDIR, which a test's process.env is not.
    const script = `
      const { Child } = await import(${JSON.stringify(new URL('../../dist/src/supervisor/index.js', import.meta.url).href)});
      const child = new Child({ name: 'm', command: process.execPath, args: (port) => ['-e', ''], loadTimeoutMs: 5000, stopTimeoutMs: 1000 });
      try { await child.start(); console.log('started'); } catch (e) { console.log(JSON.stringify({ reason: e.reason, message: e.message })); }
      await child.stop();`;
    const { stdout } = await execa(process.execPath, ['--input-type=module', '-e', script], { env: { TMPDIR: '/nonexistent/router-tmp' } });
    const err = JSON.parse(stdout) as { reason: string; message: string };
    expect(err.reason).toBe('spawn');
    expect(err.message).toMatch(new RegExp(`could not start ${process.execPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no file for its output in /nonexistent/router-tmp \\(ENOENT`));
  });
});
