/**
 * `node dist/bench/sim/main.js [--quick] [--seed N] [--seeds K]`: print the policy comparison. With `--seeds K`,
 * every trace runs under K seeds (from N, default 20240611) and the last line is `dominated: N of M`; seeds other
 * than the default ones check that a policy tuned on those holds elsewhere.
 */
import { runSimulations } from './run.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const num = (flag: string) => {
  const at = args.indexOf(flag);
  return at >= 0 ? Number(args[at + 1]) : undefined;
};
const seed = num('--seed');
const seeds = num('--seeds');
const known = new Set(['--quick', '--seed', '--seeds']);
const bad =
  (seed !== undefined && !Number.isInteger(seed)) ||
  (seeds !== undefined && !(Number.isInteger(seeds) && seeds > 0)) ||
  args.some((a, i) => a.startsWith('--') && !known.has(a)) ||
  args.some((a, i) => !a.startsWith('--') && !['--seed', '--seeds'].includes(args[i - 1] ?? ''));
if (bad) {
  process.stderr.write('usage: main.js [--quick] [--seed N] [--seeds K]\n');
  process.exit(2);
}

const started = Date.now();
const { markdown } = runSimulations({ quick, seed, seeds });
// The domination count stays the last line: tools read it.
const lines = markdown.split('\n');
const last = lines.pop()!;
process.stdout.write(`${lines.join('\n')}\n(${((Date.now() - started) / 1000).toFixed(1)} s)\n\n${last}\n`);
