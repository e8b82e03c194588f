/** Seeds and counts of generated tests from the environment: set to reproduce a run, checked so a typo is not a silent new seed. */

/** A positive integer below 2^32 from `name`, else `fallback`; anything else set there throws, naming it. */
export function envInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || n < 1 || n >= 2 ** 32) throw new Error(`${name} must be a whole number from 1 to 2^32-1, not '${raw}'`);
  return n;
}

/** The seed of a generated test: `name` from the environment when set, else a fresh one (printed by the caller). */
export function envSeed(name: string): number {
  return envInteger(name, (Date.now() % (2 ** 31 - 1)) + 1);
}
