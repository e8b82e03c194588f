/**
 * One log line when a request takes a slot and one when its answer is complete, as llama-server logs its slot
 * launches and releases, with the count in flight and the wall clock in ms:
 *
 *   router-engine: slot 1 start, 2 in flight, t=1764483453123
 *   router-engine: slot 1 end, t=1764483453201
 *
 * The end line is written before the answer's last bytes leave, so nobody (a router, its next request to another
 * child) can see the answer complete before that time. A router's tests read both lines through `GET /logs/:model`
 * to prove its concurrency limits and GPU lock at the child: exactly, where polling /stats could miss a peak.
 */
import { log } from './log.js';
import type { SlotStats } from './slots.js';

export class SlotTrace {
  private ended = false;
  private readonly id: number;

  /** Call right after `pool.acquire` resolved: the count then includes this request. */
  constructor(pool: { stats(): SlotStats }, slot: { readonly id: number }) {
    this.id = slot.id;
    log(`slot ${slot.id} start, ${pool.stats().in_flight} in flight, t=${Date.now()}`);
  }

  /** Before the answer's last write; again in `finally` for the paths that never got there (errors, aborts). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    log(`slot ${this.id} end, t=${Date.now()}`);
  }
}
