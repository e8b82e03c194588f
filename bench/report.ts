/** docs/BENCHMARKS.md from the results of one run. */
import type { ColdStartResult } from './cold-start.js';
import type { StartupResult, StreamsResult } from './footprint.js';
import type { Machine } from './machine.js';
import type { OverheadRow } from './proxy-overhead.js';
import { ms } from './stats.js';

export interface Results {
  machine: Machine;
  loadAfter: number[];
  command: string;
  date: string;
  quick: boolean;
  durationS: number;
  overhead?: OverheadRow[];
  overheadOpts?: { rounds: number; durationS: number; chunks: number };
  sim?: string;
  cold?: ColdStartResult;
  streams?: StreamsResult;
  startup?: StartupResult[];
  /** bench/memory.ts: the figure before the first load against the one measured after it (markdown). */
  memory?: string;
  errors: string[];
  /** Hand-written findings (bench/findings.ts): causes of the gaps, kept with the figures. */
  findings: string;
}

export const TARGETS = { p50Ms: 0.3, p99Ms: 1, rpsRatio: 0.85, chunkP99Ms: 1, coldShareMs: 50, startupMs: 1000, startupRssMiB: 100 };

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
      `The same child answered directly and through the router, in ${o.rounds} alternating rounds of ${o.durationS} s per row ` +
        '(autocannon, keep-alive connections, response time to the last byte). "fast" is bench/fixtures/fast-upstream.ts, a canned ' +
        `OpenAI-compatible server started by the router through a \`cmd\` preset (streams: ${o.chunks} SSE chunks, one per event-loop turn); ` +
        '"engine" is the bundled engine doing real inference on a generated tiny model (8 tokens), started the same way. ' +
        'Added = median over rounds of (router - direct) at that percentile; rps ratio = median of router / direct.',
      '',
      '| upstream | answer | conns | direct p50 / p99 ms | router p50 / p99 ms | added p50 ms | added p99 ms | added p99 per chunk ms | direct rps | router rps | rps ratio | failures |',
      '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    );
    for (const x of r.overhead) {
      out.push(
        `| ${x.upstream} | ${x.stream ? `stream (${x.chunks} chunks)` : 'json'} | ${x.connections} | ${ms(x.directP50)} / ${ms(x.directP99)} | ` +
          `${ms(x.routerP50)} / ${ms(x.routerP99)} | ${ms(x.addedP50)} | ${ms(x.addedP99)} | ${x.stream ? ms(x.addedP99 / x.chunks) : ''} | ` +
          `${x.directRps.toFixed(0)} | ${x.routerRps.toFixed(0)} | ${(x.rpsRatio * 100).toFixed(0)}% | ${x.failures} |`,
      );
    }
    out.push('', 'Targets (fast upstream):', '');
    const fast = r.overhead.filter((x) => x.upstream === 'fast');
    const json = fast.filter((x) => !x.stream);
    const at64 = fast.filter((x) => x.connections === Math.max(...fast.map((y) => y.connections)));
    const worst = (xs: OverheadRow[], f: (x: OverheadRow) => number) => Math.max(...xs.map(f));
    const p50 = worst(json, (x) => x.addedP50);
    const p99 = worst(json, (x) => x.addedP99);
    const ratio = Math.min(...at64.map((x) => x.rpsRatio));
    const chunk = worst(fast.filter((x) => x.stream), (x) => x.addedP99 / x.chunks);
    out.push(
      `- p50 added ≤ ${TARGETS.p50Ms} ms (worst JSON row): ${ms(p50)} ms, ${verdict(p50 <= TARGETS.p50Ms)}`,
      `- p99 added ≤ ${TARGETS.p99Ms} ms (worst JSON row): ${ms(p99)} ms, ${verdict(p99 <= TARGETS.p99Ms)}`,
      `- throughput ≥ ${TARGETS.rpsRatio * 100}% of direct at ${at64[0]?.connections} connections (worse of JSON and stream): ${(ratio * 100).toFixed(0)}%, ${verdict(ratio >= TARGETS.rpsRatio)}`,
      `- streaming adds ≤ ${TARGETS.chunkP99Ms} ms per chunk at p99 (time-to-last-chunk difference / chunks, worst row): ${ms(chunk, 3)} ms, ${verdict(chunk <= TARGETS.chunkP99Ms)}`,
      '',
    );
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
