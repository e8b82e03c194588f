/** docs/BENCHMARKS.md from the results of one run. */
import type { ColdStartResult } from './cold-start.js';
import type { ColdSwapResult } from './cold-swap.js';
import type { StartupResult, StreamsResult } from './footprint.js';
import type { Machine } from './machine.js';
import type { OverheadResult, OverheadRow, SideName } from './proxy-overhead.js';
import { ms } from './stats.js';

export interface Results {
  machine: Machine;
  loadAfter: number[];
  command: string;
  date: string;
  quick: boolean;
  durationS: number;
  overhead?: OverheadResult;
  overheadOpts?: { rounds: number; durationS: number; chunks: number; warmAnswers?: number; warmMaxS?: number };
  sim?: string;
  /** The replay against llama.cpp's router mode (bench/replay.ts), rendered. */
  replay?: string;
  cold?: ColdStartResult;
  coldSwap?: ColdSwapResult;
  streams?: StreamsResult;
  startup?: StartupResult[];
  /** bench/memory.ts: the figure before the first load against the one measured after it (markdown). */
  memory?: string;
  errors: string[];
  /** Hand-written findings (bench/findings.ts): causes of the gaps, kept with the figures. */
  findings: string;
}

export const TARGETS = { p50Ms: 0.3, cpuVsRelay: 1.5, cpuVsLlamaRouter: 1, coldShareMs: 50, coldSwapMs: 20, startupMs: 1000, startupRssMiB: 100 };

const verdict = (ok: boolean) => (ok ? 'met' : '**not met**');

export function render(r: Results): string {
  const m = r.machine;
  const out: string[] = [
    '# Benchmarks',
    '',
    `Produced by \`${r.command}\` on ${r.date} in ${Math.round(r.durationS)} s${r.quick ? ' (quick mode: fewer and shorter rounds; the full run is `npm run bench`)' : ''}.`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.ramGiB.toFixed(1)} GiB RAM, Node ${m.node}. ` +
      `Load average at the start ${m.loadAvg.map((x) => x.toFixed(1)).join(' / ')}, at the end ${r.loadAfter.map((x) => x.toFixed(1)).join(' / ')} ` +
      '(1 / 5 / 15 min): the machine is shared, so absolute times are noisy; compare the ratios and the medians of paired rounds.',
    '',
  ];
  if (r.errors.length) out.push('**Parts that failed in this run:**', '', ...r.errors.map((e) => `- ${e}`), '');

  if (r.overhead) {
    const o = r.overheadOpts!;
    out.push(
      '## 1. Proxy overhead',
      '',
      `The same child answered directly and through each proxy, side by side in one run: ${o.rounds} rounds of ${o.durationS} s per row, ` +
        'the order of the sides rotated each round' +
        (o.warmAnswers && o.warmMaxS
          ? `, after each proxy was warmed on the row until ${o.warmAnswers} good answers or ${o.warmMaxS} s (at least ${Math.min(1, o.durationS)} s): a node proxy's CPU per request on a path it has not run yet ` +
            `falls by half or more over its first few thousand requests, as V8 optimises it. "cold" is the CPU per good answer in the first ${Math.min(1, o.durationS)} s of that warm-up: ` +
            'cold for a path no earlier row ran, otherwise what earlier rows left warm. '
          : `, after ${Math.min(1, o.durationS)} s of warm-up per side ("cold": the CPU per good answer then). `) +
        'The client (bench/client.ts) keeps its connections alive (on rows marked "new", opens one per request), sends the next request ' +
        'when an answer has ended, and checks every answer (status 200; a stream must end with `[DONE]`). "bare relay" is ' +
        'bench/fixtures/bare-relay.ts, a 10-line node:http relay (createServer + http.request + pipe, keep-alive agent): the floor ' +
        'of a node proxy. "net relay" (llama-server rows) is bench/fixtures/net-relay.ts, a relay on raw sockets with no node HTTP code ' +
        '(the head\'s end and Content-Length are all it reads): what any node proxy costs at least. "client relay" (llama-server rows) is ' +
        'bench/fixtures/client-relay.ts, the router\'s server (its fast lane for whole requests, node\'s HTTP server for the rest) handing each request to the ' +
        'router\'s own client (src/http/proxy.ts) with none of the routing (guards, body rules, the model\'s lookup, the queue, metrics): net relay to client ' +
        'relay is the router\'s server side, client relay to router the routing. "nginx" is nginx started by the benchmark (one worker, keep-alive upstream, no buffering). "fast" is ' +
        `bench/fixtures/fast-upstream.ts, a canned OpenAI-compatible server (streams: ${o.chunks} SSE chunks, one per event-loop turn); ` +
        '"engine" the bundled engine doing real inference on a generated tiny model; "llama-server" a real llama-server child on the same ' +
        "model, and beside our router llama.cpp's own router mode (`llama-server --models-dir`) with its own child. " +
        'CPU ms/req = the proxy process\'s own CPU time over the round (from /proc; never its children\'s) / requests sent, failed ones included; ' +
        'CPU ms/answer = the same CPU / good answers (they differ only where requests failed). ' +
        '"N new" in conns: N at a time, a new connection per request (`Connection: close`), for every side. ' +
        "llama.cpp's router (b10587; bench/keepalive-probe.ts, in the notes below when LLAMA_SERVER is set) answers a kept-alive request with `Keep-Alive: timeout=5, max=100` " +
        'and then closes the connection, so the request sent next on it is not answered ("socket hang up"): its CPU per request sent counts ' +
        'requests it did not serve, and its CPU per answer is what it spends on one. ' +
        'Added = median over rounds of (proxy - direct) in the same round; % of direct = median of proxy rps / direct rps.',
      '',
      ...(r.overhead.notes.length ? [...r.overhead.notes.map((n) => `- ${n}`), ''] : []),
      '| upstream | request | conns | via | p50 / p99 ms | added p50 ms | rps | % of direct | CPU ms/req | CPU ms/answer | cold CPU ms/answer | CPU vs bare relay | failures |',
      '|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    );
    for (const x of r.overhead.rows) {
      const relay = x.sides.find((s) => s.name === 'bare relay')?.cpuMsPerReq;
      for (const s of x.sides) {
        const direct = s.name === 'direct';
        const kinds = Object.entries(s.failureKinds).map(([k, v]) => `${v} ${k}`).join(', ');
        out.push(
          `| ${x.upstream} | ${x.request}${x.stream ? ` stream (${x.chunks} chunks)` : ''} | ${x.connections}${x.fresh ? ' new' : ''} | ${s.name} | ${ms(s.p50)} / ${ms(s.p99)} | ` +
            `${direct ? '' : ms(s.addedP50)} | ${s.rps.toFixed(0)} | ${direct ? '' : `${(s.rpsRatio * 100).toFixed(0)}%`} | ` +
            `${s.cpuMsPerReq === undefined ? '' : ms(s.cpuMsPerReq, 3)} | ${s.cpuMsPerOk === undefined ? '' : ms(s.cpuMsPerOk, 3)} | ` +
            `${s.coldCpuMsPerOk === undefined ? '' : ms(s.coldCpuMsPerOk, 3)} | ` +
            `${s.cpuMsPerReq === undefined || !relay ? '' : `${(s.cpuMsPerReq / relay).toFixed(2)}x`} | ` +
            `${s.failures}${kinds ? ` (${kinds})` : ''} |`,
        );
      }
    }
    out.push('', ...overheadTargets(r.overhead.rows), '');
  }

  if (r.sim) {
    out.push(
      '## 2. Scheduling policies',
      '',
      'bench/sim: a discrete-event simulator replaying request traces against our real scheduler (src/scheduler) and models of ' +
        "llama-server's router, llama-swap and Ollama (bench/sim/policies/*.ts say what each models and from which source). " +
        'Simulated time, so these figures do not depend on the machine.',
      '',
      r.sim,
      '',
    );
  }

  if (r.replay) {
    out.push(
      '## 2b. Replay against llama.cpp\'s router',
      '',
      'bench/replay.ts: one seeded closed-loop trace against our router and against `llama-server --models-dir` (its ' +
        'router mode), both with real llama-server children on generated models, one after the other in this run.',
      '',
      r.replay,
      '',
    );
  }

  if (r.cold) {
    const c = r.cold;
    out.push(
      '## 3. Cold start',
      '',
      'A request (streamed, 1 token) for an unloaded model through the router (models-dir, bundled engine), timed to its first ' +
        "byte. The child's own start-to-ready is measured in the same run: from the router's spawn to the engine's own " +
        '"model ready" line (printed as its /health turns 200; the router logs child lines as they arrive). The router\'s share = ' +
        "first byte - child start-to-ready - the engine's own time for that request (its access-log line). It holds admission, the " +
        `spawn, noticing readiness (the router polls /health with a growing interval) and proxying. Medians of ${c.runs} runs.`,
      '',
      '| router: cold first byte ms | child: spawn -> its ready line ms | router saw it ready ms | child: its time for the request ms | warm first byte (router) ms | router share ms (per run) |',
      '|--:|--:|--:|--:|--:|--:|',
      `| ${ms(c.routerFirstByte, 0)} | ${ms(c.childReady, 0)} | ${ms(c.routerSawReady, 0)} | ${ms(c.childFirstRequest, 0)} | ${ms(c.warmFirstByte, 1)} | ${ms(c.routerShare, 0)} (${c.shares.map((s) => s.toFixed(0)).join(', ')}) |`,
      '',
      `Target: the router's share ≤ ${TARGETS.coldShareMs} ms: ${ms(c.routerShare, 0)} ms, ${verdict(c.routerShare <= TARGETS.coldShareMs)}.`,
      '',
      ...(c.warmFailures.length
        ? [`${c.warmFailures.length} warm request(s) failed and were sent again: ${[...new Set(c.warmFailures)].join('; ')}.`, '']
        : []),
    );
  }

  if (r.coldSwap) {
    const c = r.coldSwap;
    out.push(
      'Cold starts that swap models, against llama.cpp\'s router (bench/cold-swap.ts): two models, room for one (`--models-max 1`), real ' +
        'llama-server children on the generated model; each request names the other model, so it stops one child and starts another. ' +
        `Request to the end of a 1-token answer, ${c.swaps} swaps per side, sides alternating.`,
      '',
      '| ours: median ms (each) | llama.cpp router: median ms (each) | difference ms |',
      '|--:|--:|--:|',
      `| ${ms(c.ours, 0)} (${c.oursAll.map((x) => x.toFixed(0)).join(', ')}) | ${ms(c.llamaCpp, 0)} (${c.llamaCppAll.map((x) => x.toFixed(0)).join(', ')}) | ${ms(c.ours - c.llamaCpp, 0)} |`,
      '',
      `Target: within ${TARGETS.coldSwapMs} ms of llama.cpp's median: ${ms(c.ours - c.llamaCpp, 0)} ms, ${verdict(c.ours - c.llamaCpp <= TARGETS.coldSwapMs)}.`,
      '',
    );
  }

  if (r.streams || r.startup) out.push('## 4. Footprint', '');
  if (r.streams) {
    const s = r.streams;
    out.push(
      `Streams: ${s.wanted} streaming requests held open through the router at once to the fast upstream dripping one chunk per ` +
        `stream every second (\`ulimit -n\` ${s.ulimitN}: enough for the router's 2 sockets per stream).`,
      '',
      '| router RSS idle, no child MiB | idle, child loaded MiB | streams open | RSS with them open (peak) MiB | time to open all s | in flight 3 s after the clients left |',
      '|--:|--:|--:|--:|--:|--:|',
      `| ${s.idleRssMiB.toFixed(0)} | ${s.loadedIdleRssMiB.toFixed(0)} | ${s.open} / ${s.wanted} | ${s.streamsRssMiB.toFixed(0)} | ${(s.openMs / 1000).toFixed(1)} | ${s.inFlightAfter} |`,
      '',
    );
  }
  if (r.startup) {
    out.push(
      'Start-up with 500 GGUF files (copies of one generated model, distinct files) in --models-dir, and with one file for ' +
        "comparison; times from spawn, with the router's CPU seconds by then. With router-engine as the server the router also " +
        "runs the engine's --dry-run memory probe for each model in the background, one at a time; with any other server-bin " +
        '(llama-server here; never started) it only reads GGUF headers for estimates.',
      '',
      `| files | server-bin | to /health 200 ms (CPU s) | to /models listing all ms (CPU s) | RSS then MiB | RSS ${r.startup[0]!.settleS} s later MiB | CPU s by then | its children then |`,
      '|--:|---|--:|--:|--:|--:|--:|--:|',
    );
    for (const s of r.startup) {
      out.push(
        `| ${s.files} | ${s.serverBin} | ${s.healthMs.toFixed(0)} (${s.healthCpuS.toFixed(2)}) | ${s.listedMs.toFixed(0)} (${s.listedCpuS.toFixed(2)}) | ` +
          `${s.rssMiB.toFixed(0)} | ${s.rssAfterMiB.toFixed(0)} | ${s.cpuSecondsAfter.toFixed(1)} | ${s.childrenAfter} |`,
      );
    }
    const many = r.startup.filter((s) => s.files >= 500);
    const worstMs = Math.max(...many.map((s) => s.listedMs));
    const worstRss = Math.max(...many.map((s) => s.rssMiB));
    out.push(
      '',
      `Targets: start-up ≤ ${TARGETS.startupMs} ms: ${worstMs.toFixed(0)} ms, ${verdict(worstMs <= TARGETS.startupMs)}; ` +
        `RSS ≤ ${TARGETS.startupRssMiB} MB: ${worstRss.toFixed(0)} MiB, ${verdict(worstRss <= TARGETS.startupRssMiB)}.`,
      '',
    );
  }
  if (r.memory) out.push('## Memory before the first load', '', 'bench/memory.ts; what the columns mean: docs/memory.md.', '', r.memory, '');
  if (r.findings) out.push('## Findings', '', r.findings.trim(), '');
  return out.join('\n');
}

/** The issue-14 targets, judged on this run's rows. */
export function overheadTargets(rows: OverheadRow[]): string[] {
  const cpu = (x: OverheadRow, n: SideName) => x.sides.find((s) => s.name === n)?.cpuMsPerReq;
  const ratio = (x: OverheadRow, a: SideName, b: SideName) => {
    const u = cpu(x, a);
    const v = cpu(x, b);
    return u !== undefined && v ? u / v : undefined;
  };
  // A row without a figure (its side answered nothing) cannot show a target met: it counts as the worst.
  const worst = (xs: (number | undefined)[]) => (xs.length ? Math.max(...xs.map((v) => v ?? Infinity)) : Infinity);
  const x2 = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : 'no figure on a row');
  const out = ['Targets:', ''];
  const fast = rows.filter((x) => x.upstream === 'fast');
  if (fast.length) {
    const vsRelay = worst(fast.map((x) => ratio(x, 'router', 'bare relay')));
    const one = fast.filter((x) => !x.stream && x.connections === 1).map((x) => x.sides.find((s) => s.name === 'router')!.addedP50);
    const p50 = worst(one);
    out.push(
      `- the router's CPU per request ≤ ${TARGETS.cpuVsRelay}x the bare relay's (worst fast row, JSON and streams): ${x2(vsRelay)}, ${verdict(vsRelay <= TARGETS.cpuVsRelay)}`,
    );
    if (one.length) out.push(`- p50 added at 1 connection ≤ ${TARGETS.p50Ms} ms (fast, JSON): ${ms(p50)} ms, ${verdict(p50 <= TARGETS.p50Ms)}`);
  }
  const llama = rows.filter((x) => x.upstream === 'llama-server' && x.sides.some((s) => s.name === 'llama.cpp router'));
  if (llama.length) {
    // Judged per good answer: llama.cpp's router closes each connection after its answer (announcing keep-alive), so
    // on kept-alive connections every second request fails unanswered, and per request sent halves its figure with
    // requests it did not serve. The rows with a new connection per request are the check. Our router must also
    // have failed nothing: a failed request costs little CPU and would flatter it.
    const side = (x: OverheadRow, n: SideName) => x.sides.find((s) => s.name === n);
    const perOk = (x: OverheadRow, n: SideName = 'router') => {
      const u = side(x, n)?.cpuMsPerOk;
      const v = side(x, 'llama.cpp router')?.cpuMsPerOk;
      return u !== undefined && v ? u / v : undefined;
    };
    const kept = llama.filter((x) => !x.fresh);
    const fresh = llama.filter((x) => x.fresh);
    const all = worst(llama.map((x) => perOk(x)));
    const failed = llama.reduce((n, x) => n + (side(x, 'router')?.failures ?? 0), 0);
    const parts = [
      ...(fresh.length ? [`a new connection per request ${x2(worst(fresh.map((x) => perOk(x))))}`] : []),
      ...(kept.length ? [`kept-alive connections ${x2(worst(kept.map((x) => perOk(x))))}`] : []),
    ];
    const sent = kept.length ? worst(kept.map((x) => ratio(x, 'router', 'llama.cpp router'))) : undefined;
    // Where ours loses, the raw-socket relay on the same row: the floor for forwarding the bytes in node.
    const lost = llama.filter((x) => !((perOk(x) ?? Infinity) <= TARGETS.cpuVsLlamaRouter) && perOk(x, 'net relay') !== undefined);
    out.push(
      `- the router's CPU per answer ≤ llama.cpp's router's (worst llama-server row): ${x2(all)} (${parts.join(', ')})` +
        `${failed ? `, and ${failed} of the router's requests failed` : ''}, ${verdict(all <= TARGETS.cpuVsLlamaRouter && failed === 0)}` +
        (sent === undefined ? '' : `; per request sent on kept-alive connections, counting its unanswered requests as served: ${x2(sent)}`),
      ...lost.map(
        (x) =>
          `  - ${x.request} at ${x.connections}${x.fresh ? ', a new connection per request' : ' kept-alive'}: the raw-socket relay ` +
          `(forwarding bytes, no routing) is ${x2(perOk(x, 'net relay')!)} llama.cpp's router's there` +
          (perOk(x, 'client relay') === undefined ? '' : `, the client relay (our server and client, no routing) ${x2(perOk(x, 'client relay')!)}`),
      ),
    );
  }
  return out;
}
