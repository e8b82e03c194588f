/**
 * When a model chosen to make room stops taking new requests (drains). Pure.
 *
 * A waiter that has waited the batching window drains the busy models it needs room from, so a steady
 * stream cannot hold them. But while another model loads on the device the waiter's load needs, that load
 * cannot start anyway (one load at a time per device), and a victim that stops taking requests then only
 * makes its new requests wait for its next load: bench/sim cold-big seed 20240615, a model just loaded was
 * drained for 48 s behind another's 47 s cold load, and a request for it waited 71 s (the trace's p99).
 * Draining too late costs the other way: the victim's requests still running when the device frees delay
 * the waiter (bench/sim mixed, with 30 s requests, when no victim drained during a load).
 *
 * So during another load a victim drains just in time: once that load is expected to end within the time
 * the victim's requests take. Until then, what it admits is expected to be done by the time the device frees.
 */

/** Weight of a shorter newest request in `requestMs`: one in four, as for `gapMs`. */
const REQUEST_WEIGHT = 0.25;

/**
 * Requests a model must have finished before its `requestMs` is trusted: a figure from one or two says
 * little about the long ones (bench/sim mixed: a model whose first requests took 0.5 s took a 30 s one
 * during another's load and held the waiter 25 s past it). Until then the batching window stands in for it
 * (`drainsNow`).
 */
export const MIN_REQUESTS = 3;

/**
 * How long a model's requests take (admitted -> done), leaning to the long ones: a longer request is taken
 * at once, a shorter one only pulls the figure down by an EWMA. A drain waits for the longest request in
 * flight, so an average would start it too late.
 */
export function nextRequestMs(previous: number | undefined, tookMs: number): number {
  if (previous === undefined || tookMs >= previous) return tookMs;
  return (1 - REQUEST_WEIGHT) * previous + REQUEST_WEIGHT * tookMs;
}

/**
 * What is left of a load started at `startedAt`: its last measured load time less what has run, none once it
 * has run past that time (due any moment: the estimate must not jump from ~0 back up to its age, or a victim
 * draining for it would take new requests again just before the device frees), or, for a first load, as long
 * again as it has run (with no better estimate, a duration is as likely to end before as after twice its age).
 */
export function loadLeftMs(startedAt: number, lastLoadMs: number | undefined, now: number): number {
  const ran = Math.max(0, now - startedAt);
  return lastLoadMs !== undefined ? Math.max(0, lastLoadMs - ran) : ran;
}

/**
 * Whether a victim whose waiter's batching window is over drains now. `loadLeft`: what is left of the load
 * holding the device, undefined when none runs; `windowMs`: the batching window. With no such load it drains:
 * the wait stays bounded by the window, the loads ahead and the longest request.
 *
 * A victim with too few requests measured to trust its figure is taken to run requests as long as the window
 * (or as its longest measured one, if longer): it keeps taking them while the load is expected to run longer
 * than that. A request no longer than the window then costs the waiter nothing, a longer one at most its excess
 * over the window, which is what the window already grants a busy model. Draining such a victim at once instead
 * (until 2026-12-04) made the next request of a model just loaded in a start-up chain of cold loads wait for its
 * reload at the end of the chain: bench/sim cold-big seeds 20240613 and 20240617, whose p99 requests these were.
 * With no window (0: busy models drain at once), it drains at once.
 */
export function drainsNow(
  victim: { requestMs?: number; requestsDone?: number },
  loadLeft: number | undefined,
  windowMs: number,
): boolean {
  // No load ahead, or no window (--drain-window 0 says: drain at once).
  if (loadLeft === undefined || windowMs <= 0) return true;
  if (victim.requestMs !== undefined && (victim.requestsDone ?? 0) >= MIN_REQUESTS) return loadLeft <= victim.requestMs;
  return loadLeft <= Math.max(windowMs, victim.requestMs ?? 0);
}
