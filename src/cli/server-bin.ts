/** Which inference server children run: --server-bin, else llama-server on PATH, else ours. */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { ServerBin } from '../router/child-command.js';
import { bundledEngine } from '../package/paths.js';

export function onPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const full = join(dir, name);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export function chooseServerBin(flag: string | undefined): ServerBin {
  if (flag === 'router-engine' || flag === 'bundled') return bundledEngine();
  if (flag) return { command: flag, prefix: [] };
  const llama = onPath('llama-server');
  return llama ? { command: llama, prefix: [] } : bundledEngine();
}
