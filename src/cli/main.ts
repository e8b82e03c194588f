#!/usr/bin/env node
/** Entry of the `router` command: flags -> one validated config -> serve (or a subcommand). */
import { Command, CommanderError } from 'commander';
import { CatalogError } from '../catalog/model-spec.js';
import { addServeOptions, type ServeConfig } from './serve-options.js';
import { addControlCommands, ControlError } from './control/index.js';
import { addProbeCommand } from './probe-command.js';
import { serve, UsageError } from './serve.js';

export function buildProgram(): Command {
  const program = new Command('router')
    .description(
      'One OpenAI-compatible endpoint for many local models: a child inference server per model, ' +
        'started on demand, stopped least-recently-used first, never while it is working. ' +
        'Child flags for every model may follow `--` (e.g. `router --models-dir m -- --ctx-size 4096`).',
    )
    .argument('[child-args...]', 'llama-server flags passed to every child (after --)')
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
  program.action(async (childArgs: string[], opts: Omit<ServeConfig, 'childArgs'>) => {
    if (childArgs.length > 0 && !process.argv.includes('--')) {
      throw new UsageError(`unexpected argument '${childArgs[0]}' (child flags go after --)`);
    }
    await serve({ ...opts, childArgs });
  });
  return program;
}

export async function main(argv = process.argv): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
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
    if (err instanceof UsageError) {
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
