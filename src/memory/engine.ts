import path from 'node:path';
import { cpuHasAmx } from '../devices/cpu-flags.js';
import { memoryArgs } from './args.js';
import { estimateOptionsFromArgs } from './estimate.js';
import type { EstimateOptions } from './estimate-core.js';

/**
 * Which server a child runs, as far as memory goes. The estimate differs per engine in three ways:
 * how `-c` is shared among `-np` slots, whether flash attention is on by default (it removes the
 * attention-score matrix from the compute buffer), and the server's own base (its code, heap and threads).
 *
 *  - `bundled`: our router-engine (Node + node-llama-cpp): `-c` per slot, flash attention auto (= on), base 108 MiB,
 *    and on a CPU with AMX a repacked copy of the weights (cpuHasAmx).
 *  - `llama-server`: `-c` shared by all slots (with no `-c` and `-np N`, N × the training context), flash
 *    attention `auto` (= on where the backend has it, as on every CPU), base 16 MiB (see below).
 *  - `other`: any other `cmd`. Treated like llama-server for the model's own part (most are llama.cpp
 *    servers), with a base learned from the first measured child of that server (server-base.ts), and
 *    until then the bundled engine's 108 MiB, the safe side.
 */
export type EngineKind = 'bundled' | 'llama-server' | 'other';

const MiB = 1024 * 1024;

/**
 * llama-server's own resident memory with a model loaded and a request served, beside what llama.cpp
 * allocates for the model (weights, context, compute buffers): measured here (build 10587, CPU, static)
 * as RSS after a prompt filling the context less llama-fit-params' `self` for the same flags: 15.3-16.5 MiB
 * on models of 1 and 50 MB (its code pages, ~11 MiB of them file-backed, plus heap, HTTP server, threads).
 * A GPU build maps more library code; learned from a measurement (server-base.ts), it raises this.
 */
export const LLAMA_SERVER_CPU_BASE = 16 * MiB;
/**
 * Our bundled engine: Node with node-llama-cpp, a model loaded and a long prompt served, beside what llama.cpp
 * allocates for the model (weights, their AMX copy, KV cache, flash-attention compute buffer): measured here as
 * RSS less those parts, with the engine run as the router runs it (V8's young generation capped,
 * src/package/paths.ts ENGINE_NODE_FLAGS): 93-107 MiB on models of 1-200 MB over six runs of
 * test/memory/estimate-real.test.ts, and 40 more requests to a 50 MB model added 3-4 MiB (its JS heap grows a
 * little with the requests it served). 108 MiB is the top of that. Uncapped, the young generation made it 122-158.
 */
export const BUNDLED_CPU_BASE = 108 * MiB;

/** `bundled` when the router runs its own engine; `llama-server` when the program is named so; else `other`. */
export function engineKind(command: string | undefined, bundled: boolean): EngineKind {
  if (bundled) return 'bundled';
  if (command && /^llama-server(\.exe)?$/i.test(path.basename(command))) return 'llama-server';
  return 'other';
}

/** Re-exported: the estimate and the bundled engine's --dry-run read the same flag (src/devices/cpu-flags.ts). */
export { cpuHasAmx };

/** The base an engine is known to have before anything was measured (`other`: the safe side). */
export function defaultCpuBase(kind: EngineKind): number {
  return kind === 'llama-server' ? LLAMA_SERVER_CPU_BASE : BUNDLED_CPU_BASE;
}

/**
 * Estimate options for a child of this engine, from its arguments: `estimateOptionsFromArgs` plus the
 * engine's defaults (context scope, flash attention, base). Arguments win over the defaults.
 */
export function engineEstimateOptions(
  kind: EngineKind,
  args: readonly string[],
  base: Pick<EstimateOptions, 'devices'> & Partial<EstimateOptions> & { env?: Record<string, string | undefined> },
): EstimateOptions {
  const llamaLike = kind !== 'bundled';
  const opts = estimateOptionsFromArgs(args, { ctxScope: llamaLike ? 'total' : 'per-sequence', ...base });
  // llama-server's -fa defaults to auto: on wherever the backend supports it (every CPU build does).
  const fa = memoryArgs(args, base.env)['flash-attn'];
  if (llamaLike && (fa === undefined || fa === 'auto')) opts.flashAttention = true;
  // Our engine creates contexts with node-llama-cpp's default, flash attention auto (its log: "flashAttention=auto",
  // a compute buffer of the flash-attention size); it takes no -fa. Its CPU backend repacks the weights for AMX
  // where the CPU has it (its log: "AMX model buffer size = 49.78 MiB" beside "CPU_Mapped ... 50.33 MiB").
  if (!llamaLike) {
    opts.flashAttention = true;
    if (opts.repackWeights === undefined) opts.repackWeights = cpuHasAmx();
  }
  // With no -c (or -c 0), llama-server gives each of N slots the training context: N × n_ctx_train in all.
  if (llamaLike && !opts.ctxSize) opts.ctxFromModelPerSlot = true;
  if (opts.cpuBaseBytes === undefined) opts.cpuBaseBytes = defaultCpuBase(kind);
  return opts;
}
