#!/usr/bin/env node
/** Entry of the `router` command: flags -> one validated config -> serve (or a subcommand). */
import { CommanderError } from 'commander';
import { CatalogError } from '../catalog/model-spec.js';
import { ControlError } from './control/index.js';
import { buildProgram } from './program.js';
import { UsageError } from './serve.js';
import { SplitError, splitArgs } from './split-args.js';

export async function main(argv = process.argv): Promise<void> {
  const program = buildProgram();
  try {
    // Flags the router does not own go to every child (split-args.ts); commander sees them after `--`.
    const { router, child } = splitArgs(program, argv.slice(2));
    await program.parseAsync([...argv.slice(0, 2), ...router, ...(child.length > 0 ? ['--', ...child] : [])]);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        process.exit(0);
      }
      process.exit(2);
    }
    if (err instanceof ControlError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    if (err instanceof UsageError || err instanceof SplitError) {
      process.stderr.write(`error: ${err.message}\n(run \`router --help\` for usage)\n`);
      process.exit(2);
    }
    if (err instanceof CatalogError) {
      process.stderr.write(`error: bad preset or model: ${err.message}\n`);
      process.exit(2);
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') {
      process.stderr.write(`error: cannot listen: ${e.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`error: ${e.stack ?? String(err)}\n`);
    process.exit(1);
  }
}

await main();
