/**
 * Which idle models to evict so a target fits. Pure.
 *
 * Order of sacrifice (the seed rule): priority tiers from the lowest up; a tier is used
 * whole before the next one is touched, so a higher tier only loses models when nothing
 * below it can free enough. Within the tier that finally makes room, the fewest models that
 * fit win; among those, the cheapest to have to load again (`value`, see below), least
 * recently used breaking ties (never-used first, lastUsed = 0).
 *
 * value(m) = its measured load time / the mean gap between its requests (an EWMA), zero once
 * it has been idle for several gaps: what evicting it is expected to cost in reloads per unit
 * of time. A model loaded in 2 s and asked for every hour is cheap to evict; one that takes a
 * minute to load and is asked for every minute is not.
 */

export interface Candidate {
  name: string;
  priority: number;
  /** Time of the last completed request; 0 = never used. */
  lastUsed: number;
  /** Expected reload cost of evicting it (see above); undefined = 0. */
  value?: number;
}

/**
 * @param candidates evictable models (already filtered: idle or to-be-drained, not pinned, not the target)
 * @param helps whether evicting a candidate frees anything that is short (memory on a short device, or a count slot)
 * @param fits whether the target fits once these victims (plus any forced ones) are gone
 * @returns the victims, or undefined when even all candidates cannot make room
 */
export function chooseVictims<C extends Candidate>(
  candidates: readonly C[],
  helps: (c: C) => boolean,
  fits: (victims: readonly C[]) => boolean,
): C[] | undefined {
  if (fits([])) return [];
  const useful = candidates.filter(helps);
  const tiers = [...new Set(useful.map((c) => c.priority))].sort((a, b) => a - b);
  const taken: C[] = [];
  for (const tier of tiers) {
    const inTier = useful.filter((c) => c.priority === tier).sort(byLeastRecentlyUsed);
    const pick = fewestThatFit(inTier, taken, fits);
    if (pick) return [...taken, ...pick];
    taken.push(...inTier);
  }
  return undefined;
}

export function byLeastRecentlyUsed(a: Candidate, b: Candidate): number {
  return (a.value ?? 0) - (b.value ?? 0) || a.lastUsed - b.lastUsed || a.name.localeCompare(b.name);
}

/** A model idle this many of its mean gaps is no longer expected back soon: its value is zero. */
export const IDLE_GAPS = 3;

/** value(m) = load time / mean gap between requests, zero once idle for IDLE_GAPS gaps (or nothing measured). */
export function reloadValue(loadMs: number | undefined, gapMs: number | undefined, idleMs: number): number {
  if (!loadMs || !gapMs || gapMs <= 0) return 0;
  if (idleMs > IDLE_GAPS * gapMs) return 0;
  return loadMs / gapMs;
}

/** Exhaustive up to this many candidates in one tier; beyond it, LRU order greedily. */
const EXHAUSTIVE_LIMIT = 12;

function fewestThatFit<C>(sorted: C[], base: C[], fits: (v: readonly C[]) => boolean): C[] | undefined {
  if (sorted.length > EXHAUSTIVE_LIMIT) {
    for (let n = 1; n <= sorted.length; n++) {
      const prefix = sorted.slice(0, n);
      if (fits([...base, ...prefix])) return prefix;
    }
    return undefined;
  }
  for (let size = 1; size <= sorted.length; size++) {
    // Combinations come in lexicographic order of the LRU-sorted list, so the first
    // that fits is the least recently used set of that size.
    for (const combo of combinations(sorted, size)) {
      if (fits([...base, ...combo])) return combo;
    }
  }
  return undefined;
}

function* combinations<T>(items: T[], size: number, start = 0, acc: T[] = []): Generator<T[]> {
  if (acc.length === size) {
    yield [...acc];
    return;
  }
  for (let i = start; i <= items.length - (size - acc.length); i++) {
    acc.push(items[i]!);
    yield* combinations(items, size, i + 1, acc);
    acc.pop();
  }
}
