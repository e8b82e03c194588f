/** Waiting on a condition instead of sleeping: the one polling loop the tests share. */

/**
 * Resolves with `fn()`'s first truthy value, polled every `everyMs`; rejects naming `what` after `timeoutMs`.
 * A test waits for what it needs to be true, never for a guess at how long that takes.
 */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 15_000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
