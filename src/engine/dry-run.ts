/**
 * --dry-run: the memory this engine would use for a model and flags, per device, without reading the weights.
 * The router's memory probe runs it before deciding what fits, so it must track real use closely: model and
 * context come from node-llama-cpp's own estimator (GgufInsights, the figures it uses to size contexts), plus the
 * resident memory of this process's runtime itself (Node + llama.cpp loaded, no model) and a fixed per-model
 * overhead, both measured. On a CPU with AMX it adds what node-llama-cpp's estimator leaves out: the CPU backend's
 * repacked copy of the layers' matrices (its log: "AMX model buffer size = 49.78 MiB" for a 50 MB model, kept in
 * anonymous memory beside the mapped file), so the probe tracks the process's real RSS on such a machine too.
 */
import type { Llama } from 'node-llama-cpp';
import { cpuHasAmx } from '../devices/cpu-flags.js';
import { readGgufHeader } from '../gguf/reader.js';
import type { EngineOptions } from './flags.js';
import { gpuDeviceName } from './llama.js';
import { readModelInfo } from './model-file.js';
import { resolveContextSize, resolveGpuLayers } from './runtime.js';

/**
 * Resident memory of an engine process listening, with node-llama-cpp's CPU backend loaded and no model:
 * VmRSS measured on Node 20.20 / linux-x64, six runs, 91.4-95.4 MB.
 */
export const RUNTIME_BASE_BYTES = 93 * 1024 * 1024;

/**
 * What loading any model costs beyond node-llama-cpp's model and context estimates (llama.cpp backend and
 * graph buffers, thread stacks, the JS side of the GGUF metadata and tokenizer). Calibrated against VmRSS after
 * /health 200 and one request, engine at -t 1 (MiB, RSS vs base + model + context estimates):
 *   0.9 MB model: 124 vs 100;  50 MB: 194 vs 175;  200 MB: 375 vs 360;  50 MB -c 8192: 247 vs 235;
 *   50 MB -np 4: 245 vs 229.
 * 24 MiB makes the figure meet or exceed the measured RSS in every case: a memory probe should err high,
 * and real use still grows as the KV cache fills.
 */
export const MODEL_OVERHEAD_BYTES = 24 * 1024 * 1024;

export interface DryRunReport {
  devices: Record<string, number>;
  model: number;
  context: number;
  runtime: number;
  overhead: number;
  /** The CPU backend's repacked copy of the layer weights (AMX); 0 where the CPU has none. */
  repack: number;
  ctx_size: number;
  parallel: number;
  gpu_layers: number;
}

export async function dryRun(llama: Llama, options: EngineOptions): Promise<DryRunReport> {
  const { insights } = await readModelInfo(options.model, llama);
  const gpuLayers = resolveGpuLayers(llama, options, insights.totalLayers);
  const ctxSize = resolveContextSize(options.ctxSize, insights.trainContextSize);
  const model = await insights.estimateModelResourceRequirementsV2({ gpuLayers });
  const context = await insights.estimateContextResourceRequirementsV2({
    contextSize: ctxSize,
    modelGpuLayers: gpuLayers,
    sequences: options.parallel,
  });
  const repack = cpuHasAmx() ? await repackBytes(options.model, insights.totalLayers - 1, gpuLayers) : 0;
  const devices: Record<string, number> = { CPU: RUNTIME_BASE_BYTES + MODEL_OVERHEAD_BYTES + model.cpuRam + context.cpuRam + repack };
  const gpu = gpuDeviceName(llama);
  const vram = model.gpuVram + context.gpuVram;
  if (gpu && vram > 0) devices[gpu] = vram;
  return {
    devices,
    model: model.cpuRam + model.gpuVram,
    context: context.cpuRam + context.gpuVram,
    runtime: RUNTIME_BASE_BYTES,
    overhead: MODEL_OVERHEAD_BYTES,
    repack,
    ctx_size: ctxSize,
    parallel: options.parallel,
    gpu_layers: gpuLayers,
  };
}

/**
 * Bytes of the layer matrices (every `blk.N.*` tensor but norms) of the blocks left on the CPU: what the CPU
 * backend repacks for AMX. llama.cpp offloads the last `gpuLayers` layers (the output layer counts as one of them).
 */
async function repackBytes(file: string, blockCount: number, gpuLayers: number): Promise<number> {
  const cpuBlocks = Math.max(0, blockCount - Math.max(0, gpuLayers - 1));
  const header = await readGgufHeader(file, { skipStringArrays: true });
  let bytes = 0;
  for (const t of header.tensors) {
    const m = /^blk\.(\d+)\./.exec(t.name);
    if (m && Number(m[1]) < cpuBlocks && !/norm/.test(t.name)) bytes += t.bytes;
  }
  return bytes;
}
