/**
 * The replay: one short closed-loop trace (a few minutes, 4 generated models, models-max 2) against our router and
 * against llama.cpp's own router mode (`llama-server --models-dir DIR`, no `-m`), both running real llama-server
 * children, one after the other in the same run. Reports loads, request latency p50/p99/max and errors side by side.
 *
 * The trace is seeded: clients that talk to one model for a few turns (think time between answers), then move to
 * another, models picked by Zipf popularity. Loads are counted the same way for both: GET /models polled every
 * 100 ms, a model seen going to `loading` (or to `loaded` from anything but `loading`) is one load.
 *
 * `LLAMA_SERVER` names the binary (here: ../shared/llama.cpp/llama-server); without it the replay is skipped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import getPort from 'get-port';
import { makeTinyModel } from '../src/gguf/tiny-model.js';
import { Rng, Zipf } from './sim/rng.js';
import { ROUTER_BIN, untilHealthy } from './processes.js';
import { percentile } from './stats.js';

export interface ReplayOptions {
  llamaServer: string;
  workDir: string;
  /** How long clients keep starting conversations, s. */
  durationS: number;
  clients: number;
  seed?: number;
}

export interface ReplaySide {
  name: string;
  requests: number;
  errors: number;
  loads: number;
  p50: number;
  p99: number;
  max: number;
  firstError?: string;
}

const MODELS = ['m0', 'm1', 'm2', 'm3'];
const MODELS_MAX = 2;

interface Turn {
  model: string;
  thinkMs: number;
  maxTokens: number;
}

/** Per client, its turns in order (the same for both routers). */
function makeTrace(seed: number, clients: number, durationS: number): Turn[][] {
  const rng = new Rng(seed);
  const zipf = new Zipf(MODELS.length, 1.1);
  return Array.from({ length: clients }, () => {
    const turns: Turn[] = [];
    // Each turn takes at least ~1 s; enough turns to outlast the duration (the clock stops them).
    while (turns.length < durationS * 2) {
      const model = MODELS[zipf.sample(rng)]!;
      for (let k = rng.int(2, 5); k > 0; k--) turns.push({ model, thinkMs: Math.round(rng.uniform(300, 3000)), maxTokens: rng.int(8, 32) });
    }
    return turns;
  });
}

async function drive(url: string, trace: Turn[][], durationS: number): Promise<{ latencies: number[]; errors: string[] }> {
  const latencies: number[] = [];
  const errors: string[] = [];
  const end = Date.now() + durationS * 1000;
  await Promise.all(
    trace.map(async (turns) => {
      for (const t of turns) {
        if (Date.now() >= end) return;
        await new Promise((r) => setTimeout(r, t.thinkMs));
        const started = performance.now();
        try {
          const res = await fetch(`${url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ model: t.model, messages: [{ role: 'user', content: 'Say something.' }], max_tokens: t.maxTokens }),
            signal: AbortSignal.timeout(120_000),
          });
          const body = await res.text();
          if (res.status !== 200) errors.push(`${res.status} ${body.slice(0, 120)}`);
          else latencies.push(performance.now() - started);
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
    }),
  );
  return { latencies, errors };
}

/** Counts loads by polling GET /models (the same for both routers). */
function countLoads(url: string): { stop(): Promise<number> } {
  const last = new Map<string, string>();
  let loads = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const res = await fetch(`${url}/models`);
        const body = (await res.json()) as { data?: { id: string; status?: { value?: string } | string }[] };
        for (const m of body.data ?? []) {
          const s = typeof m.status === 'string' ? m.status : (m.status?.value ?? '');
          const before = last.get(m.id);
          if (s !== before && (s === 'loading' || (s === 'loaded' && before !== 'loading'))) loads++;
          last.set(m.id, s);
        }
      } catch {
        /* a busy moment: the next poll sees the state */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return loads;
    },
  };
}

function launch(command: string, args: string[]): ChildProcess {
  // Its own process group: stopping it takes the children it started too, whatever they are.
  return spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  try {
    process.kill(-p.pid!, 'SIGTERM');
  } catch {
    /* already gone */
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-p.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, 10_000);
  await exited;
  clearTimeout(timer);
  // Children that outlived their parent (they have their own handlers) go with the group.
  try {
    process.kill(-p.pid!, 'SIGKILL');
  } catch {
    /* none left */
  }
}

async function side(name: string, command: string, args: string[], port: number, trace: Turn[][], durationS: number, log: (s: string) => void): Promise<ReplaySide> {
  log(`replay: ${name}`);
  const proc = launch(command, args);
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  try {
    await untilHealthy({ proc, url, port, spawnedAt: performance.now(), output: () => stderr, logs: () => [], stop: async () => undefined }, 60_000);
    const loads = countLoads(url);
    const { latencies, errors } = await drive(url, trace, durationS);
    const n = await loads.stop();
    return {
      name,
      requests: latencies.length + errors.length,
      errors: errors.length,
      loads: n,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies.length ? Math.max(...latencies) : 0,
      firstError: errors[0],
    };
  } finally {
    await stop(proc);
  }
}

export async function replay(opts: ReplayOptions, log: (s: string) => void): Promise<ReplaySide[]> {
  const dir = join(opts.workDir, 'replay-models');
  mkdirSync(dir, { recursive: true });
  for (const [i, m] of MODELS.entries()) await makeTinyModel(join(dir, `${m}.gguf`), { seed: i + 1, sizeMb: 20 });
  const trace = makeTrace(opts.seed ?? 20240611, opts.clients, opts.durationS);
  const childFlags = ['--threads', '1', '--ctx-size', '1024'];
  const ourPort = await getPort({ host: '127.0.0.1' });
  const ours = await side(
    'ours',
    process.execPath,
    [ROUTER_BIN, '--port', String(ourPort), '--models-dir', dir, '--models-max', String(MODELS_MAX), '--server-bin', opts.llamaServer, '--log-level', 'warn', '--', ...childFlags],
    ourPort,
    trace,
    opts.durationS,
    log,
  );
  const theirPort = await getPort({ host: '127.0.0.1' });
  const theirs = await side(
    'llama-server --models-dir',
    opts.llamaServer,
    ['--models-dir', dir, '--models-max', String(MODELS_MAX), '--host', '127.0.0.1', '--port', String(theirPort), ...childFlags],
    theirPort,
    trace,
    opts.durationS,
    log,
  );
  return [ours, theirs];
}

export function renderReplay(sides: ReplaySide[], opts: { durationS: number; clients: number }): string {
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const lines = [
    `${opts.clients} closed-loop clients for ${opts.durationS} s over 4 generated 20 MB models, models-max ${MODELS_MAX}, ` +
      'real llama-server children (--threads 1 --ctx-size 1024) under both routers; latency = request sent -> answer ' +
      'received (queue wait, any load, generation), in seconds; loads counted by polling GET /models every 100 ms.',
    '',
    '| router | requests | errors | loads | latency p50 | latency p99 | latency max |',
    '|---|--:|--:|--:|--:|--:|--:|',
    ...sides.map((x) => `| ${x.name} | ${x.requests} | ${x.errors} | ${x.loads} | ${s(x.p50)} | ${s(x.p99)} | ${s(x.max)} |`),
  ];
  const errs = sides.filter((x) => x.firstError);
  if (errs.length) lines.push('', ...errs.map((x) => `First error (${x.name}): ${x.firstError}`));
  return lines.join('\n');
}
