/**
 * `npm run bench [-- --quick] [--only proxy,sim,cold,footprint,memory,replay] [--out FILE]`: run the benchmarks and write
 * docs/BENCHMARKS.md (or FILE), and the raw figures to $TMPDIR/model-router-bench-results.json
 * (`--render THAT.json` writes the page again from them with the current findings). Every process started is stopped at the end, also on error and Ctrl-C.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeTinyModel } from '../src/gguf/tiny-model.js';
import { runSimulations } from './sim/run.js';
import { renderReplay, replay } from './replay.js';
import { coldStart } from './cold-start.js';
import { coldSwap } from './cold-swap.js';
import { FINDINGS } from './findings.js';
import { manyModels, startupFootprint, streamsFootprint } from './footprint.js';
import { machine } from './machine.js';
import { memoryBench, memoryTable } from './memory.js';
import { killAllNow, ROOT, stopAll } from './processes.js';
import { proxyOverhead } from './proxy-overhead.js';
import { render, type Results } from './report.js';

const PARTS = ['proxy', 'sim', 'cold', 'footprint', 'memory', 'replay'] as const;
type Part = (typeof PARTS)[number];

export interface BenchOptions {
  quick: boolean;
  only: Part[];
  out: string;
  log: (s: string) => void;
}

export async function runBench(opts: BenchOptions): Promise<Results> {
  const started = Date.now();
  const q = opts.quick;
  const r: Results = {
    machine: machine(),
    loadAfter: [],
    command: `npm run bench${q ? ' -- --quick' : ''}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    quick: q,
    durationS: 0,
    errors: [],
    findings: FINDINGS,
  };
  const work = mkdtempSync(join(tmpdir(), 'bench-'));
  const part = async (name: Part, fn: () => Promise<void>) => {
    if (!opts.only.includes(name)) return;
    try {
      await fn();
    } catch (err) {
      r.errors.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
      opts.log(`${name} failed: ${(err as Error).stack ?? String(err)}`);
      await stopAll();
    }
  };
  try {
    const modelPath = join(work, 'models', 'tiny.gguf');
    await makeTinyModel(modelPath, {});
    await part('sim', async () => {
      opts.log('scheduling policies: simulating');
      r.sim = runSimulations({ quick: q, seeds: q ? 3 : 12 }).markdown;
    });
    await part('replay', async () => {
      const llamaServer = process.env.LLAMA_SERVER;
      if (!llamaServer) {
        opts.log('replay skipped: LLAMA_SERVER is not set (the path to llama.cpp\'s llama-server)');
        r.replay = 'Skipped: LLAMA_SERVER was not set (the path to llama.cpp\'s llama-server).';
        return;
      }
      const o = { durationS: q ? 60 : 180, clients: 4 };
      r.replay = renderReplay(await replay({ llamaServer, workDir: work, ...o }, opts.log), o);
    });
    await part('proxy', async () => {
      const o = { rounds: q ? 2 : 5, durationS: q ? 0.5 : 3, chunks: 16, ...(q ? {} : { warmAnswers: 3000, warmMaxS: 10 }) };
      r.overheadOpts = o;
      r.overhead = await proxyOverhead(
        { ...o, concurrencies: [1, 16, 64], modelPath, llamaServer: process.env.LLAMA_SERVER || undefined, llamaArgs: process.env.BENCH_LLAMA_ARGS?.split(/\s+/).filter(Boolean), llamaConcurrencies: [1, 8] },
        opts.log,
      );
    });
    await part('cold', async () => {
      r.cold = await coldStart({ runs: q ? 3 : 7, modelsDir: join(work, 'models'), model: 'tiny' }, opts.log);
      if (process.env.LLAMA_SERVER) r.coldSwap = await coldSwap({ swaps: q ? 6 : 14, modelPath, llamaServer: process.env.LLAMA_SERVER }, opts.log);
      else opts.log('cold swap against llama.cpp\'s router: LLAMA_SERVER is not set, skipped');
    });
    await part('footprint', async () => {
      r.streams = await streamsFootprint({ streams: 1000, dripMs: 1000, holdS: q ? 1 : 3 }, opts.log);
      opts.log('footprint: start-up with 500 models');
      const one = manyModels(modelPath, 1);
      const dir = manyModels(modelPath, 500);
      const settleS = q ? 3 : 10;
      try {
        r.startup = [
          await startupFootprint({ modelsDir: one, files: 1, serverBin: 'llama-server', settleS }),
          await startupFootprint({ modelsDir: dir, files: 500, serverBin: 'llama-server', settleS }),
          await startupFootprint({ modelsDir: dir, files: 500, serverBin: 'router-engine', settleS }),
        ];
      } finally {
        rmSync(one, { recursive: true, force: true });
        rmSync(dir, { recursive: true, force: true });
      }
    });
    await part('memory', async () => {
      r.memory = memoryTable(await memoryBench({ quick: q }, opts.log));
      opts.log(`memory before the first load against measured after it:\n${r.memory}`);
    });
  } finally {
    await stopAll();
    rmSync(work, { recursive: true, force: true });
  }
  r.loadAfter = loadavg();
  r.durationS = (Date.now() - started) / 1000;
  writeFileSync(opts.out, render(r));
  // The raw figures too, so the page can be rendered again (--render) after its findings are edited.
  writeFileSync(join(tmpdir(), 'model-router-bench-results.json'), JSON.stringify(r, null, 1));
  opts.log(`wrote ${opts.out} (${r.durationS.toFixed(0)} s)`);
  return r;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, out: { type: 'string' }, render: { type: 'string' } },
  });
  const out = values.out ?? join(ROOT, 'docs', 'BENCHMARKS.md');
  if (values.render) {
    // Render a saved run again with the current findings (bench/findings.ts).
    const saved = JSON.parse(readFileSync(values.render, 'utf8')) as Results;
    writeFileSync(out, render({ ...saved, findings: FINDINGS }));
    return;
  }
  const only = (values.only?.split(',') ?? [...PARTS]) as Part[];
  const bad = only.filter((p) => !PARTS.includes(p));
  if (bad.length) {
    process.stderr.write(`unknown part(s) ${bad.join(', ')}; parts: ${PARTS.join(', ')}\n`);
    process.exit(2);
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAllNow();
      process.exit(130);
    });
  }
  process.on('exit', killAllNow);
  const r = await runBench({
    quick: values.quick!,
    only,
    out,
    log: (s) => process.stderr.write(`${s}\n`),
  });
  if (r.errors.length) process.exitCode = 1;
}

// Run when executed, not when imported (the test imports runBench).
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  await main();
}
