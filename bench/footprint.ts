/**
 * Footprint: the router's resident memory idle and with many streams held open through it, and its
 * start-up time and memory with a models folder of 500 GGUF files.
 */
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { FAST_UPSTREAM, rssMiB, startRouter, untilHealthy, waitFor, startProcess, ROUTER_BIN } from './processes.js';

export interface StreamsResult {
  /** Streams asked for, and held open at once (each had its first chunk). */
  wanted: number;
  open: number;
  ulimitN: string;
  idleRssMiB: number;
  loadedIdleRssMiB: number;
  streamsRssMiB: number;
  /** ms to get every stream's first chunk. */
  openMs: number;
  /** Requests the router still counted in flight 3 s after the clients left (should be 0). */
  inFlightAfter: number;
}

export async function streamsFootprint(opts: { streams: number; dripMs: number; holdS: number }, log: (s: string) => void): Promise<StreamsResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-footprint-'));
  const preset = join(dir, 'presets.ini');
  writeFileSync(preset, `[drip]\ncmd = ${process.execPath} ${FAST_UPSTREAM} --port \${PORT} --drip-ms ${opts.dripMs}\n`);
  const router = await startRouter(['--models-preset', preset, '--models-memory-margin', '0', '--queue-max', String(opts.streams + 16)]);
  const pid = router.proc.pid!;
  const clients: http.ClientRequest[] = [];
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const idleRssMiB = rssMiB(pid);
    const load = await fetch(`${router.url}/models/load`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"drip"}' });
    if (!load.ok) throw new Error(`loading drip: ${load.status} ${await load.text()}`);
    await new Promise((r) => setTimeout(r, 1000));
    const loadedIdleRssMiB = rssMiB(pid);
    log(`footprint: opening ${opts.streams} streams`);
    const started = performance.now();
    let open = 0;
    let failed = 0;
    // Long enough to outlast the measurement; the clients leave long before the end.
    const body = JSON.stringify({ model: 'drip', messages: [{ role: 'user', content: 'Hi' }], stream: true, max_tokens: 100_000 });
    for (let i = 0; i < opts.streams; i++) {
      const req = http.request(`${router.url}/v1/chat/completions`, {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      req.on('response', (res) => {
        if (res.statusCode !== 200) failed++;
        res.once('data', () => open++);
        res.on('data', () => {});
        res.on('error', () => {});
      });
      req.on('error', () => {});
      req.end(body);
      clients.push(req);
    }
    await waitFor(`${opts.streams} open streams`, () => open + failed >= opts.streams, 120_000, 50);
    const openMs = performance.now() - started;
    // Several seconds of steady dripping: the peak over them.
    let streamsRssMiB = 0;
    for (let i = 0; i < Math.max(1, opts.holdS * 4); i++) {
      await new Promise((r) => setTimeout(r, 250));
      streamsRssMiB = Math.max(streamsRssMiB, rssMiB(pid));
    }
    for (const c of clients) c.destroy();
    await new Promise((r) => setTimeout(r, 3000));
    const models = (await (await fetch(`${router.url}/models`)).json()) as { data: { id: string; in_flight?: number }[] };
    const inFlightAfter = models.data.find((m) => m.id === 'drip')?.in_flight ?? Number.NaN;
    return { wanted: opts.streams, open, ulimitN: ulimitN(), idleRssMiB, loadedIdleRssMiB, streamsRssMiB, openMs, inFlightAfter };
  } finally {
    for (const c of clients) c.destroy();
    await router.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function ulimitN(): string {
  try {
    return execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export interface StartupResult {
  files: number;
  serverBin: string;
  /** ms from spawn, and the router's CPU seconds by then (the machine is shared: CPU time is the steadier figure). */
  healthMs: number;
  healthCpuS: number;
  listedMs: number;
  listedCpuS: number;
  rssMiB: number;
  /** RSS and CPU seconds used 10 s after start: background work started up front shows here. */
  rssAfterMiB: number;
  cpuSecondsAfter: number;
  settleS: number;
  childrenAfter: number;
}

/** A folder of `count` copies of one small GGUF (distinct files, so every header is its own read). */
export function manyModels(source: string, count: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-500-models-'));
  for (let i = 0; i < count; i++) copyFileSync(source, join(dir, `model-${String(i).padStart(3, '0')}.gguf`));
  return dir;
}

export async function startupFootprint(opts: { modelsDir: string; files: number; serverBin: string; settleS: number }): Promise<StartupResult> {
  const r = await startProcess([ROUTER_BIN, '--port', '${PORT}', '--log-format', 'json', '--models-dir', opts.modelsDir, '--server-bin', opts.serverBin]);
  try {
    const pid = r.proc.pid!;
    const healthMs = await untilHealthy(r, 60_000);
    const healthCpuS = cpuSeconds(pid);
    await waitFor('every model listed', async () => {
      const res = await fetch(`${r.url}/models`);
      return ((await res.json()) as { data: unknown[] }).data.length >= opts.files;
    }, 60_000, 20);
    const listedMs = performance.now() - r.spawnedAt;
    const listedCpuS = cpuSeconds(pid);
    const rss = rssMiB(pid);
    await new Promise((res) => setTimeout(res, opts.settleS * 1000));
    const children = execFileSync('sh', ['-c', `pgrep -P ${pid} | wc -l`], { encoding: 'utf8' }).trim();
    return {
      files: opts.files,
      serverBin: opts.serverBin,
      healthMs,
      healthCpuS,
      listedMs,
      listedCpuS,
      rssMiB: rss,
      rssAfterMiB: rssMiB(pid),
      cpuSecondsAfter: cpuSeconds(pid),
      settleS: opts.settleS,
      childrenAfter: Number(children),
    };
  } finally {
    await r.stop();
  }
}

/** User + system CPU seconds a live process has used (clock ticks of 1/100 s on Linux). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
