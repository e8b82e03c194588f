export interface ChildOptions {
  /** Model name, for log prefixes and errors. */
  name: string;
  /** Executable (a path, or a name looked up on PATH). */
  command: string;
  /** argv given the chosen port; called again with a new port when a start attempt loses its port. */
  args: (port: number) => string[];
  /** Added to the router's own environment. */
  env?: Record<string, string>;
  /** Where the child listens and where health is polled. Default 127.0.0.1. */
  host?: string;
  /** Default /health; a 200 means ready. */
  healthPath?: string;
  /** Sent with every health poll, e.g. Authorization: Bearer <child key>. */
  healthHeaders?: Record<string, string>;
  /** From start() to ready, over all port retries. On expiry the child is stopped and start() rejects 'timeout'. */
  loadTimeoutMs: number;
  /** Time between SIGTERM and SIGKILL when stopping. */
  stopTimeoutMs: number;
  /** Ring buffer size for lastLines(). Default 500. */
  logLines?: number;
  /**
   * Called for every line the child prints, stdout and stderr in the order written (one file for both: `stream` is
   * 'stdout' for them; 'stderr' marks the supervisor's own notes). Exceptions it throws are swallowed (a logger must
   * not break supervision).
   */
  onLog?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Extra attempts with a fresh port when the chosen port was taken before the child bound it. Default 3. */
  portRetries?: number;
  /** Port picker; default freePort(host). Tests inject a taken port here; a router could use a port range. */
  pickPort?: (host: string) => Promise<number>;
}

export type ChildState = 'starting' | 'ready' | 'stopping' | 'exited';

export interface ExitInfo {
  /** Exit code of the direct child, null if it was killed by a signal or never ran. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True if stop() asked for this exit (also when stop() came during start). */
  expected: boolean;
  /** The last lines of output (up to 50), for crash reports. */
  lastLines: string[];
}

/** Why start() failed. 'stopped': stop() was called before the child became ready. */
export type ChildStartReason = 'timeout' | 'exited' | 'spawn' | 'stopped';
