/**
 * Proxy overhead, side by side in one run: the same child answered directly, through a bare node:http relay
 * (bench/fixtures/bare-relay.ts: the floor of a node proxy), through nginx (when installed), through our router
 * and, with real llama-server children (LLAMA_SERVER set), through llama.cpp's own router mode. Rounds
 * alternate the order of the sides. For each proxy: latency added over direct, throughput against direct, and
 * its CPU time per request (the proxy process's own CPU over the round / requests; never its children's).
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load, type LoadResult } from './client.js';
import { totalCpuMs } from './cpu.js';
import { describeProbe, probeKeepAlive } from './keepalive-probe.js';
import { findNginx, startNginx } from './nginx.js';
import { BARE_RELAY, CLIENT_RELAY, ENGINE_BIN, FAST_UPSTREAM, NET_RELAY, startCommand, startProcess, startRouter, untilHealthy, waitFor, type Started } from './processes.js';
import { median, percentile } from './stats.js';

export interface OverheadOptions {
  rounds: number;
  durationS: number;
  concurrencies: number[];
  /** SSE chunks per streamed answer from the fast upstream. */
  chunks: number;
  /** A generated GGUF for the real-inference rows (none: no such rows). */
  modelPath?: string;
  /** A llama-server binary: rows with llama-server children, and llama.cpp's router beside ours. */
  llamaServer?: string;
  /**
   * More llama-server arguments, for every llama-server child on both routers (run.ts: BENCH_LLAMA_ARGS), e.g.
   * `--log-disable` to see what reading a child's log lines costs a router.
   */
  llamaArgs?: string[];
  /** Concurrencies of the llama-server rows. */
  llamaConcurrencies?: number[];
  /** Leave nginx out even when installed (tests). */
  noNginx?: boolean;
  /**
   * Warm each proxy on a row until it has given this many good answers or `warmMaxS` seconds have passed. Its first
   * slice (1 s, or the round's length if shorter) is measured: the row's cold figure. Without them, that slice only.
   */
  warmAnswers?: number;
  warmMaxS?: number;
}

export type SideName = 'direct' | 'bare relay' | 'net relay' | 'client relay' | 'nginx' | 'router' | 'llama.cpp router';

export interface SideResult {
  name: SideName;
  /** Medians over rounds. */
  p50: number;
  p99: number;
  rps: number;
  /** Medians over rounds of (this - direct) in the same round. */
  addedP50: number;
  addedP99: number;
  /** Median over rounds of this rps / direct rps. */
  rpsRatio: number;
  /** The proxy's CPU ms per request (answered or failed), median over rounds; undefined for direct. */
  cpuMsPerReq?: number;
  /**
   * The proxy's CPU ms per good answer (status 200, a stream ended with [DONE]), median over rounds: the same CPU
   * over fewer requests when some failed (llama.cpp's router drops every second request on a kept-alive connection).
   */
  cpuMsPerOk?: number;
  /**
   * CPU ms per good answer over the first slice of the row's warm-up (1 s, or the round's length if shorter). Cold
   * for a path the side has not run in an earlier row (a node proxy's figure falls over its first few thousand
   * requests on a path, as V8 optimises it); on later rows, what earlier rows left warm.
   */
  coldCpuMsPerOk?: number;
  failures: number;
  failureKinds: Record<string, number>;
}

export interface OverheadRow {
  upstream: 'fast' | 'engine' | 'llama-server';
  /** What was asked: 'chat', 'chat (1 token)', '/tokenize'. */
  request: string;
  stream: boolean;
  connections: number;
  /**
   * A new connection per request (`Connection: close`), `connections` at a time. llama.cpp's router closes every
   * connection after one answer though it announces keep-alive, so on kept-alive connections every second request
   * fails without reaching it; here no side fails and every side pays for a connection per answer.
   */
  fresh?: boolean;
  chunks: number;
  rounds: number;
  sides: SideResult[];
}

export interface OverheadResult {
  rows: OverheadRow[];
  /** Sides left out and why (no nginx, no LLAMA_SERVER). */
  notes: string[];
}

interface Side {
  name: SideName;
  url: string;
  /** The processes whose CPU is the proxy's (none for direct). */
  pids: () => number[];
}

export async function proxyOverhead(opts: OverheadOptions, log: (s: string) => void): Promise<OverheadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-proxy-'));
  const notes: string[] = [];
  const started: Started[] = [];
  const nginxBin = opts.noNginx ? undefined : findNginx();
  if (!opts.noNginx && !nginxBin) {
    const msg = 'nginx: not installed, its rows are skipped (Debian: apt-get install -y nginx-light)';
    log(msg);
    notes.push(msg);
  }
  if (!opts.llamaServer) {
    const msg = "llama.cpp's router: LLAMA_SERVER is not set, the llama-server rows are skipped";
    log(msg);
    notes.push(msg);
  }
  /** The reference proxies in front of one child port. */
  const proxiesFor = async (childPort: number, tag: string): Promise<Side[]> => {
    const relay = await startProcess([BARE_RELAY, '${PORT}', String(childPort)]);
    started.push(relay);
    await untilHealthy(relay, 10_000);
    const sides: Side[] = [{ name: 'bare relay', url: relay.url, pids: () => [relay.proc.pid!] }];
    if (nginxBin) {
      const nginx = await startNginx(nginxBin, join(dir, `nginx-${tag}`), childPort);
      started.push(nginx);
      sides.push({ name: 'nginx', url: nginx.url, pids: nginx.pids });
    }
    return sides;
  };
  const preset = join(dir, 'presets.ini');
  const llamaArgs = opts.llamaArgs ?? [];
  const model = opts.modelPath;
  writeFileSync(
    preset,
    [
      '[fast]',
      `cmd = ${process.execPath} ${FAST_UPSTREAM} --port \${PORT} --chunks ${opts.chunks}`,
      // These children run without a key so the benchmark can also reach them directly: the router gives every
      // child its key in LLAMA_API_KEY (which the engine and llama-server read), so it is taken out of their
      // environment (`env -u`); the router's Authorization header is then ignored.
      ...(model
        ? ['[tiny]', `cmd = /usr/bin/env -u LLAMA_API_KEY ${process.execPath} ${ENGINE_BIN} -m ${model} --host 127.0.0.1 --port \${PORT} -c 512 -np 1 -t 1`]
        : []),
      ...(model && opts.llamaServer
        ? ['[tiny-llama]', `cmd = /usr/bin/env -u LLAMA_API_KEY ${opts.llamaServer} -m ${model} --host 127.0.0.1 --port \${PORT} -c 512 -np 1 -t 1 --no-webui${llamaArgs.map((a) => ` ${a}`).join('')}`]
        : []),
      '',
    ].join('\n'),
  );
  const router = await startRouter(['--models-preset', preset, '--models-max', '3', '--models-memory-margin', '0']);
  started.push(router);
  const ours: Side = { name: 'router', url: router.url, pids: () => [router.proc.pid!] };
  try {
    const rows: OverheadRow[] = [];
    const fastPort = await loadModel(router, 'fast');
    const fastSides = [...(await proxiesFor(fastPort, 'fast')), ours];
    for (const stream of [false, true]) {
      for (const c of opts.concurrencies) {
        const body = JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'Hi' }], max_tokens: opts.chunks, stream });
        log(`proxy overhead: fast upstream, ${stream ? 'stream' : 'json'}, ${c} connections`);
        rows.push(
          await compare(fastPort, fastSides, '/v1/chat/completions', body, c, opts, opts.rounds, {
            upstream: 'fast',
            request: 'chat',
            stream,
            chunks: stream ? opts.chunks : 1,
          }),
        );
      }
    }
    if (!model) return { rows, notes };
    const enginePort = await loadModel(router, 'tiny');
    const engineSides = [(await proxiesFor(enginePort, 'engine'))[0]!, ours];
    const rounds = Math.max(2, Math.ceil(opts.rounds / 2));
    for (const stream of [false, true]) {
      const body = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, stream });
      log(`proxy overhead: bundled engine, ${stream ? 'stream' : 'json'}, 1 connection`);
      rows.push(await compare(enginePort, engineSides, '/v1/chat/completions', body, 1, opts, rounds, { upstream: 'engine', request: 'chat', stream, chunks: stream ? 8 : 1 }));
    }
    await unloadModel(router, 'tiny');
    if (!opts.llamaServer) return { rows, notes };

    // llama-server children: ours (a preset without a key, so direct requests reach it) and llama.cpp's router
    // mode on a folder holding the same file, with the same child arguments.
    const llamaPort = await loadModel(router, 'tiny-llama');
    const modelsDir = join(dir, 'models');
    linkModel(model, modelsDir, 'tiny-llama');
    const peer = await startCommand(opts.llamaServer, [
      '--models-dir', modelsDir, '--models-max', '1', '--host', '127.0.0.1', '--port', '${PORT}', '-c', '512', '-np', '1', '-t', '1', '--no-webui', ...llamaArgs,
    ]);
    started.push(peer);
    await untilHealthy(peer, 30_000);
    // Beside them, the floor of any node proxy (bench/fixtures/net-relay.ts: raw sockets, no node HTTP code), and the
    // router less its routing (bench/fixtures/client-relay.ts: node's server and the router's client): what node's
    // server side costs, and what the routing does.
    const netRelay = await startProcess([NET_RELAY, '${PORT}', String(llamaPort)]);
    started.push(netRelay);
    await untilHealthy(netRelay, 10_000);
    const clientRelay = await startProcess([CLIENT_RELAY, '${PORT}', String(llamaPort)]);
    started.push(clientRelay);
    await untilHealthy(clientRelay, 10_000);
    const llamaSides: Side[] = [
      ...(await proxiesFor(llamaPort, 'llama')),
      { name: 'net relay', url: netRelay.url, pids: () => [netRelay.proc.pid!] },
      { name: 'client relay', url: clientRelay.url, pids: () => [clientRelay.proc.pid!] },
      ours,
      { name: 'llama.cpp router', url: peer.url, pids: () => [peer.proc.pid!] },
    ];
    // The peer loads its child on the first request naming the model.
    await waitFor('llama.cpp router loading tiny-llama', async () => {
      const r = await load(`${peer.url}/tokenize`, JSON.stringify({ model: 'tiny-llama', content: 'Hi' }), 1, 0.05);
      return r.latencies.length > 0;
    }, 60_000, 200);
    // Whether each router keeps the connections it says it keeps: the kept-alive rows' failures depend on it.
    for (const [name, url] of [["llama.cpp's router", peer.url], ['our router', router.url]] as const) {
      const msg = `${name}, a POST /tokenize asking to keep its connection: ${describeProbe(await probeKeepAlive(`${url}/tokenize`, JSON.stringify({ model: 'tiny-llama', content: 'Hi' })))} (bench/keepalive-probe.ts)`;
      log(msg);
      notes.push(msg);
    }
    for (const c of opts.llamaConcurrencies ?? [1]) {
      const requests: [string, string, string][] = [
        ['/tokenize', '/tokenize', JSON.stringify({ model: 'tiny-llama', content: 'Hello, world. How are you today?' })],
        ['chat (1 token)', '/v1/chat/completions', JSON.stringify({ model: 'tiny-llama', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1 })],
      ];
      for (const fresh of [false, true]) {
        for (const [what, path, body] of requests) {
          log(`proxy overhead: llama-server, ${what}, ${c} connections${fresh ? ', a new one per request' : ''}`);
          rows.push(
            await compare(llamaPort, llamaSides, path, body, c, opts, opts.rounds, { upstream: 'llama-server', request: what, stream: false, chunks: 1, ...(fresh ? { fresh } : {}) }),
          );
        }
      }
    }
    return { rows, notes };
  } finally {
    await Promise.all(started.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** llama.cpp's router names a model by its file name: the generated model under the preset's name. */
function linkModel(file: string, dir: string, name: string): void {
  mkdirSync(dir, { recursive: true });
  symlinkSync(file, join(dir, `${name}.gguf`));
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

async function unloadModel(router: Started, model: string): Promise<void> {
  const res = await fetch(`${router.url}/models/unload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model }) });
  await res.arrayBuffer();
}

async function compare(
  childPort: number,
  proxies: Side[],
  path: string,
  body: string,
  connections: number,
  opts: Pick<OverheadOptions, 'durationS' | 'warmAnswers' | 'warmMaxS'>,
  rounds: number,
  what: Pick<OverheadRow, 'upstream' | 'request' | 'stream' | 'chunks' | 'fresh'>,
): Promise<OverheadRow> {
  const durationS = opts.durationS;
  const sides: Side[] = [{ name: 'direct', url: `http://127.0.0.1:${childPort}`, pids: () => [] }, ...proxies];
  const loadOpts = { tail: what.stream ? '[DONE]' : undefined, fresh: what.fresh };
  const cold = new Map<SideName, number>();
  // Warm every path (keep-alive sockets, JIT) before anything is recorded. A node proxy's CPU per request on a path
  // it has not run yet falls by half or more over its first few thousand requests, as V8 optimises it (the cold
  // column of the first row): warmed for a second only, the first rounds of a slow row (~400 chats a second) held
  // part of that. The first slice is measured.
  // Direct (no process of ours to warm: the child is the one every side uses) gets the first slice only.
  const slice = Math.min(1, durationS);
  for (const s of sides) {
    const pids = s.pids();
    const before = totalCpuMs(pids);
    const first = await load(`${s.url}${path}`, body, connections, slice, loadOpts);
    if (pids.length && first.latencies.length) cold.set(s.name, (totalCpuMs(pids) - before) / first.latencies.length);
    if (!pids.length) continue;
    // The last slice starts before the deadline: at most one slice past warmMaxS.
    const until = performance.now() + ((opts.warmMaxS ?? 0) - slice) * 1000;
    for (let answers = first.latencies.length; answers < (opts.warmAnswers ?? 0) && performance.now() < until; ) {
      answers += (await load(`${s.url}${path}`, body, connections, slice, loadOpts)).latencies.length;
    }
  }
  const results = new Map<SideName, { load: LoadResult; cpuMsPerReq?: number; cpuMsPerOk?: number }[]>(sides.map((s) => [s.name, []]));
  for (let i = 0; i < rounds; i++) {
    // Rotate the order each round, so a drift in the machine's load does not favour one side.
    for (let k = 0; k < sides.length; k++) {
      const s = sides[(i + k) % sides.length]!;
      const pids = s.pids();
      const before = totalCpuMs(pids);
      const r = await load(`${s.url}${path}`, body, connections, durationS, loadOpts);
      const spent = totalCpuMs(pids) - before;
      const n = r.latencies.length + r.failures;
      const ok = r.latencies.length;
      results.get(s.name)!.push({ load: r, cpuMsPerReq: pids.length && n ? spent / n : undefined, cpuMsPerOk: pids.length && ok ? spent / ok : undefined });
    }
  }
  const direct = results.get('direct')!;
  const p = (x: LoadResult, q: number) => percentile(x.latencies, q);
  return {
    ...what,
    connections,
    rounds,
    sides: sides.map((s) => {
      const rs = results.get(s.name)!;
      const kinds: Record<string, number> = {};
      for (const r of rs) for (const [k, v] of Object.entries(r.load.failureKinds)) kinds[k] = (kinds[k] ?? 0) + v;
      const cpu = rs.map((r) => r.cpuMsPerReq).filter((x): x is number => x !== undefined);
      const cpuOk = rs.map((r) => r.cpuMsPerOk).filter((x): x is number => x !== undefined);
      return {
        name: s.name,
        p50: median(rs.map((r) => p(r.load, 50))),
        p99: median(rs.map((r) => p(r.load, 99))),
        rps: median(rs.map((r) => r.load.rps)),
        addedP50: median(rs.map((r, i) => p(r.load, 50) - p(direct[i]!.load, 50))),
        addedP99: median(rs.map((r, i) => p(r.load, 99) - p(direct[i]!.load, 99))),
        rpsRatio: median(rs.map((r, i) => r.load.rps / direct[i]!.load.rps)),
        ...(cpu.length ? { cpuMsPerReq: median(cpu) } : {}),
        ...(cpuOk.length ? { cpuMsPerOk: median(cpuOk) } : {}),
        ...(cold.has(s.name) ? { coldCpuMsPerOk: cold.get(s.name) } : {}),
        failures: rs.reduce((n, r) => n + r.load.failures, 0),
        failureKinds: kinds,
      };
    }),
  };
}
