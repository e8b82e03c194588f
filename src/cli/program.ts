/** The `router` command's definition: its own flags (serve-options.ts), subcommands, and the serve action. */
import { Command } from 'commander';
import { addServeOptions, type ServeConfig } from './serve-options.js';
import { addControlCommands } from './control/index.js';
import { addProbeCommand } from './probe-command.js';
import { serve } from './serve.js';
import { packageVersion } from '../package/version.js';

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
