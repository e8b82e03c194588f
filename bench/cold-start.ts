/**
 * Cold start: a request for an unloaded model through the router, timed to its first byte, minus the
 * child's own start-to-ready time measured in the same run: from the router's spawn (its "ready" record
 * carries how long after the spawn it saw the child ready) to the engine's own "model ready" line (the
 * moment its /health turns 200; the router logs each child line at debug level as it arrives), minus the
 * engine's own time for that request (its access-log line). What is left is the router's share: admission,
 * the spawn itself, noticing readiness (it polls /health), and proxying.
 */
import { startRouter, waitFor, type Started } from './processes.js';
import { firstByte } from './first-byte.js';
import { median } from './stats.js';

export interface ColdStartResult {
  runs: number;
  /** Medians, ms. */
  routerFirstByte: number;
  /** Spawn -> the child's own "model ready" line. */
  childReady: number;
  /** Spawn -> the router saw it ready. */
  routerSawReady: number;
  /** The same request once loaded, through the router. */
  warmFirstByte: number;
  /** The engine's own time for the first request (its access log). */
  childFirstRequest: number;
  /** Median over runs of routerFirstByte - childReady - childFirstRequest. */
  routerShare: number;
  shares: number[];
  /** Warm requests that failed (and were sent again): they are a finding, not a figure. */
  warmFailures: string[];
}

export async function coldStart(opts: { runs: number; modelsDir: string; model: string }, log: (s: string) => void): Promise<ColdStartResult> {
  // The usual set-up: a models folder served by the bundled engine.
  const router = await startRouter([
    '--models-dir', opts.modelsDir, '--server-bin', 'router-engine', '--models-memory-margin', '0', '--log-level', 'debug',
    '--', '-c', '512', '-np', '1', '-t', '1',
  ]);
  try {
    // Let the start-up work (the memory estimate and the engine's dry-run probe) finish first.
    await waitFor('the memory probe', async () => {
      const res = await fetch(`${router.url}/models`);
      const m = ((await res.json()) as { data: { id: string; memory?: { source?: string } }[] }).data.find((x) => x.id === opts.model);
      return m?.memory?.source === 'probe' || m?.memory?.source === 'measured';
    }, 120_000, 100);
    const cold: number[] = [];
    const child: number[] = [];
    const saw: number[] = [];
    const warm: number[] = [];
    const firstServed: number[] = [];
    const shares: number[] = [];
    const warmFailures: string[] = [];
    for (let i = 0; i < opts.runs; i++) {
      log(`cold start: run ${i + 1}/${opts.runs}`);
      await unloaded(router, opts.model);
      const before = router.logs().length;
      const t = await firstByte(router.url, opts.model);
      const w = await warmFirstByte(router.url, opts.model, (e) => warmFailures.push(e));
      // A ready child's lines are read every 100 ms (src/supervisor/spawn.ts): wait for its access-log line.
      const servedLine = /POST \/v1\/chat\/completions 200 (\d+)ms/;
      await waitFor('the access-log line of the first request', async () => router.logs().slice(before).some((r) => servedLine.test(String(r.msg))), 5_000, 20).catch(() => {});
      const recs = router.logs().slice(before);
      const ready = recs.find((r) => r.model === opts.model && r.msg === `${opts.model} ready`);
      const line = recs.find((r) => r.model === opts.model && /model ready in /.test(String(r.msg)));
      if (!ready || !line) throw new Error(`no ready records for ${opts.model} in the router's log`);
      const spawnedAt = Number(ready.time) - Number(ready.ms);
      // The engine's own time for that first request (its access-log line): a fresh model's first
      // request is slower than later ones, and that is the child's cost, not the router's.
      const served = recs.map((r) => servedLine.exec(String(r.msg))).find((m) => m);
      if (!served) throw new Error(`no access-log line of the engine for the first request`);
      cold.push(t);
      warm.push(w);
      firstServed.push(Number(served[1]));
      saw.push(Number(ready.ms));
      child.push(Number(line.time) - spawnedAt);
      shares.push(t - child[i]! - firstServed[i]!);
    }
    return {
      runs: opts.runs,
      routerFirstByte: median(cold),
      childReady: median(child),
      routerSawReady: median(saw),
      warmFirstByte: median(warm),
      childFirstRequest: median(firstServed),
      routerShare: median(shares),
      shares,
      warmFailures,
    };
  } catch (err) {
    log(`cold start failed; the router's last lines:\n${router.output().split('\n').slice(-15).join('\n')}`);
    throw err;
  } finally {
    await router.stop();
  }
}

/** The warm request, sent again (up to 3 times) when it fails; each failure is reported. */
async function warmFirstByte(url: string, model: string, failed: (e: string) => void): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await firstByte(url, model);
    } catch (err) {
      failed((err as Error).message);
      if (attempt === 3) throw err;
    }
  }
}

async function unloaded(router: Started, model: string): Promise<void> {
  const res = await fetch(`${router.url}/models/unload`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model }),
  });
  await res.arrayBuffer();
  await waitFor(`${model} unloaded`, async () => {
    const r = await fetch(`${router.url}/models`);
    const m = ((await r.json()) as { data: { id: string; status: { value: string } }[] }).data.find((x) => x.id === model);
    return m?.status.value === 'unloaded';
  });
}
