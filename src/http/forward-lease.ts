/**
 * Forward a request to its lease's child, and survive the one race a crash leaves: a child killed a moment ago
 * refuses connections (ECONNREFUSED), or resets one its kernel had already accepted, before the router has handled
 * its exit; its model still looks loaded with the old port, and a request admitted to it would get a 502 the router
 * could have avoided by starting a new child.
 *
 * A refused connection sent nothing; a reset one, before any byte of answer, to a child that is then found dead,
 * left no work behind (it died with the process). So sending again is safe. The router is asked whether the child is
 * gone (router.childGone: its process exited, its exit then handled); if so the lease is given back and the request
 * waits, once, for a lease on a new child. A child still running that refuses or resets gets the 502 as before, and
 * so does a new child that fails too (one retry, never a loop). All of it is on the error path only: the caller's
 * normal path stays one `proxy.forward(…, true)` call, and this runs only when that hands the request back.
 */
import type { Answer, RequestHead } from './edge.js';
import type { Cancel, Lease, Router } from '../router/router.js';
import { upstreamError, type ModelProxy } from './proxy.js';

/**
 * `proxy.forward(req, res, body, lease, true)` handed the request back with `failed`. Resolves when the client's
 * response is closed; throws what the client is to be told (unless `cancel` is aborted: the client left). Releases
 * every lease it takes itself; `lease` stays the caller's to release (release is idempotent: a second call does
 * nothing).
 */
export async function retryOnNewChild(
  router: Router,
  proxy: ModelProxy,
  req: RequestHead,
  res: Answer,
  body: Buffer,
  lease: Lease,
  cancel: Cancel,
  failed: Error,
): Promise<void> {
  if (!(await router.childGone(lease)) || cancel.aborted) throw upstreamError(failed, lease.target);
  lease.release();
  const next = await router.acquire(lease.model, cancel);
  try {
    // The second try is the last: a new child that refuses too gets its 502.
    if (!cancel.aborted) await proxy.forward(req, res, body, next);
  } finally {
    next.release();
  }
}
