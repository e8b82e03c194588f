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

/** The bundled engine, run with this same node. */
export function bundledEngine(): { command: string; prefix: string[] } {
  return { command: process.execPath, prefix: [join(packageRoot(), 'dist', 'src', 'engine', 'main.js')] };
}
