/**
 * Cold start: a request for an unloaded model through the router, timed to its first byte, against
 * the same engine started directly (spawn to /health 200, polled every 2 ms) plus the same request
 * sent to it: the difference is what the router adds to a cold request.
 */
import { ENGINE_BIN, startProcess, startRouter, untilHealthy, waitFor, type Started } from './processes.js';
import { firstByte } from './first-byte.js';
import { median } from './stats.js';

export interface ColdStartResult {
  runs: number;
  /** Medians, ms. */
  routerFirstByte: number;
  directReady: number;
  directFirstByte: number;
  /** The router's own spawn -> ready as it saw it (its "ready" log record). */
  routerSawReady: number;
  /** Median over runs of routerFirstByte - (directReady + directFirstByte). */
  routerShare: number;
  shares: number[];
}

export async function coldStart(opts: { runs: number; modelsDir: string; model: string; modelPath: string }, log: (s: string) => void): Promise<ColdStartResult> {
  const engineArgs = ['-c', '512', '-np', '1', '-t', '1'];
  // The usual set-up: a models folder served by the bundled engine.
  const router = await startRouter([
    '--models-dir', opts.modelsDir, '--server-bin', 'router-engine', '--models-memory-margin', '0',
    '--', ...engineArgs,
  ]);
  try {
    // Let the start-up work (the memory estimate and the engine's dry-run probe) finish first.
    await waitFor('the memory probe', async () => {
      const res = await fetch(`${router.url}/models`);
      const m = ((await res.json()) as { data: { id: string; memory?: { source?: string } }[] }).data.find((x) => x.id === opts.model);
      return m?.memory?.source === 'probe' || m?.memory?.source === 'measured';
    }, 60_000, 100);
    const routed: number[] = [];
    const sawReady: number[] = [];
    const ready: number[] = [];
    const direct: number[] = [];
    const shares: number[] = [];
    for (let i = 0; i < opts.runs; i++) {
      log(`cold start: run ${i + 1}/${opts.runs}`);
      const throughRouter = async () => {
        await unloaded(router, opts.model);
        const before = router.logs().length;
        const t = await firstByte(router.url, opts.model);
        const rec = router.logs().slice(before).find((r) => r.model === opts.model && String(r.msg).endsWith('ready'));
        routed.push(t);
        sawReady.push(Number(rec?.ms));
      };
      const directly = async () => {
        const engine = await startProcess([ENGINE_BIN, '--model', opts.modelPath, '--host', '127.0.0.1', '--port', '${PORT}', ...engineArgs]);
        try {
          ready.push(await untilHealthy(engine, 60_000));
          direct.push(await firstByte(engine.url, opts.model));
        } finally {
          await engine.stop();
        }
      };
      // Alternate the order so that neither side always runs on a machine warmed by the other.
      if (i % 2 === 0) {
        await throughRouter();
        await directly();
      } else {
        await directly();
        await throughRouter();
      }
      shares.push(routed[i]! - ready[i]! - direct[i]!);
    }
    return {
      runs: opts.runs,
      routerFirstByte: median(routed),
      directReady: median(ready),
      directFirstByte: median(direct),
      routerSawReady: median(sawReady),
      routerShare: median(shares),
      shares,
    };
  } finally {
    await router.stop();
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
