/**
 * Router-mode keys in a preset's `[*]` section. llama.cpp's own README and real presets write
 * `[*] models-max = 1` / `models-autoload = 0`: in llama-server they configure the router itself, not a child.
 * They are taken out of `[*]` here (a child must never get them) and handed to the router, where the command
 * line still wins (src/cli/serve.ts). In a model's own section they stay an error: one model cannot set them.
 */

import { lookupFlag } from './llama-flags.js';
import { CatalogError } from './model-spec.js';
import type { PresetSection } from './preset-files.js';
import { ValueError, parseBool, parseNonNegativeInteger } from './values.js';

export interface PresetRouterSettings {
  modelsMax?: number;
  modelsAutoload?: boolean;
}

/** Splits `[*]` into the router's settings and the rest (the child options every model inherits). */
export function routerSettingsOf(global: PresetSection | undefined): { router: PresetRouterSettings; rest?: PresetSection } {
  const router: PresetRouterSettings = {};
  if (!global || global.error) return { router, rest: global };
  const entries = global.entries.filter((e) => {
    const found = lookupFlag(e.key);
    const name = found?.flag.name;
    if (name !== 'models-max' && name !== 'models-autoload') return true;
    try {
      if (name === 'models-max') router.modelsMax = parseNonNegativeInteger(e.value);
      else router.modelsAutoload = parseBool(e.value) !== found!.negated;
    } catch (err) {
      if (err instanceof ValueError) throw new CatalogError(`${err.message} (line ${e.line})`, global.file, global.name, e.key);
      throw err;
    }
    return false;
  });
  return { router, rest: { ...global, entries } };
}
