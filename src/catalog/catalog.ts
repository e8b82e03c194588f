/**
 * The catalogue: what models exist, from `--models-dir`, `--models-preset` and the router's child arguments.
 */

import { discoverModelsDir } from './discover.js';
import type { CatalogError, ModelSpec } from './model-spec.js';
import { readPreset } from './preset-files.js';
import { routerSettingsOf, type PresetRouterSettings } from './router-settings.js';
import { validateCatalog, type CatalogSources, type ModelResult } from './validate.js';

export interface CatalogOptions {
  modelsDir?: string;
  /** An INI file, or a folder of NAME.ini files (see preset-files.ts). */
  presetPath?: string;
  /** Router command-line child args, applied to every llama-server child above every preset. */
  childArgs?: string[];
}

export interface Catalog {
  /** Valid models, sorted by name. */
  models: ModelSpec[];
  /** Models whose definition is wrong, sorted by name; each error names file, section and key. */
  invalid: { name: string; error: CatalogError }[];
  /** The valid model with this name or alias. */
  resolve(nameOrAlias: string): ModelSpec | undefined;
  /** Router-mode keys of the preset's [*] (`models-max`, `models-autoload`); the command line wins over them. */
  router: PresetRouterSettings;
}

/** Assembles a Catalog from per-model results (validateCatalog's output). */
export function buildCatalog(results: readonly ModelResult[], router: PresetRouterSettings = {}): Catalog {
  const models = results.flatMap((r) => (r.spec ? [r.spec] : []));
  const invalid = results.flatMap((r) => (r.error ? [{ name: r.name, error: r.error }] : []));
  const byName = new Map<string, ModelSpec>();
  for (const m of models) byName.set(m.name, m);
  // Names first: validateCatalog guarantees no alias equals a name, but be explicit about the order anyway.
  const byAlias = new Map<string, ModelSpec>();
  for (const m of models) for (const a of m.aliases) if (!byAlias.has(a)) byAlias.set(a, m);
  return {
    models,
    invalid,
    router,
    resolve: (nameOrAlias) => byName.get(nameOrAlias) ?? byAlias.get(nameOrAlias),
  };
}

/**
 * Reads the sources and validates every model. Throws CatalogError when nothing can be trusted (models-dir or
 * preset unreadable, a syntax error in a preset file, a bad [*] key, a bad child argument); a model's own mistake
 * only lands it in `invalid`.
 */
export async function loadCatalog(opts: CatalogOptions): Promise<Catalog> {
  const sources: CatalogSources = { childArgs: opts.childArgs ?? [] };
  if (opts.modelsDir !== undefined) sources.discovery = await discoverModelsDir(opts.modelsDir);
  let router: PresetRouterSettings = {};
  if (opts.presetPath !== undefined) {
    const preset = await readPreset(opts.presetPath);
    const split = routerSettingsOf(preset.global);
    router = split.router;
    sources.preset = { ...preset, global: split.rest };
  }
  return buildCatalog(validateCatalog(sources), router);
}

/** Throws the first invalid model's error (the router refuses to start on a wrong catalogue). */
export function assertValid(catalog: Catalog): void {
  const first = catalog.invalid[0];
  if (first) throw first.error;
}
