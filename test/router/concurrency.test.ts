/**
 * Per-model concurrency limits and the GPU lock, proved at the child: the bundled engine logs a line when a
 * request takes a slot (with how many are in flight) and one before its answer's last bytes leave (slot-trace.ts),
 * and the tests read them through the router's `GET /logs/:model`. Every engine runs with `--parallel 8`, so
 * whatever holds requests back is the router's queue, not the child's.
 */
import { chat, json, models, processesMentioning, startRouter, waitFor, type RunningRouter } from '../helpers/router.js';
import { LONG, modelsDir, presetFile } from './fixtures.js';

const CHILD_FLAGS = ['--', '--ctx-size', '1024', '--parallel', '8', '--threads', '1'];
/** Long enough that several requests overlap at the child unless something holds them back. */
const WORK = { max_tokens: 48, ignore_eos: true };

interface Interval {
  model: string;
  slot: number;
  inFlight: number;
  start: number;
  end: number;
}

/** The child's start/end pairs, from the router's copy of its output. */
async function intervals(url: string, model: string): Promise<Interval[]> {
  const { lines } = await json(await fetch(`${url}/logs/${model}?format=json`));
  const open = new Map<number, { inFlight: number; start: number }>();
  const out: Interval[] = [];
  for (const line of lines as string[]) {
    const s = /slot (\d+) start, (\d+) in flight, t=(\d+)/.exec(line);
    if (s) {
      expect(open.has(Number(s[1]))).toBe(false);
      open.set(Number(s[1]), { inFlight: Number(s[2]), start: Number(s[3]) });
      continue;
    }
    const e = /slot (\d+) end, t=(\d+)/.exec(line);
    if (e) {
      const o = open.get(Number(e[1]));
      if (!o) throw new Error(`end without start: ${line}`);
      open.delete(Number(e[1]));
      out.push({ model, slot: Number(e[1]), ...o, end: Number(e[2]) });
    }
  }
  return out;
}

/** Wait until the router has read `n` finished requests from the child's output. */
async function finished(url: string, model: string, n: number): Promise<Interval[]> {
  return waitFor(`${n} finished requests in ${model}'s log`, async () => {
    const all = await intervals(url, model);
    return all.length >= n ? all : undefined;
  });
}

/** Pairs of intervals that overlap in time (ends are logged before the answer leaves, so touching is not overlap). */
function overlaps(all: Interval[]): [Interval, Interval][] {
  const out: [Interval, Interval][] = [];
  for (let i = 0; i < all.length; i++)
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i]!;
      const b = all[j]!;
      if (a.start < b.end && b.start < a.end) out.push([a, b]);
    }
  return out;
}

async function ok(res: Response): Promise<any> {
  const body = await json(res);
  if (res.status !== 200) throw new Error(`${res.status}: ${JSON.stringify(body)}`);
  expect(body.choices[0].message.content).toEqual(expect.any(String));
  return body;
}

async function load(url: string, model: string): Promise<void> {
  const res = await fetch(`${url}/models/load`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model }) });
  expect(res.status).toBe(200);
}

function entry(list: any[], id: string): any {
  return list.find((m) => m.id === id);
}

describe('concurrency = 2 on an engine that would take 8', () => {
  let r: RunningRouter;
  let dir: string;

  beforeAll(async () => {
    dir = await modelsDir(['narrow', 'wide']);
    const preset = presetFile(dir, '[narrow]\nconcurrency = 2\n');
    r = await startRouter(['--models-dir', dir, '--models-preset', preset, '--models-max', '2', '--models-memory-margin', '0', ...CHILD_FLAGS]);
    await load(r.url, 'narrow');
    await load(r.url, 'wide');
  }, 60_000);
  afterAll(async () => {
    expect(await r.stop()).toBe(0);
    expect(processesMentioning(dir)).toEqual([]);
  });

  test('five at once: never more than two at the child, the rest queued in the router, all succeed', async () => {
    expect(entry(await models(r.url), 'narrow')).toMatchObject({ concurrency: 2 });
    const requests = Array.from({ length: 5 }, () => chat(r.url, 'narrow', WORK).then(ok));
    // The router's own view while the limit holds: two in flight, the rest waiting with the reason.
    const seen = await waitFor('narrow with requests queued behind its limit', async () => {
      const m = entry(await models(r.url), 'narrow');
      return m.queued > 0 ? m : undefined;
    });
    expect(seen.in_flight).toBeLessThanOrEqual(2);
    expect(seen.waiting_for).toMatch(/concurrency limit \(2 in flight\)/);
    await Promise.all(requests);

    const all = await finished(r.url, 'narrow', 5);
    expect(all).toHaveLength(5);
    expect(Math.max(...all.map((i) => i.inFlight))).toBeLessThanOrEqual(2);
    const after = entry(await models(r.url), 'narrow');
    expect(after).toMatchObject({ in_flight: 0, queued: 0 });
  }, 120_000);

  test('control: without the limit the same load reaches more than two at the child', async () => {
    expect(entry(await models(r.url), 'wide').concurrency).toBeUndefined();
    await Promise.all(Array.from({ length: 5 }, () => chat(r.url, 'wide', WORK).then(ok)));
    const all = await finished(r.url, 'wide', 5);
    expect(Math.max(...all.map((i) => i.inFlight))).toBeGreaterThan(2);
  }, 120_000);
});
