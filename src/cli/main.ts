#!/usr/bin/env node
/** Entry of the `router` command: flags -> one validated config -> serve (or a subcommand). */
import { Command, CommanderError } from 'commander';
import { CatalogError } from '../catalog/model-spec.js';
import { addServeOptions, type ServeConfig } from './serve-options.js';
import { addControlCommands, ControlError } from './control/index.js';
import { addProbeCommand } from './probe-command.js';
import { serve, UsageError } from './serve.js';
import { SplitError, splitArgs } from './split-args.js';
import { packageVersion } from '../router/version.js';

export function buildProgram(): Command {
  const program = new Command('router')
    .description(
      'One OpenAI-compatible endpoint for many local models: a child inference server per model, ' +
        'started on demand, stopped least-recently-used first, never while it is working.\n\n' +
        'The options below are the router\'s own. Any other llama-server flag is passed to every child, as ' +
        'llama-server\'s router mode does: `router --models-dir m -c 8192 -ngl 99`; after `--` works too ' +
        '(`router --models-dir m -- -c 8192`).',
    )
    .version(packageVersion(), '--version', 'print the version and exit')
    .argument('[child-args...]', 'llama-server flags for every child (written as they are, or after --)')
    .showHelpAfterError('(run `router --help` for usage)')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) });
  addServeOptions(program);
  // `router status|load|unload|logs` talk to a running router. Positional options: flags
  // after a subcommand's name are its own (both `router` and `router status` take --api-key).
  program.enablePositionalOptions();
  addControlCommands(program);
  // `router probe NAME|FILE [child flags]`: a model's memory need without starting it (docs/memory.md).
  addProbeCommand(program);
  program.action(async (childArgs: string[], opts: Omit<ServeConfig, 'childArgs' | 'explicit'>) => {
    // Which flags the command line set (a preset's [*] models-max yields to them, not to defaults).
    const explicit = new Set(
      program.options
        .map((o) => o.attributeName())
        .filter((name) => ['cli', 'env'].includes(program.getOptionValueSource(name) ?? '')),
    );
    await serve({ ...opts, childArgs, explicit });
  });
  return program;
}

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
