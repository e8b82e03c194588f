/**
 * Reads `--models-preset`: one INI file, or a folder of per-model files.
 *
 * One file (llama-server's format): `[NAME]` sections define or refine model NAME; `[*]` applies to every model.
 * `version = 1` at the top is accepted and ignored, as llama-server does; any other key outside a section is an
 * error (llama-server turns such keys into a model called "default", llama.cpp issue #22364).
 *
 * A folder (this router's addition, so each model can be edited, added or removed as one file):
 * - `NAME.ini` holds model NAME's keys at top level, no section header;
 * - `default.ini` holds the keys of `[*]`. A file literally named `*.ini` is taken the same way; both is an error.
 *   (`default.ini` because `*` is awkward in a shell. The price: no per-model file can define a model "default".)
 * - hidden files, other extensions and subfolders are ignored.
 * A syntax error in NAME.ini makes only model NAME invalid, so a hot reload can keep the others.
 */

import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

import { parseIni, type IniEntry } from './ini.js';
import { CatalogError } from './model-spec.js';

export interface PresetSection {
  /** Model name, or `*` for the section applied to all models. */
  name: string;
  /** The file it was read from. */
  file: string;
  /** Folder that relative `model`/`mmproj` paths are resolved against: the preset file's folder. */
  baseDir: string;
  entries: IniEntry[];
  /** Set when this model's own file is unreadable: the model is invalid, the others are not. */
  error?: CatalogError;
}

export interface PresetSource {
  path: string;
  global?: PresetSection;
  sections: PresetSection[];
}

export const GLOBAL_SECTION = '*';

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new CatalogError(`cannot read preset: ${(err as Error).message}`, file);
  }
}

/** Parses one preset file's text (exported so tests and reloads can parse without touching disk). */
export function parsePresetFile(text: string, file: string): PresetSource {
  const doc = parseIni(text, file);
  const stray = doc.top.find((e) => e.key !== 'version');
  if (stray) {
    throw new CatalogError(
      `line ${stray.line}: key outside any section; put it under [*] (all models) or [NAME]`,
      file,
      undefined,
      stray.key,
    );
  }
  const baseDir = path.dirname(file);
  const source: PresetSource = { path: file, sections: [] };
  for (const s of doc.sections) {
    const section: PresetSection = { name: s.name, file, baseDir, entries: s.entries };
    if (s.name === GLOBAL_SECTION) source.global = section;
    else source.sections.push(section);
  }
  return source;
}

async function readPresetFolder(dir: string): Promise<PresetSource> {
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.') && n.toLowerCase().endsWith('.ini')).sort();
  const source: PresetSource = { path: dir, sections: [] };
  const globals: string[] = names.filter((n) => n === 'default.ini' || n === '*.ini');
  if (globals.length > 1) {
    throw new CatalogError('both default.ini and *.ini hold the [*] keys; keep one', dir);
  }
  for (const name of names) {
    const file = path.join(dir, name);
    if (!(await stat(file)).isFile()) continue;
    const isGlobal = globals.includes(name);
    const modelName = isGlobal ? GLOBAL_SECTION : name.slice(0, -'.ini'.length);
    const section: PresetSection = { name: modelName, file, baseDir: dir, entries: [] };
    try {
      const doc = parseIni(await readText(file), file);
      if (doc.sections.length > 0) {
        const s = doc.sections[0]!;
        throw new CatalogError(
          `line ${s.line}: a per-model file holds its keys at top level, without a [section]`,
          file,
          s.name,
        );
      }
      section.entries = doc.top.filter((e) => e.key !== 'version');
    } catch (err) {
      // The [*] file concerns every model: that is the whole catalogue's error.
      if (isGlobal || !(err instanceof CatalogError)) throw err;
      section.error = err;
    }
    if (isGlobal) source.global = section;
    else source.sections.push(section);
  }
  return source;
}

/** Reads a preset file or folder. Throws CatalogError when the whole preset is unusable. */
export async function readPreset(presetPath: string): Promise<PresetSource> {
  const p = path.resolve(presetPath);
  let isDir: boolean;
  try {
    isDir = (await stat(p)).isDirectory();
  } catch (err) {
    throw new CatalogError(`cannot read preset: ${(err as Error).message}`, p);
  }
  return isDir ? readPresetFolder(p) : parsePresetFile(await readText(p), p);
}
