import type { GgufHeader } from '../gguf/reader.js';
import type { DevicePart } from './estimate-core.js';
import { estimateFromGguf, type EstimateOptions } from './estimate.js';
import type { MemoryLedger } from './ledger.js';
import { runProbe } from './probe.js';

type Logger = (msg: string) => void;

export type NeedSource = 'override' | 'measured' | 'probe' | 'estimate' | 'unknown';

export interface Need {
  /** Bytes per device ("CPU", "CUDA0", ...). Empty only when source is 'unknown'. */
  devices: Record<string, number>;
  source: NeedSource;
  /** Why a more trusted source was passed over (a failed probe, an unreadable GGUF), for logs. */
  notes: string[];
  /**
   * What the figure adds up, per device, when the source knows (the estimate; llama-fit-params): weights,
   * KV cache (llama.cpp's "context"), compute buffers and the server's base, in bytes.
   */
  parts?: Record<string, DevicePart>;
}

/**
 * A probe that is not a command printing JSON (llama-fit-params, whose table is parsed): `key` names it in
 * the probe cache, `run` answers (and throws to fall back to the estimate).
 */
export interface ProbeSource {
  key: string;
  run(opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; signal?: AbortSignal }): Promise<{ devices: Record<string, number>; parts?: Record<string, DevicePart> }>;
}

export interface NeedRequest {
  /** The preset's `memory = CUDA0:8GiB,CPU:1GiB`, already parsed: taken as-is, no questions asked. */
  override?: Record<string, number>;
  /** The measured ledger and this model's key in it (`ledger.key(file, childArgs)`). */
  ledger?: MemoryLedger;
  ledgerKey?: string;
  /** A probe command: the preset's `probe =` line, or the bundled engine's `--dry-run` argv; or a ProbeSource. */
  probe?: string | readonly string[] | ProbeSource;
  probeTimeoutMs?: number;
  probeEnv?: NodeJS.ProcessEnv;
  /** Cancels a running probe (shutdown). */
  probeSignal?: AbortSignal;
  /**
   * Probe answers by command (+ ledger key), so a model is probed once per router run, not per load.
   * Pass one Map for the router's lifetime; omit to probe every time.
   */
  probeCache?: Map<string, { devices: Record<string, number>; parts?: Record<string, DevicePart> }>;
  /** The GGUF file (or its header, already read) for the header-only estimate. */
  gguf?: string | GgufHeader;
  /** Estimate options; `estimateOptionsFromArgs(childArgs, {devices})` builds them from child flags. */
  estimate?: EstimateOptions;
  logger?: Logger;
}

/**
 * How much a model needs per device, from the most trusted source available:
 *   1. override  - the operator said so (preset `memory =`);
 *   2. measured  - the ledger saw this file with these memory settings run before;
 *   3. probe     - a command that knows (the engine's --dry-run, or a preset's probe) answered;
 *   4. estimate  - computed from the GGUF header (src/memory/estimate-core.ts documents the formula);
 *   5. unknown   - none of the above (a `cmd`/`url` model with no file): `devices` is {} and the caller
 *                  decides (the router may admit it on count limits alone).
 * A failing probe or unreadable GGUF falls through to the next source and is explained in `notes`
 * (and logged); resolveNeed itself does not throw.
 */
export async function resolveNeed(req: NeedRequest): Promise<Need> {
  const notes: string[] = [];
  const note = (msg: string) => {
    notes.push(msg);
    req.logger?.(msg);
  };

  if (req.override && Object.keys(req.override).length > 0) return { devices: { ...req.override }, source: 'override', notes };

  if (req.ledger && req.ledgerKey) {
    const measured = req.ledger.get(req.ledgerKey);
    if (measured && Object.keys(measured).length > 0) return { devices: measured, source: 'measured', notes };
  }

  if (req.probe && (typeof req.probe === 'string' ? req.probe.trim() !== '' : isProbeSource(req.probe) || req.probe.length > 0)) {
    const probe = req.probe;
    const cacheKey = JSON.stringify([isProbeSource(probe) ? probe.key : probe, req.ledgerKey ?? '']);
    const cached = req.probeCache?.get(cacheKey);
    if (cached) return { devices: { ...cached.devices }, source: 'probe', notes, ...(cached.parts ? { parts: cached.parts } : {}) };
    try {
      const o = { timeoutMs: req.probeTimeoutMs, env: req.probeEnv, signal: req.probeSignal };
      const answer = isProbeSource(probe) ? await probe.run(o) : { devices: (await runProbe(probe, o)).devices };
      req.probeCache?.set(cacheKey, answer);
      return { devices: { ...answer.devices }, source: 'probe', notes, ...(answer.parts ? { parts: answer.parts } : {}) };
    } catch (err) {
      note(`memory probe failed, falling back to the estimate: ${(err as Error).message}`);
    }
  }

  if (req.gguf !== undefined) {
    try {
      const e = await estimateFromGguf(req.gguf, req.estimate ?? { devices: [] });
      return { devices: e.devices, source: 'estimate', notes, parts: e.parts };
    } catch (err) {
      note(`memory estimate failed: ${(err as Error).message}`);
    }
  }

  return { devices: {}, source: 'unknown', notes };
}

function isProbeSource(p: string | readonly string[] | ProbeSource): p is ProbeSource {
  return typeof p === 'object' && !Array.isArray(p) && typeof (p as ProbeSource).run === 'function';
}
