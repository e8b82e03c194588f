/** pollUntil, shared by a Child's readiness and an external backend's health loop: backoff, nudge, deadline, abort. */
import { nudge, pollUntil, type Nudge } from '../../src/supervisor/poll.js';

/** Attempts that succeed on the n-th call, recording when each came (ms after t0). */
function attempts(succeedOn: number) {
  const t0 = Date.now();
  const at: number[] = [];
  return { at, attempt: async () => (at.push(Date.now() - t0), at.length >= succeedOn) };
}

const gaps = (at: number[]) => at.slice(1).map((t, i) => t - at[i]);

describe('pollUntil', () => {
  it('first attempt at once (waitFirst off), then waits growing by factor, rounded, up to maxDelayMs', async () => {
    const a = attempts(4);
    await pollUntil(a.attempt, new AbortController().signal, { initialDelayMs: 40, factor: 40, maxDelayMs: 150 });
    expect(a.at).toHaveLength(4);
    expect(a.at[0]).toBeLessThan(30);
    // Waits 40, 150 (1600 capped), 150: each gap at least its wait (timers never fire early)...
    const g = gaps(a.at);
    [40, 150, 150].forEach((min, i) => expect(g[i]).toBeGreaterThanOrEqual(min - 2));
    // ...and the capped ones well short of the uncapped 1600 (slack for a loaded machine).
    expect(Math.max(g[1], g[2])).toBeLessThan(1000);
  });

  it('waitFirst waits before the first attempt', async () => {
    const a = attempts(1);
    await pollUntil(a.attempt, new AbortController().signal, { initialDelayMs: 60, factor: 1, maxDelayMs: 60, waitFirst: true });
    expect(a.at[0]).toBeGreaterThanOrEqual(58);
  });

  it('until caps a wait: the attempt that meets the deadline is not held back', async () => {
    const a = attempts(2);
    const t0 = Date.now();
    await pollUntil(a.attempt, new AbortController().signal, { initialDelayMs: 5_000, factor: 1, maxDelayMs: 5_000, until: t0 + 100 });
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('a nudge cuts the current wait short; one that comes during an attempt makes the next attempt follow at once', async () => {
    const n: Nudge = {};
    const t0 = Date.now();
    let calls = 0;
    const done = pollUntil(
      async () => {
        calls++;
        if (calls === 1) nudge(n); // during an attempt: pending
        return calls === 2;
      },
      new AbortController().signal,
      { initialDelayMs: 10_000, factor: 1, maxDelayMs: 10_000, waitFirst: true, nudge: n },
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(0);
    nudge(n); // during the first wait
    await done;
    expect(calls).toBe(2);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(n.wake).toBeUndefined();
  });

  it('abort ends a wait at once with the signal reason; an attempt that throws ends polling with its error', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const polling = pollUntil(async () => false, ac.signal, { initialDelayMs: 10_000, factor: 1, maxDelayMs: 10_000 });
    setTimeout(() => ac.abort(new Error('stopped')), 50);
    await expect(polling).rejects.toThrow('stopped');
    expect(Date.now() - t0).toBeLessThan(1_000);

    const boom = new Error('unreachable');
    await expect(pollUntil(async () => Promise.reject(boom), new AbortController().signal, { initialDelayMs: 1, factor: 1, maxDelayMs: 1 })).rejects.toBe(boom);

    const aborted = new AbortController();
    aborted.abort(new Error('already'));
    let called = false;
    await expect(pollUntil(async () => (called = true), aborted.signal, { initialDelayMs: 1, factor: 1, maxDelayMs: 1 })).rejects.toThrow('already');
    expect(called).toBe(false);
  });
});
