/**
 * Hot reload: re-read the models folder and presets (SIGHUP, POST /models/reload,
 * GET /models?reload=1, or --watch) and hand the result to the router. A catalogue that
 * cannot be read at all (an INI syntax error) keeps the running one and says why.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from 'pino';
import { loadCatalog, type Catalog, type PresetRouterSettings } from '../catalog/index.js';
import type { ModelSpec } from '../catalog/model-spec.js';
import type { ReloadSummary, Router } from '../router/router.js';

export interface CatalogSource {
  modelsDir?: string;
  modelsPreset?: string;
  childArgs: string[];
  /** Applied to every spec (e.g. --models-concurrency). */
  adjust: (spec: ModelSpec) => ModelSpec;
}

export async function readCatalog(src: CatalogSource): Promise<Catalog> {
  return loadCatalog({ modelsDir: src.modelsDir, presetPath: src.modelsPreset, childArgs: src.childArgs });
}

/**
 * `started`: the preset's `[*] models-max` / `models-autoload` the router started with. They size the scheduler,
 * which a reload does not rebuild: a changed value is said in the log rather than silently ignored.
 */
export function reloader(router: Router, src: CatalogSource, logger: Logger, started: PresetRouterSettings = {}): () => Promise<ReloadSummary> {
  // Reloads never overlap: a second trigger waits for the first and then reads again.
  let chain: Promise<unknown> = Promise.resolve();
  return () => {
    const run = chain.then(async () => {
      const catalog = await readCatalog(src);
      if (catalog.router.modelsMax !== started.modelsMax || catalog.router.modelsAutoload !== started.modelsAutoload) {
        logger.warn(
          { was: started, now: catalog.router },
          "the preset's [*] models-max / models-autoload changed: they take effect at the next start, not on reload",
        );
      }
      return router.applyCatalog(
        catalog.models.map(src.adjust),
        catalog.invalid.map((i) => ({ name: i.name, error: i.error.message })),
      );
    });
    chain = run.catch((err: Error) => logger.error({ err: err.message }, 'reload failed; keeping the running catalogue'));
    return run;
  };
}

/** Watch the folder and preset path; reload after things settle (editors write in bursts). */
export function watchCatalog(src: CatalogSource, reload: () => Promise<unknown>, logger: Logger): () => void {
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  const changed = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void reload().catch(() => undefined), 300);
    timer.unref();
  };
  for (const path of [src.modelsDir, src.modelsPreset]) {
    if (!path) continue;
    try {
      const w = watch(path, { recursive: false }, changed);
      w.on('error', (err) => logger.warn({ path, err: err.message }, 'watch failed'));
      watchers.push(w);
    } catch (err) {
      logger.warn({ path, err: (err as Error).message }, 'cannot watch');
    }
  }
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
