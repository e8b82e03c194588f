/** A model spec with the catalogue's defaults (no preset keys set), for tests that build one by hand. */
import type { ModelSpec } from '../../src/catalog/model-spec.js';

export function modelSpec(name: string, extra: Partial<ModelSpec> = {}): ModelSpec {
  return {
    name,
    aliases: [],
    args: [],
    env: {},
    healthPath: '/health',
    loadOnStartup: false,
    priority: 0,
    pin: false,
    gpuLock: false,
    source: {},
    ...extra,
  };
}
