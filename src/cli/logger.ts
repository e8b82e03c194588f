/** The router's own log: pino, JSON by default off a terminal, pretty on one. Always stderr. */
import { createRequire } from 'node:module';
import { pino, destination, type Logger } from 'pino';

// pino-pretty (with its colorette, dateformat, ...) is loaded only for pretty logs: ~0.1 CPU s of every start.
const require = createRequire(import.meta.url);

export function createLogger(format: 'json' | 'pretty' | undefined, level: string): Logger {
  const usePretty = format ? format === 'pretty' : process.stderr.isTTY;
  if (usePretty) {
    // Synchronous, in-thread: no worker to outlive the process on exit.
    const pretty = require('pino-pretty') as typeof import('pino-pretty');
    return pino({ level }, pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY, ignore: 'pid,hostname' }));
  }
  return pino({ level, base: undefined }, destination({ dest: 2, sync: true }));
}
