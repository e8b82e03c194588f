/**
 * --dry-run: the memory this engine would use for a model and flags, per device, without reading the weights.
 * The router's memory probe runs it before deciding what fits, so it must track real use closely: model and
 * context come from node-llama-cpp's own estimator (GgufInsights, the figures it uses to size contexts), plus the
 * resident memory of this process's runtime itself (Node + llama.cpp loaded, no model), measured.
 */
import type { Llama } from 'node-llama-cpp';
import type { EngineOptions } from './flags.js';
import { gpuDeviceName } from './llama.js';
import { readModelInfo } from './model-file.js';
import { resolveContextSize, resolveGpuLayers } from './runtime.js';

/**
 * Resident memory of an engine process with node-llama-cpp's CPU backend loaded and no model: measured as the
 * VmRSS of `router-engine` after getLlama() on Node 20.20 / linux-x64 (two runs: 87.4 MB and 88.1 MB).
 * Added to the CPU figure because the router compares these numbers with what processes really hold.
 */
export const RUNTIME_BASE_BYTES = 88 * 1024 * 1024;

export interface DryRunReport {
  devices: Record<string, number>;
  model: number;
  context: number;
  runtime: number;
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
  const devices: Record<string, number> = { CPU: RUNTIME_BASE_BYTES + model.cpuRam + context.cpuRam };
  const gpu = gpuDeviceName(llama);
  const vram = model.gpuVram + context.gpuVram;
  if (gpu && vram > 0) devices[gpu] = vram;
  return {
    devices,
    model: model.cpuRam + model.gpuVram,
    context: context.cpuRam + context.gpuVram,
    runtime: RUNTIME_BASE_BYTES,
    ctx_size: ctxSize,
    parallel: options.parallel,
    gpu_layers: gpuLayers,
  };
}
