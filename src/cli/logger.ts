/** The router's own log: pino, JSON by default off a terminal, pretty on one. Always stderr. */
import { pino, destination, type Logger } from 'pino';
import pretty from 'pino-pretty';

export function createLogger(format: 'json' | 'pretty' | undefined, level: string): Logger {
  const usePretty = format ? format === 'pretty' : process.stderr.isTTY;
  if (usePretty) {
    // Synchronous, in-thread: no worker to outlive the process on exit.
    return pino({ level }, pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY, ignore: 'pid,hostname' }));
  }
  return pino({ level, base: undefined }, destination({ dest: 2, sync: true }));
}
