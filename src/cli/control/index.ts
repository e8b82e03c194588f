/** Subcommands that control a running router (status, load, unload, logs). */
export { addControlCommands } from './commands.js';
export { ControlError } from './client.js';
