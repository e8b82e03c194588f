/**
 * `node dist/bench/sim/main.js [--quick] [--seed N]`: print the policy comparison table.
 */
import { runSimulations } from './run.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const seedAt = args.indexOf('--seed');
const seed = seedAt >= 0 ? Number(args[seedAt + 1]) : undefined;
if (seed !== undefined && !Number.isInteger(seed)) {
  process.stderr.write('usage: main.js [--quick] [--seed N]\n');
  process.exit(2);
}

const started = Date.now();
const { markdown } = runSimulations({ quick, seed });
process.stdout.write(`${markdown}\n\n(${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
