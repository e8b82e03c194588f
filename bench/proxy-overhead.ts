/**
 * Proxy overhead: the same child answered directly and through the router, in alternating rounds, at
 * several concurrencies. The child is the fast upstream (canned answers) so the difference is the router's
 * own cost, plus one real-inference pair through the bundled engine on a generated tiny model.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENGINE_BIN, FAST_UPSTREAM, startRouter, type Started } from './processes.js';
import { load, type LoadResult } from './load.js';
import { median, percentile } from './stats.js';

export interface OverheadOptions {
  rounds: number;
  durationS: number;
  concurrencies: number[];
  /** SSE chunks per streamed answer from the fast upstream. */
  chunks: number;
  /** A generated GGUF for the real-inference rows (none: no such rows). */
  modelPath?: string;
}

export interface OverheadRow {
  upstream: 'fast' | 'engine';
  stream: boolean;
  connections: number;
  chunks: number;
  directP50: number;
  directP99: number;
  routerP50: number;
  routerP99: number;
  /** Medians over rounds of (router - direct). */
  addedP50: number;
  addedP99: number;
  directRps: number;
  routerRps: number;
  /** Median over rounds of router rps / direct rps. */
  rpsRatio: number;
  failures: number;
  rounds: number;
}

export async function proxyOverhead(opts: OverheadOptions, log: (s: string) => void): Promise<OverheadRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-proxy-'));
  const preset = join(dir, 'presets.ini');
  writeFileSync(
    preset,
    [
      '[fast]',
      `cmd = ${process.execPath} ${FAST_UPSTREAM} --port \${PORT} --chunks ${opts.chunks}`,
      ...(opts.modelPath
        ? [
            '[tiny]',
            // No ${API_KEY}: the engine runs without a key so the benchmark can also reach it directly.
            `cmd = ${process.execPath} ${ENGINE_BIN} -m ${opts.modelPath} --host 127.0.0.1 --port \${PORT} -c 512 -np 1 -t 1`,
          ]
        : []),
      '',
    ].join('\n'),
  );
  const router = await startRouter(['--models-preset', preset, '--models-max', '2', '--models-memory-margin', '0']);
  try {
    const rows: OverheadRow[] = [];
    const fastPort = await loadModel(router, 'fast');
    for (const stream of [false, true]) {
      for (const c of opts.concurrencies) {
        const body = JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'Hi' }], max_tokens: opts.chunks, stream });
        log(`proxy overhead: fast upstream, ${stream ? 'stream' : 'json'}, ${c} connections`);
        rows.push(await compare(router, fastPort, body, c, opts.rounds, opts.durationS, { upstream: 'fast', stream, chunks: stream ? opts.chunks : 1 }));
      }
    }
    if (!opts.modelPath) return rows;
    const enginePort = await loadModel(router, 'tiny');
    for (const stream of [false, true]) {
      const body = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, stream });
      log(`proxy overhead: bundled engine, ${stream ? 'stream' : 'json'}, 1 connection`);
      const rounds = Math.max(2, Math.ceil(opts.rounds / 2));
      rows.push(await compare(router, enginePort, body, 1, rounds, opts.durationS, { upstream: 'engine', stream, chunks: stream ? 8 : 1 }));
    }
    return rows;
  } finally {
    await router.stop();
  }
}

/** POST /models/load, then the child's port from the router's "ready" log record. */
async function loadModel(router: Started, model: string): Promise<number> {
  const res = await fetch(`${router.url}/models/load`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model }),
  });
  if (!res.ok) throw new Error(`loading ${model}: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
  const rec = router.logs().find((r) => r.model === model && typeof r.port === 'number' && String(r.msg).endsWith('ready'));
  if (!rec) throw new Error(`no ready record with a port for ${model} in the router's log`);
  return rec.port as number;
}

async function compare(
  router: Started,
  childPort: number,
  body: string,
  connections: number,
  rounds: number,
  durationS: number,
  what: Pick<OverheadRow, 'upstream' | 'stream' | 'chunks'>,
): Promise<OverheadRow> {
  const direct = `http://127.0.0.1:${childPort}/v1/chat/completions`;
  const routed = `${router.url}/v1/chat/completions`;
  // Warm both paths (keep-alive sockets, JIT) before anything is recorded.
  await load(direct, body, connections, Math.min(1, durationS));
  await load(routed, body, connections, Math.min(1, durationS));
  const d: LoadResult[] = [];
  const r: LoadResult[] = [];
  for (let i = 0; i < rounds; i++) {
    // Alternate which goes first, so a drift in the machine's load does not favour one side.
    if (i % 2 === 0) {
      d.push(await load(direct, body, connections, durationS));
      r.push(await load(routed, body, connections, durationS));
    } else {
      r.push(await load(routed, body, connections, durationS));
      d.push(await load(direct, body, connections, durationS));
    }
  }
  const p = (xs: LoadResult[], q: number) => xs.map((x) => percentile(x.latencies, q));
  const perRound = (q: number) => r.map((x, i) => percentile(x.latencies, q) - percentile(d[i]!.latencies, q));
  return {
    ...what,
    connections,
    directP50: median(p(d, 50)),
    directP99: median(p(d, 99)),
    routerP50: median(p(r, 50)),
    routerP99: median(p(r, 99)),
    addedP50: median(perRound(50)),
    addedP99: median(perRound(99)),
    directRps: median(d.map((x) => x.rps)),
    routerRps: median(r.map((x) => x.rps)),
    rpsRatio: median(r.map((x, i) => x.rps / d[i]!.rps)),
    failures: [...d, ...r].reduce((s, x) => s + x.failures, 0),
    rounds,
  };
}
