/**
 * Memory before the first load against the figure measured after it (`npm run bench -- --only memory`).
 *
 * For each model size and engine, a fresh router (empty --state-dir, so nothing was measured before) serves one
 * generated model. "before" is what GET /models shows before the model ever loaded: the figure with source
 * `probe` (the bundled engine's --dry-run; llama-fit-params for llama-server) once it is in, and the header-only
 * `estimate` the router answers first (computed here with the same functions and options as the router's memory
 * hooks). Then one request with a prompt filling most of the 2048-token context (it touches the KV cache and the
 * compute buffers), and "measured" is the figure the router then keeps (source `measured` in /models: the
 * maximum the router saw, RSS of the child's process tree, kept in its ledger). ratio = before / measured.
 *
 * Sizes 1, 20, 50 and 200 MB (--quick: 1 and 50); 500 MB with BENCH_MEMORY_500=1 (a 500 MB model takes minutes
 * to fill its context on two shared cores). llama-server is $LLAMA_SERVER, else llama-server on PATH, else
 * ../shared/llama.cpp/llama-server; its rows are left out (and said so) when there is none.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { makeTinyModel } from '../src/gguf/tiny-model.js';
import { onPath } from '../src/cli/server-bin.js';
import { defaultCpuBase, engineEstimateOptions, type EngineKind } from '../src/memory/engine.js';
import { estimateFromGguf } from '../src/memory/estimate.js';
import { findFitParams } from '../src/memory/fit-params.js';
import { ROOT, startRouter, waitFor } from './processes.js';

const MiB = 1024 * 1024;

export interface MemoryRow {
  sizeMb: number;
  fileMiB: number;
  engine: 'bundled' | 'llama-server';
  source: 'estimate' | 'probe';
  beforeMiB: number;
  measuredMiB: number;
  ratio: number;
  /** What the figure added up on the CPU (weights, kv, compute, base), MiB. */
  parts?: Record<string, number>;
}

export interface MemoryResult {
  rows: MemoryRow[];
  notes: string[];
  promptTokens: number;
}

function llamaServer(): string | undefined {
  // ../shared from the main checkout, ../../shared from a worktree under /work/wt.
  const shared = [resolve(ROOT, '..', 'shared', 'llama.cpp', 'llama-server'), resolve(ROOT, '..', '..', 'shared', 'llama.cpp', 'llama-server')].find((f) => existsSync(f));
  return process.env.LLAMA_SERVER ?? onPath('llama-server') ?? shared;
}

export async function memoryBench(opts: { quick: boolean }, log: (s: string) => void): Promise<MemoryResult> {
  const sizes = opts.quick ? [1, 50] : [1, 20, 50, 200];
  if (process.env.BENCH_MEMORY_500 === '1') sizes.push(500);
  const server = llamaServer();
  const fit = server ? (process.env.LLAMA_FIT_PARAMS ?? findFitParams({ serverBin: server })) : undefined;
  const notes: string[] = [];
  if (!server) notes.push('no llama-server ($LLAMA_SERVER, PATH or ../shared/llama.cpp): its rows are left out');
  else if (!fit) notes.push('no llama-fit-params beside llama-server or on PATH: llama-server rows have no probe');
  if (!sizes.includes(500)) notes.push('500 MB: run with BENCH_MEMORY_500=1');
  const engines: Array<{ engine: MemoryRow['engine']; bin: string }> = [{ engine: 'bundled', bin: 'router-engine' }];
  if (server) engines.push({ engine: 'llama-server', bin: server });

  const work = mkdtempSync(join(tmpdir(), 'bench-memory-'));
  const rows: MemoryRow[] = [];
  const promptTokens = 1800; // of a 2048-token context; the generated models' vocabulary is one token per byte
  try {
    for (const sizeMb of sizes) {
      const file = join(work, `m${sizeMb}.gguf`);
      log(`memory: making a ${sizeMb} MB model`);
      await makeTinyModel(file, { sizeMb, seed: sizeMb });
      for (const { engine, bin } of engines) {
        log(`memory: ${sizeMb} MB on ${engine}`);
        const dir = join(work, `${engine}-${sizeMb}`);
        mkdirSync(join(dir, 'models'), { recursive: true });
        symlinkSync(file, join(dir, 'models', `m${sizeMb}.gguf`));
        const kind: EngineKind = engine === 'bundled' ? 'bundled' : 'llama-server';
        const estimate = await estimateFromGguf(file, engineEstimateOptions(kind, [], { devices: [], cpuBaseBytes: defaultCpuBase(kind) }));
        const args = ['--models-dir', join(dir, 'models'), '--state-dir', join(dir, 'state'), '--server-bin', bin, '--models-memory-margin', '0'];
        if (engine === 'llama-server' && fit) args.push('--fit-params-bin', fit);
        const router = await startRouter(args);
        try {
          const name = `m${sizeMb}`;
          const memoryOf = async () => ((await (await fetch(`${router.url}/models`)).json()) as { data: Array<{ id: string; memory?: any; status: { value: string } }> }).data.find((m) => m.id === name);
          const probe = await waitFor('the probe figure', async () => {
            const m = await memoryOf();
            return m?.memory?.source === 'probe' ? m.memory : undefined;
          }, 120_000, 50).catch(() => undefined);
          const res = await fetch(`${router.url}/v1/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ model: name, prompt: 'hello world '.repeat(promptTokens / 12), max_tokens: 4 }),
          });
          if (res.status !== 200) throw new Error(`${name} on ${engine}: ${res.status} ${await res.text()}`);
          await res.arrayBuffer();
          // The router measures when the child is ready and after its first request, and keeps the maximum in its
          // ledger: what /models shows as `measured` from then on (after a restart, or while the child runs).
          // The ledger is written only when a figure grows: wait a moment for the measurement after the request, then
          // take the larger of the ledger's and the running child's (/models) figures.
          await new Promise((r) => setTimeout(r, 1500));
          const live = await memoryOf();
          const measured = Math.max(live?.memory?.source === 'measured' ? (live.memory.devices.CPU as number) : 0, await waitFor('the ledger', () => ledgerFigure(join(dir, 'state')), 60_000, 100));
          const mib = (b: number) => b / MiB;
          const partsMiB = (p?: Record<string, number>) => p && Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Math.round(mib(v) * 10) / 10]));
          const fileMiB = mib(estimate.parts.CPU!.weights);
          rows.push({ sizeMb, fileMiB, engine, source: 'estimate', beforeMiB: mib(estimate.devices.CPU!), measuredMiB: mib(measured), ratio: estimate.devices.CPU! / measured, parts: partsMiB(estimate.parts.CPU as unknown as Record<string, number>) });
          if (probe) {
            rows.push({ sizeMb, fileMiB, engine, source: 'probe', beforeMiB: mib(probe.devices.CPU), measuredMiB: mib(measured), ratio: probe.devices.CPU / measured, parts: partsMiB(probe.parts?.CPU) });
          } else notes.push(`${sizeMb} MB on ${engine}: no probe figure within 120 s`);
        } finally {
          await router.stop();
        }
      }
      rmSync(file, { force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { rows, notes, promptTokens };
}

/** The CPU figure of the one model in a router's ledger (the largest it measured). */
function ledgerFigure(stateDir: string): number | undefined {
  try {
    const entries = (JSON.parse(readFileSync(join(stateDir, 'memory-ledger.json'), 'utf8')) as { entries: Record<string, { devices: Record<string, number> }> }).entries;
    return Object.entries(entries).find(([key]) => !key.startsWith('base|'))?.[1].devices.CPU;
  } catch {
    return undefined;
  }
}

/** The markdown table (also printed by the bench). */
export function memoryTable(r: MemoryResult): string {
  const f = (x: number) => x.toFixed(1);
  const out = [
    '| size | engine | source | before MiB | measured MiB | ratio | before = weights + kv + compute + base [+ repack] (MiB) |',
    '|--:|---|---|--:|--:|--:|---|',
  ];
  for (const x of r.rows) {
    const p = x.parts;
    const parts =
      p && p.weights !== undefined
        ? `${f(p.weights)} + ${f(p.kv ?? 0)} + ${f(p.compute ?? 0)} + ${f(p.base ?? 0)}${p.repack ? ` + ${f(p.repack)}` : ''}`
        : '(the probe does not say)';
    out.push(`| ${x.sizeMb} MB | ${x.engine} | ${x.source} | ${f(x.beforeMiB)} | ${f(x.measuredMiB)} | ${x.ratio.toFixed(3)} | ${parts} |`);
  }
  if (r.notes.length) out.push('', ...r.notes.map((n) => `- ${n}`));
  return out.join('\n');
}
