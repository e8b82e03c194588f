/**
 * Tiny generated GGUF models for tests: `await tinyModel()` (~1 MB, 128 x 2) or `await tinyModel({ sizeMb: 50 })`.
 *
 * Files live in os.tmpdir()/router-test-models under a name made of the options and a hash of the generator's
 * source, so every test process (and every jest worker) shares one file per set of options, and a change to the
 * generator never reuses a stale model. makeTinyModel writes to a temp name and renames, so concurrent workers that
 * make the same model at once each rename a complete, byte-identical file into place.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufHeader } from '../../src/gguf/reader.js';
import { makeTinyModel, TINY_MODEL_FORMAT, type TinyModelOptions } from '../../src/gguf/tiny-model.js';

export type { TinyModelOptions } from '../../src/gguf/tiny-model.js';

export const MODEL_CACHE_DIR = join(tmpdir(), 'router-test-models');

const made = new Map<string, Promise<string>>();

/** Path of a model made with these options (made once per process, reused across processes). */
export function tinyModel(opts: TinyModelOptions = {}): Promise<string> {
  const path = join(MODEL_CACHE_DIR, `${modelName(opts)}.gguf`);
  let pending = made.get(path);
  if (!pending) {
    if (made.size === 0) pruneStale();
    pending = ensure(path, opts);
    made.set(path, pending);
    pending.catch(() => made.delete(path));
  }
  return pending;
}

/** A file name that says what is in it: `tiny-f1-a1b2c3d4-seed1-ctx2048-size50.gguf`. */
export function modelName(opts: TinyModelOptions): string {
  const parts = [`tiny-f${TINY_MODEL_FORMAT}-${generatorHash()}`, `seed${opts.seed ?? 1}`, `ctx${opts.ctx ?? 2048}`];
  if (opts.sizeMb !== undefined) parts.push(`size${opts.sizeMb}`);
  if (opts.embd !== undefined) parts.push(`embd${opts.embd}`);
  if (opts.layers !== undefined) parts.push(`layers${opts.layers}`);
  if (opts.matrixType === 'F32') parts.push('f32');
  return parts.join('-');
}

async function ensure(path: string, opts: TinyModelOptions): Promise<string> {
  // A file under the final name is complete (it got there by rename); reading its header also rules out a file
  // someone else put there by hand.
  const ok = await readGgufHeader(path).then(
    () => true,
    () => false,
  );
  if (!ok) await makeTinyModel(path, opts);
  return path;
}

let hash: string | undefined;
/** Short hash of src/gguf's sources: a changed generator gets new files. */
function generatorHash(): string {
  if (hash) return hash;
  const h = createHash('sha256');
  try {
    const dir = join(import.meta.dirname ?? join(process.cwd(), 'test', 'helpers'), '..', '..', 'src', 'gguf');
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.ts')).sort()) h.update(f).update(readFileSync(join(dir, f)));
  } catch {
    h.update(String(TINY_MODEL_FORMAT));
  }
  hash = h.digest('hex').slice(0, 8);
  return hash;
}

/**
 * Models of other generator versions pile up (a 500 MB one per change); remove those unused for a day. A day, not
 * at once, so two checkouts of different versions testing at the same time do not delete each other's files.
 */
function pruneStale(): void {
  const current = `tiny-f${TINY_MODEL_FORMAT}-${generatorHash()}-`;
  let names: string[];
  try {
    names = readdirSync(MODEL_CACHE_DIR);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith('tiny-') || name.startsWith(current)) continue;
    try {
      const path = join(MODEL_CACHE_DIR, name);
      if (Date.now() - statSync(path).mtimeMs > 24 * 3600 * 1000) rmSync(path, { force: true });
    } catch {
      /* raced with another process: fine */
    }
  }
}
