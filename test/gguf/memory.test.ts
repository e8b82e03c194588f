/**
 * The writer streams: making a 200 MB model must not hold it in memory. Measured in child processes by the peak
 * RSS (VmHWM) at exit, against the same script making a ~1 MB model (the Node baseline).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { buildGguf } from './build.js';

const run = promisify(execFile);
const MiB = 2 ** 20;
let dir: string;
let probe: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gguf-mem-'));
  const tinyModel = pathToFileURL(join(buildGguf(), 'src', 'gguf', 'tiny-model.js')).href;
  const reader = pathToFileURL(join(buildGguf(), 'src', 'gguf', 'reader.js')).href;
  probe = join(dir, 'probe.mjs');
  writeFileSync(
    probe,
    `import { readFileSync } from 'node:fs';
import { makeTinyModel } from ${JSON.stringify(tinyModel)};
import { readGgufHeader } from ${JSON.stringify(reader)};
const [out, sizeMb] = process.argv.slice(2);
const t = performance.now();
const info = await makeTinyModel(out, { sizeMb: Number(sizeMb) });
const writeMs = performance.now() - t;
const header = await readGgufHeader(out);
const hwm = Number(/VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
console.log(JSON.stringify({ bytes: info.bytes, tensors: header.tensors.length, peakRss: hwm, writeMs }));
`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function measure(sizeMb: number): Promise<{ bytes: number; peakRss: number; writeMs: number }> {
  const out = join(dir, `m${sizeMb}.gguf`);
  const { stdout } = await run(process.execPath, [probe, out, String(sizeMb)], { timeout: 60_000 });
  rmSync(out);
  return JSON.parse(stdout) as { bytes: number; peakRss: number; writeMs: number };
}

test('peak RSS while writing (and reading the header of) a 200 MB model stays near the Node baseline', async () => {
  const baseline = await measure(1);
  const big = await measure(200);
  console.log(
    `peak RSS: ${(baseline.peakRss / MiB).toFixed(1)} MiB for a 1 MB model, ${(big.peakRss / MiB).toFixed(1)} MiB for ` +
      `${(big.bytes / MiB).toFixed(0)} MiB written in ${big.writeMs.toFixed(0)} ms`,
  );
  expect(big.bytes).toBeGreaterThan(160 * MiB);
  expect(big.peakRss).toBeLessThan(big.bytes / 2);
  expect(big.peakRss - baseline.peakRss).toBeLessThan(32 * MiB);
});
