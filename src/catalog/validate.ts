/**
 * From discovered files, preset sections and the router's child arguments to one result per model: its spec, or
 * the error that makes it invalid. Per model, so a hot reload can mark only the bad model invalid and keep the rest.
 *
 * Precedence for each model, highest first: router command-line child args > the model's own section > [*] >
 * what models-dir found (model file, projector).
 */

import { statSync } from 'node:fs';

import { buildSpec, type PathKind } from './build-spec.js';
import { parseChildArgs } from './child-args.js';
import type { Discovery } from './discover.js';
import { CatalogError, type ModelSpec } from './model-spec.js';
import type { PresetSection, PresetSource } from './preset-files.js';
import { PER_MODEL_ONLY, fail, mergeLayers, sectionSettings, type Setting } from './settings.js';

export interface CatalogSources {
  /** What `--models-dir` holds (discoverModelsDir). */
  discovery?: Discovery;
  /** The parsed `--models-preset` (readPreset). */
  preset?: PresetSource;
  /** The router command line's child arguments, e.g. ["-c", "8192", "--jinja"]. */
  childArgs?: readonly string[];
  /** Whether a path is a file, a folder, or missing; defaults to the file system. */
  statPath?: (p: string) => PathKind;
}

export type ModelResult =
  | { name: string; spec: ModelSpec; error?: undefined }
  | { name: string; spec?: undefined; error: CatalogError };

function statFs(p: string): PathKind {
  try {
    const st = statSync(p);
    return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : undefined;
  } catch {
    return undefined;
  }
}

/** Settings of one preset section; for [*], also refuses the keys that only make sense per model. */
function presetLayer(section: PresetSection, layer: 'global' | 'model'): Setting[] {
  if (section.error) throw section.error;
  const settings = sectionSettings(section.entries, {
    file: section.file,
    section: section.name,
    layer,
    baseDir: section.baseDir,
  });
  if (layer === 'global') {
    const perModel = settings.find((s) => PER_MODEL_ONLY.has(s.id));
    if (perModel) fail(perModel.origin, 'is per model: set it in the model\'s own section, not in [*]');
  }
  return settings;
}

/**
 * Validates every model. Throws CatalogError only for what spoils every model: a bad [*] key or a bad child
 * argument. Results are sorted by name.
 */
export function validateCatalog(sources: CatalogSources): ModelResult[] {
  const statPath = sources.statPath ?? statFs;
  const cliLayer = parseChildArgs(sources.childArgs ?? []);
  const globalLayer = sources.preset?.global ? presetLayer(sources.preset.global, 'global') : [];

  const dirModels = new Map((sources.discovery?.models ?? []).map((m) => [m.name, m]));
  const conflicts = new Map((sources.discovery?.conflicts ?? []).map((c) => [c.name, c.error]));
  const sections = new Map((sources.preset?.sections ?? []).map((s) => [s.name, s]));
  const names = [...new Set([...dirModels.keys(), ...conflicts.keys(), ...sections.keys()])].sort();

  const results: ModelResult[] = names.map((name): ModelResult => {
    const conflict = conflicts.get(name);
    if (conflict) return { name, error: conflict };
    const found = dirModels.get(name);
    const section = sections.get(name);
    try {
      const dirLayer: Setting[] = [];
      if (found) {
        const base = { file: found.source, layer: 'models-dir' as const };
        dirLayer.push({ kind: 'router', id: 'model', value: found.modelPath, origin: { ...base, key: 'model' } });
        if (found.mmprojPath) {
          dirLayer.push({ kind: 'router', id: 'mmproj', value: found.mmprojPath, origin: { ...base, key: 'mmproj' } });
        }
      }
      const modelLayer = section ? presetLayer(section, 'model') : [];
      const merged = mergeLayers([dirLayer, globalLayer, modelLayer, cliLayer]);
      const source = section ? { file: section.file, section: name } : { file: found?.source };
      return { name, spec: buildSpec(name, merged, source, statPath) };
    } catch (err) {
      if (err instanceof CatalogError) return { name, error: err };
      throw err;
    }
  });

  return checkNamesUnique(results);
}

/**
 * Every name and alias must point to one model. In name order, the first model to claim a name keeps it; a later
 * model whose alias is taken is invalid (its alias key is the error). Names of invalid models stay reserved.
 */
function checkNamesUnique(results: ModelResult[]): ModelResult[] {
  const owner = new Map<string, string>();
  for (const r of results) owner.set(r.name, r.name);
  return results.map((r) => {
    if (!r.spec) return r;
    for (const alias of r.spec.aliases) {
      const taken = owner.get(alias);
      if (taken !== undefined && taken !== r.name) {
        const what = taken === alias ? `the name of model ${taken}` : `already an alias of model ${taken}`;
        const error = new CatalogError(`alias "${alias}" is ${what}`, r.spec.source.file, r.spec.source.section, 'alias');
        return { name: r.name, error };
      }
    }
    for (const alias of r.spec.aliases) owner.set(alias, r.name);
    return r;
  });
}
