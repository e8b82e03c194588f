import type { ChildStartReason } from './types.js';

/**
 * The one error start() rejects with. `reason` says what the router should tell the client and whether a retry
 * can help: 'timeout' (never answered 200 on health within loadTimeoutMs), 'exited' (died before ready: bad
 * model, bad flag, out of memory), 'spawn' (the executable could not be run at all), 'stopped' (stop() came
 * first). Exit code, signal and the last lines of output travel with it for the error message and the UI.
 */
export class ChildStartError extends Error {
  readonly model: string;
  readonly reason: ChildStartReason;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly lastLines: string[];

  constructor(
    message: string,
    details: {
      model: string;
      reason: ChildStartReason;
      exitCode?: number | null;
      signal?: NodeJS.Signals | null;
      lastLines?: string[];
      cause?: unknown;
    },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ChildStartError';
    this.model = details.model;
    this.reason = details.reason;
    this.exitCode = details.exitCode ?? null;
    this.signal = details.signal ?? null;
    this.lastLines = details.lastLines ?? [];
  }
}
