import { readFileSync } from 'node:fs';

let amx: boolean | undefined;

/**
 * Does this CPU have AMX tiles (Linux: the amx_tile flag in /proc/cpuinfo)? Read once. llama.cpp's CPU backend then
 * keeps a second, repacked copy of a model's layer matrices in anonymous memory ("AMX model buffer") beside the
 * mapped file, so both the bundled engine's --dry-run and the router's estimate count it.
 */
export function cpuHasAmx(): boolean {
  if (amx === undefined) {
    try {
      amx = /^flags\s*:.*\bamx_tile\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
    } catch {
      amx = false;
    }
  }
  return amx;
}
