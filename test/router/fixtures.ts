/** Models folders for router integration tests: generated GGUFs under chosen names. */
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModel } from '../helpers/models.js';

/** A fresh folder with one generated model per name (symlinks to one cached file per size). */
export async function modelsDir(names: string[], opts: { sizeMb?: number } = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'router-models-'));
  const file = await tinyModel(opts.sizeMb ? { sizeMb: opts.sizeMb } : undefined);
  for (const n of names) symlinkSync(file, join(dir, `${n}.gguf`));
  return dir;
}

export function presetFile(dir: string, text: string, name = 'presets.ini'): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

export { LONG } from '../helpers/api.js';
