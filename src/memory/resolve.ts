import type { GgufHeader } from '../gguf/reader.js';
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
}

export interface NeedRequest {
  /** The preset's `memory = CUDA0:8GiB,CPU:1GiB`, already parsed: taken as-is, no questions asked. */
  override?: Record<string, number>;
  /** The measured ledger and this model's key in it (`ledger.key(file, childArgs)`). */
  ledger?: MemoryLedger;
  ledgerKey?: string;
  /** A probe command: the preset's `probe =` line, or the bundled engine's `--dry-run` argv. */
  probe?: string | readonly string[];
  probeTimeoutMs?: number;
  probeEnv?: NodeJS.ProcessEnv;
  /** Cancels a running probe (shutdown). */
  probeSignal?: AbortSignal;
  /**
   * Probe answers by command (+ ledger key), so a model is probed once per router run, not per load.
   * Pass one Map for the router's lifetime; omit to probe every time.
   */
  probeCache?: Map<string, Record<string, number>>;
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

  if (req.probe && (typeof req.probe === 'string' ? req.probe.trim() !== '' : req.probe.length > 0)) {
    const cacheKey = JSON.stringify([req.probe, req.ledgerKey ?? '']);
    const cached = req.probeCache?.get(cacheKey);
    if (cached) return { devices: { ...cached }, source: 'probe', notes };
    try {
      const { devices } = await runProbe(req.probe, { timeoutMs: req.probeTimeoutMs, env: req.probeEnv, signal: req.probeSignal });
      req.probeCache?.set(cacheKey, devices);
      return { devices, source: 'probe', notes };
    } catch (err) {
      note(`memory probe failed, falling back to the estimate: ${(err as Error).message}`);
    }
  }

  if (req.gguf !== undefined) {
    try {
      const e = await estimateFromGguf(req.gguf, req.estimate ?? { devices: [] });
      return { devices: e.devices, source: 'estimate', notes };
    } catch (err) {
      note(`memory estimate failed: ${(err as Error).message}`);
    }
  }

  return { devices: {}, source: 'unknown', notes };
}
