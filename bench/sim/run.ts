/**
 * Every policy against every trace, one table per seed, and over several seeds a summary ending in the
 * domination count. The policies: ours (the real Scheduler, with the trace's memory budget, and again under the
 * count-only limit in its own row) and models of llama-server's router, llama-swap (its default, hand-tuned
 * groups, the matrix swapper) and Ollama (current, and before v0.11.5); see policies/*.ts for the source lines
 * each follows.
 */
import { simulate } from './engine.js';
import { summarize, type Row } from './metrics.js';
import { llamaServer } from './policies/llama-server.js';
import { llamaSwap } from './policies/llama-swap.js';
import { ollama } from './policies/ollama.js';
import { ours } from './policies/ours.js';
import { allTraces, DEFAULT_SEED, ZIPF_LIKE } from './traces.js';
import { safeCount, type PolicyFactory, type Trace } from './types.js';

export interface RunOptions {
  quick?: boolean;
  seed?: number;
  /** Run this many seeds (`seed` or DEFAULT_SEED, +1, ...) and summarize them. */
  seeds?: number;
}

export interface RunResult {
  rows: Row[];
  markdown: string;
  /** Trace x seed cases where a peer that rejected nothing had fewer loads and a lower p99 wait than ours. */
  dominated: { n: number; of: number; cases: string[] };
}

export const OURS = 'ours';
export const OURS_COUNT = 'ours (count only)';

export const POLICIES: { name: string; factory: () => PolicyFactory }[] = [
  { name: OURS, factory: () => ours() },
  { name: OURS_COUNT, factory: () => ours({}, { countOnly: true, name: OURS_COUNT }) },
  { name: 'llama-server', factory: () => llamaServer() },
  { name: 'llama-swap', factory: () => llamaSwap() },
  // Hand-tuned groups and the matrix, with the 429 guard configured out (`concurrencyLimit` very high): on bursts
  // the default limit of 10 rejects most requests, which flatters its waits.
  { name: 'llama-swap (groups)', factory: () => llamaSwap({ swapper: 'groups', concurrencyLimit: Number.MAX_SAFE_INTEGER, name: 'llama-swap (groups)' }) },
  { name: 'llama-swap (matrix)', factory: () => llamaSwap({ swapper: 'matrix', concurrencyLimit: Number.MAX_SAFE_INTEGER, name: 'llama-swap (matrix)' }) },
  { name: 'ollama', factory: () => ollama() },
  { name: 'ollama (<0.11.5)', factory: () => ollama({ current: false }) },
];

export function runSimulations(opts: RunOptions = {}): RunResult {
  const first = opts.seed ?? DEFAULT_SEED;
  const seeds = opts.seeds ? Array.from({ length: opts.seeds }, (_, i) => first + i) : [first];
  const rows: (Row & { seed: number })[] = [];
  let traces: Trace[] = [];
  for (const seed of seeds) {
    traces = allTraces({ quick: opts.quick, seed });
    for (const trace of traces) {
      for (const p of POLICIES) rows.push({ ...summarize(simulate(trace, p.factory()), trace.latencyTarget, trace), policy: p.name, seed });
    }
  }
  const dominated = domination(rows, traces, seeds);
  const markdown =
    seeds.length === 1
      ? render(rows, traces, opts) + `\n\ndominated: ${dominated.n} of ${dominated.of}`
      : renderSeeds(rows, traces, seeds, opts, dominated);
  return { rows, markdown, dominated };
}

function domination(rows: (Row & { seed: number })[], traces: Trace[], seeds: number[]): RunResult['dominated'] {
  const cases: string[] = [];
  for (const seed of seeds) {
    for (const t of traces) {
      const here = rows.filter((r) => r.seed === seed && r.trace === t.name);
      const mine = here.find((r) => r.policy === OURS)!;
      const by = here.filter(
        (r) =>
          r.policy !== OURS &&
          r.policy !== OURS_COUNT &&
          r.rejected === 0 &&
          r.stuck === 0 &&
          r.violations.length === 0 &&
          r.loads < mine.loads &&
          r.waitP99 < mine.waitP99,
      );
      // Both sides' figures: what ours got, and each peer that beat it on both.
      if (by.length) {
        cases.push(
          `${t.name} seed ${seed}: ours ${mine.loads} loads, p99 ${(mine.waitP99 / 1000).toFixed(1)} s; by ` +
            by.map((r) => `${r.policy} (${r.loads} loads, p99 ${(r.waitP99 / 1000).toFixed(1)} s)`).join(', '),
        );
      }
    }
  }
  return { n: cases.length, of: seeds.length * traces.length, cases };
}

const s = (ms: number) => (ms / 1000).toFixed(1);

function capacityOf(t: Trace): string {
  return `${t.capacity.modelsMax} / ${t.capacity.memoryBytes / 2 ** 30} GiB (count ${safeCount(t)})`;
}

function render(rows: Row[], traces: Trace[], opts: RunOptions): string {
  const lines = [
    `Simulated ${opts.quick ? '(quick) ' : ''}with seed ${opts.seed ?? DEFAULT_SEED}; times in seconds. ` +
      'wait = arrival -> admitted at a child; to slot = arrival -> running in a child slot; ' +
      'starvation = longest time a model had a waiting request while another model was served; ' +
      'over target = interactive requests that waited past the trace\'s latency target.',
    'capacity = models-max / memory budget; (count N) = the models-max that always fits the budget, given to the ' +
      'count-only routers (llama-server --models-max, llama-swap groups) and to "ours (count only)". ours, ollama and ' +
      'the llama-swap matrix get both limits.',
    '',
    '| trace | capacity | policy | loads | wait p50 | wait p99 | wait max | to slot p99 | worst starvation | over target | completed | failed | rejected |',
    '|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const r of rows) {
    const t = traces.find((x) => x.name === r.trace)!;
    const stuck = r.stuck ? ` (+${r.stuck} stuck)` : '';
    lines.push(
      `| ${r.trace} | ${capacityOf(t)} | ${r.policy} | ${r.loads} | ${s(r.waitP50)} | ${s(r.waitP99)} | ${s(r.waitMax)} | ` +
        `${s(r.slotP99)} | ${s(r.starvationMs)}${r.starvedModel ? ` (${r.starvedModel})` : ''} | ${r.overTarget ?? ''} | ` +
        `${r.completed}${stuck} | ${r.failed} | ${r.rejected} |`,
    );
  }
  lines.push('', 'Ours against each alternative (fewer loads / lower p99 wait / lower max wait):', '');
  const others = POLICIES.map((p) => p.name).filter((n) => n !== OURS);
  lines.push(`| trace | ${others.join(' | ')} |`, `|---|${others.map(() => '---').join('|')}|`);
  for (const t of traces) {
    const mine = rows.find((r) => r.trace === t.name && r.policy === OURS)!;
    const cells = others.map((o) => {
      const theirs = rows.find((r) => r.trace === t.name && r.policy === o)!;
      const mark = (a: number, b: number) => (a < b ? 'better' : a === b ? 'same' : 'WORSE');
      return `${mark(mine.loads, theirs.loads)} / ${mark(mine.waitP99, theirs.waitP99)} / ${mark(mine.waitMax, theirs.waitMax)}`;
    });
    lines.push(`| ${t.name} | ${cells.join(' | ')} |`);
  }
  const broken = rows.filter((r) => r.violations.length > 0);
  if (broken.length) {
    lines.push('', 'Violations:');
    for (const r of broken) for (const v of r.violations.slice(0, 5)) lines.push(`- ${r.trace}: ${v}`);
  }
  return lines.join('\n');
}

function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  return a.length % 2 ? a[(a.length - 1) / 2]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2;
}

function renderSeeds(rows: (Row & { seed: number })[], traces: Trace[], seeds: number[], opts: RunOptions, dom: RunResult['dominated']): string {
  const lines = [
    `Simulated ${opts.quick ? '(quick) ' : ''}over ${seeds.length} seeds (${seeds[0]}..${seeds.at(-1)}); times in seconds; ` +
      'loads and p99 wait are medians over the seeds, max wait the largest over the seeds, rejected and over target totals.',
    '',
    '| trace | capacity | policy | loads | wait p99 | wait max | over target | failed | rejected | ours fewer loads & lower p99 |',
    '|---|---|---|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const t of traces) {
    for (const p of POLICIES) {
      const rs = rows.filter((r) => r.trace === t.name && r.policy === p.name);
      const wins = seeds.filter((seed) => {
        const mine = rows.find((r) => r.seed === seed && r.trace === t.name && r.policy === OURS)!;
        const theirs = rs.find((r) => r.seed === seed)!;
        return mine.loads < theirs.loads && mine.waitP99 < theirs.waitP99;
      }).length;
      const over = rs.some((r) => r.overTarget !== undefined) ? String(rs.reduce((a, r) => a + (r.overTarget ?? 0), 0)) : '';
      lines.push(
        `| ${t.name} | ${capacityOf(t)} | ${p.name} | ${median(rs.map((r) => r.loads))} | ${s(median(rs.map((r) => r.waitP99)))} | ` +
          `${s(Math.max(...rs.map((r) => r.waitMax)))} | ${over} | ${rs.reduce((a, r) => a + r.failed, 0)} | ${rs.reduce((a, r) => a + r.rejected, 0)} | ` +
          `${p.name === OURS ? '' : `${wins} of ${seeds.length}`} |`,
      );
    }
  }
  const zipf = ZIPF_LIKE.filter((n) => traces.some((t) => t.name === n)).map((n) => {
    const pairs = seeds.map((seed) => ({
      mine: rows.find((r) => r.seed === seed && r.trace === n && r.policy === OURS)!,
      ls: rows.find((r) => r.seed === seed && r.trace === n && r.policy === 'llama-server')!,
    }));
    const wins = pairs.filter(({ mine, ls }) => mine.loads < ls.loads && mine.waitP99 < ls.waitP99).length;
    // Not wins: fewer loads and the very same p99, said apart when that p99 is a first cold load, and when it
    // is the floor no router's p99 goes below (metrics.ts `p99Floor`: then no policy could have won the seed).
    const ties = pairs.filter(({ mine, ls }) => mine.loads < ls.loads && mine.waitP99 === ls.waitP99);
    const cold = ties.filter(({ mine }) => mine.p99IsFirstLoad).length;
    const floor = ties.filter(({ mine }) => mine.waitP99 === mine.p99Floor).length;
    const some = (k: number) => (k === ties.length ? 'each' : `${k} of them`);
    const tie = ties.length
      ? ` (fewer loads and the same p99 on ${ties.length} more${cold ? `, ${some(cold)} a first cold load` : ''}` +
        `${floor ? `${cold ? ',' : ''} ${some(floor)} at the p99 floor` : ''})`
      : '';
    // Seeds where ours' p99 is the floor and so no router could win on p99 (ties included).
    const atFloor = pairs.filter(({ mine }) => mine.waitP99 === mine.p99Floor).length;
    return `${n}: ${wins} of ${seeds.length}${tie}${atFloor ? `, ours at the p99 floor on ${atFloor}` : ''}`;
  });
  lines.push('', `Zipf-like traces, seeds where ours has fewer loads and a lower p99 wait than llama-server: ${zipf.join('; ')}.`);
  const broken = rows.filter((r) => r.violations.length > 0 || r.stuck > 0);
  if (broken.length) {
    lines.push('', 'Violations or unanswered requests:');
    for (const r of broken.slice(0, 10)) lines.push(`- ${r.trace} seed ${r.seed} ${r.policy}: ${r.stuck} stuck; ${r.violations.slice(0, 2).join('; ')}`);
  }
  if (dom.cases.length) {
    lines.push('', 'Dominated cases (a peer that rejected nothing had fewer loads and a lower p99 wait):');
    for (const c of dom.cases) lines.push(`- ${c}`);
  }
  lines.push('', `dominated: ${dom.n} of ${dom.of}`);
  return lines.join('\n');
}
