/**
 * A child's output is read from FIFOs on a timer (src/supervisor/output-fifo.ts): every line arrives, in order, on
 * its stream, including a burst larger than a pipe holds and the lines printed just before exit; nothing is left
 * behind (no file descriptor, no FIFO on disk).
 */
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { SpawnedProcess } from '../../src/supervisor/spawn.js';

const openFds = () => readdirSync('/proc/self/fd').length;
const leftFifoDirs = () => readdirSync(tmpdir()).filter((n) => n.startsWith('router-output-'));

test('every line of a burst larger than the pipe, on its stream, in order, up to the last one before exit; no fd or FIFO left', async () => {
  const fdsBefore = openFds();
  const dirsBefore = leftFifoDirs();
  const lines: { line: string; stream: string }[] = [];
  // 5,000 lines of ~100 bytes (~500 KB, several pipes' worth) on stdout, a few on stderr, the last one without a newline.
  const script = `
    const pad = 'x'.repeat(90);
    for (let i = 0; i < 5000; i++) process.stdout.write('out ' + i + ' ' + pad + '\\n');
    for (let i = 0; i < 3; i++) process.stderr.write('err ' + i + '\\n');
    process.stdout.write('last words');
  `;
  const proc = new SpawnedProcess({ command: process.execPath, args: ['-e', script], onLine: (line, stream) => lines.push({ line, stream }) });
  await proc.exited;
  await proc.outputEnded(5_000);
  proc.destroyStdio();
  const out = lines.filter((l) => l.stream === 'stdout').map((l) => l.line);
  const err = lines.filter((l) => l.stream === 'stderr').map((l) => l.line);
  expect(out).toHaveLength(5001);
  expect(out.slice(0, 5000).every((l, i) => l.startsWith(`out ${i} `))).toBe(true);
  expect(out[5000]).toBe('last words');
  expect(err).toEqual(['err 0', 'err 1', 'err 2']);
  expect(openFds()).toBe(fdsBefore);
  expect(leftFifoDirs()).toEqual(dirsBefore);
});

test('a command that cannot be run leaves no fd or FIFO behind', async () => {
  const fdsBefore = openFds();
  const proc = new SpawnedProcess({ command: '/nonexistent/server', args: [], onLine: () => {} });
  await proc.exited;
  await proc.outputEnded(2_000);
  proc.destroyStdio();
  expect(openFds()).toBe(fdsBefore);
});
