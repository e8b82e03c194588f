/**
 * `--models-dir` discovery, as llama-server's router reads the folder (common/preset.cpp load_from_models_dir):
 * - a top-level `NAME.gguf` is model NAME;
 * - a subfolder NAME is model NAME: its `*mmproj*` file is the projector, a split model starts from its
 *   `-00001-of-0000N` shard, otherwise the one remaining GGUF is the model.
 *
 * Where llama-server is fragile, this is not:
 * - a subfolder holding several GGUFs (quants, a draft model) gives llama-server whichever the directory listing
 *   returns last (llama.cpp issue #28337). Here: a file named exactly `NAME.gguf` (the fix proposed upstream in
 *   PR #28809), else the largest GGUF, ties by name;
 * - top-level `*mmproj*` files are not models (llama-server lists them as models);
 * - of a top-level split model only the first shard is a model (named like the file, as llama-server names it);
 *   the other shards are not;
 * - hidden files and folders are skipped; symlinks are followed; results are sorted by name.
 */

import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

import { CatalogError } from './model-spec.js';

export interface DiscoveredModel {
  name: string;
  modelPath: string;
  mmprojPath?: string;
  /** The file or folder the model was found as, for error messages. */
  source: string;
}

export interface Discovery {
  models: DiscoveredModel[];
  /** Names two entries claim (`foo.gguf` and `foo/`): neither is taken. */
  conflicts: { name: string; error: CatalogError }[];
}

interface Entry {
  name: string;
  full: string;
  isDir: boolean;
  isFile: boolean;
  size: number;
}

const GGUF = /\.gguf$/i;
const SHARD = /-(\d{5})-of-(\d{5})\.gguf$/i;
const FIRST_SHARD = /-00001-of-\d{5}\.gguf$/i;

function isMmproj(name: string): boolean {
  return name.toLowerCase().includes('mmproj');
}

async function list(dir: string): Promise<Entry[]> {
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  const entries = await Promise.all(
    names.map(async (name): Promise<Entry | undefined> => {
      const full = path.join(dir, name);
      try {
        const st = await stat(full); // follows symlinks
        return { name, full, isDir: st.isDirectory(), isFile: st.isFile(), size: st.size };
      } catch {
        return undefined; // dangling symlink, or removed while listing
      }
    }),
  );
  return entries.filter((e): e is Entry => e !== undefined);
}

/** Picks the model file (and projector) inside a model's subfolder; undefined if it holds no model. */
export function pickInFolder(folderName: string, files: { name: string; full: string; size: number }[]) {
  const ggufs = files.filter((f) => GGUF.test(f.name));
  const mmproj = ggufs.filter((f) => isMmproj(f.name)).sort(byName)[0];
  const rest = ggufs.filter((f) => !isMmproj(f.name));

  let model: { full: string } | undefined;
  const firstShards = rest.filter((f) => FIRST_SHARD.test(f.name));
  if (firstShards.length > 0) {
    // Several split sets (two quants): the larger set, measured over all its shards.
    const setSize = (first: { name: string }) => {
      const stem = first.name.replace(FIRST_SHARD, '');
      return rest.filter((f) => SHARD.test(f.name) && f.name.replace(SHARD, '') === stem).reduce((s, f) => s + f.size, 0);
    };
    model = firstShards.sort((a, b) => setSize(b) - setSize(a) || byName(a, b))[0];
  } else {
    const single = rest.filter((f) => !SHARD.test(f.name));
    model =
      single.find((f) => f.name === `${folderName}.gguf`) ?? single.sort((a, b) => b.size - a.size || byName(a, b))[0];
  }
  return model && { modelPath: model.full, mmprojPath: mmproj?.full };
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Lists the models in a models-dir. Throws CatalogError if the folder cannot be read. */
export async function discoverModelsDir(modelsDir: string): Promise<Discovery> {
  const dir = path.resolve(modelsDir);
  let top: Entry[];
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new Error('not a directory');
    top = await list(dir);
  } catch (err) {
    throw new CatalogError(`models-dir cannot be read: ${(err as Error).message}`, dir);
  }

  const found: DiscoveredModel[] = [];
  for (const e of top) {
    if (e.isFile && GGUF.test(e.name)) {
      if (isMmproj(e.name)) continue;
      if (SHARD.test(e.name) && !FIRST_SHARD.test(e.name)) continue;
      found.push({ name: e.name.replace(GGUF, ''), modelPath: e.full, source: e.full });
    } else if (e.isDir) {
      const files = (await list(e.full)).filter((f) => f.isFile);
      const picked = pickInFolder(e.name, files);
      if (!picked) continue;
      found.push({
        name: e.name,
        modelPath: picked.modelPath,
        ...(picked.mmprojPath ? { mmprojPath: picked.mmprojPath } : {}),
        source: e.full,
      });
    }
  }

  const byModel = new Map<string, DiscoveredModel[]>();
  for (const m of found) byModel.set(m.name, [...(byModel.get(m.name) ?? []), m]);
  const models: DiscoveredModel[] = [];
  const conflicts: Discovery['conflicts'] = [];
  for (const [name, ms] of [...byModel].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (ms.length === 1) models.push(ms[0]!);
    else {
      const where = ms.map((m) => path.basename(m.source)).join(' and ');
      conflicts.push({ name, error: new CatalogError(`model ${name} is defined twice in models-dir: ${where}`, dir, name) });
    }
  }
  return { models, conflicts };
}
