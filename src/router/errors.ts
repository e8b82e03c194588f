/**
 * The router's refusals, as the router sees them: what went wrong with a model (kind), for how long a retry is
 * pointless (retryAfterS), whether a retry may help at all (retryable: said only where the router knows, e.g. an
 * external backend's trouble), and the failure behind it (cause). The router, the scheduler's rejections and the
 * external backend speak these; src/http maps each kind onto a status and OpenAI error JSON in one place
 * (src/http/errors.ts). No room below src/http knows HTTP.
 */
import type { RejectKind } from '../scheduler/types.js';

export type ModelErrorKind =
  /** The scheduler's refusals (queue, backoff, load failed or timed out, too large, not loaded, shutting down). */
  | RejectKind
  /** No model by that name or alias. */
  | 'not_found'
  /** The model's preset is bad (listed, never served). */
  | 'invalid'
  /** An external backend could not be reached at all. */
  | 'unreachable'
  /** The client went away before it was answered (nobody reads this answer; it says why the wait ended). */
  | 'client_gone';

export class ModelError extends Error {
  readonly retryAfterS?: number;
  readonly retryable?: boolean;

  constructor(
    readonly kind: ModelErrorKind,
    message: string,
    details: { retryAfterS?: number; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ModelError';
    if (details.retryAfterS !== undefined) this.retryAfterS = details.retryAfterS;
    if (details.retryable !== undefined) this.retryable = details.retryable;
  }
}
