/** The memory room: how much a model needs per device. Imports gguf/ and devices/ only. */
export { resolveNeed, type Need, type NeedRequest, type NeedSource, type ProbeSource } from './resolve.js';
export { engineKind, engineEstimateOptions, defaultCpuBase, BUNDLED_CPU_BASE, LLAMA_SERVER_CPU_BASE, type EngineKind } from './engine.js';
export { findFitParams, fitParamsArgs, fitParamsArgv, parseBreakdown, runFitParams, deviceOfRow, type Breakdown, type BreakdownRow } from './fit-params.js';
export { learnBase, learnedBase, serverBaseKey, isServerBaseKey } from './server-base.js';
export { estimateFromGguf, estimateFromHeader, estimateOptionsFromArgs, kvBytesPerToken, shapeFromGguf } from './estimate.js';
export { assignLayers, estimateFromShape, DEFAULT_CPU_BASE, DEFAULT_GPU_BASE } from './estimate-core.js';
export type { Estimate, EstimateOptions, ModelShape, DevicePart } from './estimate-core.js';
export { cacheTypeBytes, CACHE_TYPE_BYTES } from './kv.js';
export { MemoryLedger, type LedgerEntry, type LedgerOptions, type ModelFileIdentity } from './ledger.js';
export { memoryArgs } from './args.js';
export { runProbe, parseProbeOutput, ProbeError, type ProbeOptions, type ProbeResult } from './probe.js';
export { fitContext, ctxBounds, DEFAULT_CTX_MIN, DEFAULT_CTX_MAX, type CtxAutoInput, type CtxAutoResult, type RoomLimit } from './ctx-auto.js';
