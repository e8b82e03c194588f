/** The scheduler's options and their defaults (the router fills them from its flags). */
import type { SchedulerConfig } from './types.js';

export const defaultConfig: SchedulerConfig = {
  modelsMax: 4,
  queueMax: 256,
  queueTimeoutMs: 600_000,
  autoload: true,
  marginBytes: null,
  caps: {},
  recoverMs: 5_000,
  readingMaxAgeMs: 1_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
  serial: false,
  drainAfterMs: 15_000,
  serialLoads: true,
  costAwareVictims: false,
};

/** The given options over the defaults. */
export function configOf(config: Partial<SchedulerConfig>): SchedulerConfig {
  // An option given as undefined keeps its default (an undefined window would never drain: starvation).
  const given = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined));
  return { ...defaultConfig, ...given };
}
