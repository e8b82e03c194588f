/**
 * Polling with backoff until something holds: a child's health until 200 (readiness.ts), an external backend's
 * health until 200 (src/router/external.ts). Abortable at any point; its timer and listeners are gone when it settles.
 */

export interface PollOptions {
  /** The first wait; each wait after it is `factor` times the one before, rounded, up to maxDelayMs. */
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
  /** Wait before the first attempt too (a child just spawned cannot answer yet). */
  waitFirst?: boolean;
  /** No wait goes past this time (ms since the epoch): the attempt that decides a deadline is not held back. */
  until?: number;
  /** Set by the caller to cut the current wait short (see Nudge). */
  nudge?: Nudge;
}

/**
 * pollUntil sets `wake` while it waits: calling it polls at once instead of at the next interval. A nudge that comes
 * while an attempt is under way sets `pending`: the next attempt follows at once.
 */
export interface Nudge {
  wake?: () => void;
  pending?: boolean;
}

export function nudge(n: Nudge | undefined): void {
  if (!n) return;
  if (n.wake) n.wake();
  else n.pending = true;
}

/**
 * Calls `attempt` until it resolves true, waiting between attempts as `opts` says. An attempt that throws ends the
 * polling with its error; so does `signal` (with `signal.reason`), during a wait or before an attempt.
 */
export async function pollUntil(attempt: () => Promise<boolean>, signal: AbortSignal, opts: PollOptions): Promise<void> {
  let delay = opts.initialDelayMs;
  const pause = async () => {
    await wait(opts.until === undefined ? delay : Math.min(delay, opts.until - Date.now()), signal, opts.nudge);
    delay = Math.min(opts.maxDelayMs, Math.round(delay * opts.factor));
  };
  if (opts.waitFirst) await pause();
  for (;;) {
    if (signal.aborted) throw signal.reason;
    if (await attempt()) return;
    await pause();
  }
}

/** `ms`, or less if nudged; rejects with `signal.reason` when it aborts. Its timer and listener are gone when it settles. */
function wait(ms: number, signal: AbortSignal, nudge: Nudge | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    if (nudge?.pending) {
      nudge.pending = false;
      return resolve();
    }
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (nudge) nudge.wake = undefined;
    };
    const onAbort = () => {
      done();
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
    if (nudge) {
      nudge.wake = () => {
        done();
        resolve();
      };
    }
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
