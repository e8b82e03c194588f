/** Where the package lives, from source (jest) or from dist/ alike. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the package root');
    dir = up;
  }
  return (root = dir);
}

/**
 * Node's flags for the bundled engine, wherever it is started: the router's children, their `--dry-run` memory
 * probes, and the tests that measure it. `--max-semi-space-size=1` caps V8's young generation at 1 MiB per
 * semi-space (Node 20's default grows it to 16). The engine is a long-running server whose JS heap is small (its
 * inference memory is native, llama.cpp's); left to grow, the young generation added ~30 MiB of resident memory
 * on some runs and not others (the same model, flags and prompt measured 254-260 or 285-289 MiB), which no estimate
 * can know. Capped, the RSS is both steadier and smaller (224-237 MiB there).
 */
export const ENGINE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** The bundled engine's entry script (built by `npm run build`). */
export function bundledEngineMain(): string {
  return join(packageRoot(), 'dist', 'src', 'engine', 'main.js');
}

/** The bundled engine, run with this same node and ENGINE_NODE_FLAGS. */
export function bundledEngine(): { command: string; prefix: string[] } {
  return { command: process.execPath, prefix: [...ENGINE_NODE_FLAGS, bundledEngineMain()] };
}
