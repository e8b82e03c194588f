import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCatalog, type Catalog } from '../../src/catalog/index.js';

/** A temp folder with files created from a map of relative path -> content (a number = that many bytes). */
export class TempDir {
  readonly root = mkdtempSync(path.join(os.tmpdir(), 'catalog-test-'));

  write(files: Record<string, string | number>): this {
    for (const [rel, content] of Object.entries(files)) {
      const full = this.path(rel);
      if (rel.endsWith('/')) {
        mkdirSync(full, { recursive: true }); // a key ending in / is an empty folder
        continue;
      }
      mkdirSync(path.dirname(full), { recursive: true });
      writeFileSync(full, typeof content === 'number' ? Buffer.alloc(content) : content);
    }
    return this;
  }

  path(rel = ''): string {
    return path.join(this.root, rel);
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Tracks temp dirs made in a test file and removes them after each test. */
export function useTempDirs(): () => TempDir {
  const made: TempDir[] = [];
  afterEach(() => {
    while (made.length) made.pop()!.remove();
  });
  return () => {
    const t = new TempDir();
    made.push(t);
    return t;
  };
}

/**
 * A catalogue read from a models folder holding the named (empty) GGUFs, and `ini` as its preset file beside it
 * (named `presetName`, default presets.ini), made in `t`; `files` adds more (relative path -> content).
 */
export async function catalogFrom(
  t: TempDir,
  ini: string,
  opts: { models?: string[]; childArgs?: string[]; files?: Record<string, string | number>; presetName?: string } = {},
): Promise<{ t: TempDir; file: string; catalog: Catalog }> {
  t.write({ 'models/': 0, ...(opts.files ?? {}) });
  for (const m of opts.models ?? []) t.write({ [`models/${m}.gguf`]: 0 });
  const name = opts.presetName ?? 'presets.ini';
  t.write({ [name]: ini });
  const file = t.path(name);
  return { t, file, catalog: await loadCatalog({ modelsDir: t.path('models'), presetPath: file, childArgs: opts.childArgs }) };
}
