/**
 * Every policy against every trace, one table. The policies: ours (the real Scheduler) and
 * faithful models of llama-server's router, llama-swap and Ollama (see policies/*.ts for
 * what each models and from which source).
 */
import { simulate } from './engine.js';
import { summarize, type Row } from './metrics.js';
import { llamaServer } from './policies/llama-server.js';
import { llamaSwap } from './policies/llama-swap.js';
import { ollama } from './policies/ollama.js';
import { ours } from './policies/ours.js';
import { allTraces, DEFAULT_SEED } from './traces.js';
import { safeCount, type PolicyFactory, type Trace } from './types.js';

export interface RunOptions {
  quick?: boolean;
  seed?: number;
}

export interface RunResult {
  rows: Row[];
  markdown: string;
}

export const POLICIES: { name: string; factory: () => PolicyFactory }[] = [
  { name: 'ours', factory: () => ours() },
  { name: 'llama-server', factory: () => llamaServer() },
  { name: 'llama-swap', factory: () => llamaSwap() },
  // The same scheduler with its 429 guard configured out (`concurrencyLimit` very high):
  // on bursts the default limit of 10 rejects most requests, which flatters its waits.
  { name: 'llama-swap (no 429)', factory: () => llamaSwap({ concurrencyLimit: Number.MAX_SAFE_INTEGER }) },
  { name: 'ollama', factory: () => ollama() },
];

export function runSimulations(opts: RunOptions = {}): RunResult {
  const traces = allTraces({ quick: opts.quick, seed: opts.seed ?? DEFAULT_SEED });
  const rows: Row[] = [];
  for (const trace of traces) {
    for (const p of POLICIES) rows.push({ ...summarize(simulate(trace, p.factory())), policy: p.name });
  }
  return { rows, markdown: render(rows, traces, opts) };
}

function render(rows: Row[], traces: Trace[], opts: RunOptions): string {
  const s = (ms: number) => (ms / 1000).toFixed(1);
  const lines = [
    `Simulated ${opts.quick ? '(quick) ' : ''}with seed ${opts.seed ?? DEFAULT_SEED}; times in seconds. ` +
      'wait = arrival -> admitted at a child; to slot = arrival -> running in a child slot; ' +
      'starvation = longest time a model had a waiting request while another model was served.',
    'capacity = models-max / memory budget; (count N) = the models-max that always fits the budget, given to the ' +
      'count-only routers (llama-server --models-max, llama-swap swap groups). ours and ollama get both limits.',
    '',
    '| trace | capacity | policy | loads | wait p50 | wait p99 | wait max | to slot p99 | worst starvation | completed | failed | rejected |',
    '|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const r of rows) {
    const t = traces.find((x) => x.name === r.trace)!;
    const cap = `${t.capacity.modelsMax} / ${t.capacity.memoryBytes / 2 ** 30} GiB (count ${safeCount(t)})`;
    const stuck = r.stuck ? ` (+${r.stuck} stuck)` : '';
    lines.push(
      `| ${r.trace} | ${cap} | ${r.policy} | ${r.loads} | ${s(r.waitP50)} | ${s(r.waitP99)} | ${s(r.waitMax)} | ` +
        `${s(r.slotP99)} | ${s(r.starvationMs)}${r.starvedModel ? ` (${r.starvedModel})` : ''} | ` +
        `${r.completed}${stuck} | ${r.failed} | ${r.rejected} |`,
    );
  }
  lines.push('', 'Ours against each alternative (fewer loads / lower p99 wait / lower max wait):', '');
  const others = POLICIES.map((p) => p.name).filter((n) => n !== 'ours');
  lines.push(`| trace | ${others.join(' | ')} |`, `|---|${others.map(() => '---').join('|')}|`);
  for (const t of traces) {
    const mine = rows.find((r) => r.trace === t.name && r.policy === 'ours')!;
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
