/** scripts/make-model.ts as users run it, from a transpiled copy (see build.ts). */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufHeader } from '../../src/gguf/reader.js';
import { buildGguf } from './build.js';

let cli: string;
let dir: string;
beforeAll(() => {
  cli = join(buildGguf(), 'scripts', 'make-model.js');
  dir = mkdtempSync(join(tmpdir(), 'gguf-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function makeModel(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

test('writes a model and says what it wrote', async () => {
  const out = join(dir, 'm.gguf');
  const r = await makeModel(out, '--size-mb', '2', '--seed', '9', '--ctx', '4096');
  expect(r.code).toBe(0);
  expect(r.stderr).toBe('');
  const bytes = statSync(out).size;
  expect(r.stdout).toContain(`wrote ${out}: ${(bytes / 2 ** 20).toFixed(2)} MiB (${bytes} bytes)`);
  expect(r.stdout).toMatch(/embd \d+ x \d+ layers, ff \d+, heads \d+ \(kv \d+\), vocab 262, ctx 4096, F16, seed 9/);
  const h = await readGgufHeader(out);
  expect(h.metadata['llama.context_length']).toBe(4096);
  expect(Math.abs(bytes / (2 * 2 ** 20) - 1)).toBeLessThan(0.2);
});

test('explicit shape and --f32', async () => {
  const out = join(dir, 'shape.gguf');
  const r = await makeModel(out, '--embd', '64', '--layers', '3', '--f32');
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('embd 64 x 3 layers');
  expect(r.stdout).toContain('F32');
});

test.each([
  [[], /missing output path/],
  [['a.gguf', 'b.gguf'], /exactly one output path/],
  [['x.gguf', '--bogus'], /Unknown option '--bogus'/],
  [['x.gguf', '--size-mb'], /argument missing/],
  [['x.gguf', '--size-mb', 'lots'], /--size-mb must be a positive number/],
  [['x.gguf', '--seed', '1.5'], /--seed must be a non-negative integer/],
  [['x.gguf', '--embd', '100'], /embd must be a multiple of 64/],
  [['x.gguf', '--layers', '0'], /layers must be an integer/],
  [['x.gguf', '--size-mb', '0'], /sizeMb must be a number/],
])('bad arguments %j: usage on stderr, exit code 2, no file', async (args, message) => {
  const r = await makeModel(...(args as string[]).map((a) => (a.endsWith('.gguf') ? join(dir, a) : a)));
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(message);
  expect(r.stderr).toContain('usage: npm run make-model -- OUT.gguf [options]');
  expect(() => statSync(join(dir, 'x.gguf'))).toThrow();
});

test('--help prints the usage on stdout and exits 0', async () => {
  const r = await makeModel('--help');
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('--size-mb N');
});
