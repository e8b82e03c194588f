/**
 * What a reload changed, model by model, so a hot reload restarts only the children whose definition changed.
 */

import type { Catalog } from './catalog.js';
import type { ModelSpec } from './model-spec.js';

export interface CatalogDiff {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
}

/**
 * Compares the valid models of two catalogues by name. Specs are compared deeply, except `source` (moving a
 * section to another file changes nothing the child sees). A model valid before and invalid now is "removed":
 * the caller, which sees `next.invalid`, decides whether to keep its child running.
 */
export function diffCatalogs(prev: Pick<Catalog, 'models'>, next: Pick<Catalog, 'models'>): CatalogDiff {
  const before = new Map(prev.models.map((m) => [m.name, m]));
  const after = new Map(next.models.map((m) => [m.name, m]));
  const diff: CatalogDiff = { added: [], removed: [], changed: [], unchanged: [] };
  for (const [name, spec] of after) {
    const old = before.get(name);
    if (!old) diff.added.push(name);
    else if (sameSpec(old, spec)) diff.unchanged.push(name);
    else diff.changed.push(name);
  }
  for (const name of before.keys()) if (!after.has(name)) diff.removed.push(name);
  for (const list of Object.values(diff)) list.sort();
  return diff;
}

export function sameSpec(a: ModelSpec, b: ModelSpec): boolean {
  const { source: _a, ...restA } = a;
  const { source: _b, ...restB } = b;
  return deepEqual(restA, restB);
}

/** Structural equality of plain data (objects, arrays, primitives); an undefined property equals a missing one. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
  for (const k of keys) if (!deepEqual(ra[k], rb[k])) return false;
  return true;
}
