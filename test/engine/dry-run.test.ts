/**
 * --dry-run is the router's memory probe: the difference between two models' figures must track the difference
 * in the real resident memory of engines serving them (within 25%), and it must not load the weights.
 */
import { execa } from 'execa';
import { tinyModel } from '../helpers/models.js';
import { rssBytes } from '../helpers/router.js';
import { engineArgv, postJson, startEngine, stopAll } from './harness.js';


afterAll(async () => {
  await stopAll();
});

interface DryRun {
  devices: Record<string, number>;
  model: number;
  context: number;
  ctx_size: number;
  parallel: number;
}

async function dryRun(model: string, args: string[] = []): Promise<{ report: DryRun; ms: number }> {
  const started = Date.now();
  const res = await execa(process.execPath, engineArgv(['-m', model, '--dry-run', ...args]));
  const lines = res.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return { report: JSON.parse(lines[0]!) as DryRun, ms: Date.now() - started };
}

async function servedRss(model: string): Promise<number> {
  const engine = await startEngine(['-m', model]);
  await engine.waitReady();
  const { status } = await postJson(`${engine.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 });
  expect(status).toBe(200);
  const rss = rssBytes(engine.pid);
  await engine.stop();
  return rss;
}

const MB = 1024 * 1024;

describe('--dry-run', () => {
  it('prints one JSON line with per-device memory and the flags it assumed', async () => {
    const model = await tinyModel();
    const { report } = await dryRun(model, ['-c', '1024', '-np', '2', '--flash-attn']);
    expect(Object.keys(report.devices)).toEqual(['CPU']);
    expect(report.ctx_size).toBe(1024);
    expect(report.parallel).toBe(2);
    expect(report.devices.CPU).toBeGreaterThan(report.model + report.context);
  });

  it('tracks the real RSS difference between a 50 MB and a 200 MB model within 25%', async () => {
    const small = await tinyModel({ sizeMb: 50 });
    const large = await tinyModel({ sizeMb: 200 });
    const [drySmall, dryLarge] = [await dryRun(small), await dryRun(large)];
    const [rssSmall, rssLarge] = [await servedRss(small), await servedRss(large)];
    const dryDelta = dryLarge.report.devices.CPU! - drySmall.report.devices.CPU!;
    const rssDelta = rssLarge - rssSmall;
    const table = [
      ['model', 'dry-run CPU MB', 'RSS MB'],
      ['small', (drySmall.report.devices.CPU! / MB).toFixed(1), (rssSmall / MB).toFixed(1)],
      ['large', (dryLarge.report.devices.CPU! / MB).toFixed(1), (rssLarge / MB).toFixed(1)],
      ['delta', (dryDelta / MB).toFixed(1), (rssDelta / MB).toFixed(1)],
    ];
    process.stderr.write(`dry-run vs RSS\n${table.map((r) => r.join('\t')).join('\n')}\n`);
    expect(rssDelta).toBeGreaterThan(100 * MB);
    expect(Math.abs(dryDelta - rssDelta) / rssDelta).toBeLessThan(0.25);
    // The absolute figures are in the right place too (runtime base and per-model overhead included).
    expect(Math.abs(drySmall.report.devices.CPU! - rssSmall) / rssSmall).toBeLessThan(0.25);
    expect(Math.abs(dryLarge.report.devices.CPU! - rssLarge) / rssLarge).toBeLessThan(0.25);
  }, 90_000);
});
