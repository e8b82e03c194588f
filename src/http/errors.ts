/**
 * The one catalogue of errors the router answers itself, each with its HTTP status and
 * OpenAI error type. Lower-level failures are mapped onto it with `cause`; nothing the
 * router says is ever plain text or HTML.
 */
import type { Answer } from './edge.js';
import { ModelError, type ModelErrorKind } from '../router/errors.js';
import { closeAfterAnswer } from './linger.js';

export const catalogue = {
  invalid_json: { status: 400, type: 'invalid_request_error' },
  invalid_model: { status: 400, type: 'invalid_request_error' },
  model_not_loaded: { status: 400, type: 'invalid_request_error' },
  invalid_request: { status: 400, type: 'invalid_request_error' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  host_not_allowed: { status: 403, type: 'permission_error' },
  origin_not_allowed: { status: 403, type: 'permission_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  request_timeout: { status: 408, type: 'invalid_request_error' },
  expectation_failed: { status: 417, type: 'invalid_request_error' },
  body_too_large: { status: 413, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  headers_too_large: { status: 431, type: 'invalid_request_error' },
  model_too_large: { status: 507, type: 'server_error' },
  model_invalid: { status: 500, type: 'server_error' },
  internal_error: { status: 500, type: 'server_error' },
  upstream_failed: { status: 502, type: 'server_error' },
  backend_unreachable: { status: 502, type: 'server_error' },
  queue_full: { status: 503, type: 'server_error' },
  queue_timeout: { status: 503, type: 'server_error' },
  model_backoff: { status: 503, type: 'server_error' },
  model_load_failed: { status: 503, type: 'server_error' },
  shutting_down: { status: 503, type: 'server_error' },
  load_timeout: { status: 504, type: 'server_error' },
  upstream_timeout: { status: 504, type: 'server_error' },
} as const;

export type ErrorCode = keyof typeof catalogue;

export class RouterError extends Error {
  readonly status: number;
  readonly type: string;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** closeConnection: answer with `Connection: close` (a body left unread must not be parsed as the next request). */
    readonly extra: { retryAfterS?: number; retryable?: boolean; cause?: unknown; closeConnection?: boolean } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'RouterError';
    this.status = catalogue[code].status;
    this.type = catalogue[code].type;
  }

  toJSON(): { error: Record<string, unknown> } {
    const error: Record<string, unknown> = { message: this.message, type: this.type, code: this.code };
    if (this.extra.retryable !== undefined) error.retryable = this.extra.retryable;
    return { error };
  }
}

/**
 * The router's refusals (src/router/errors.ts) as HTTP: the one place a model error gets its status and code.
 * A client gone is answered 400 if anyone still reads it.
 */
const modelErrorCodes: Record<ModelErrorKind, ErrorCode> = {
  not_found: 'model_not_found',
  invalid: 'model_invalid',
  not_loaded: 'model_not_loaded',
  client_gone: 'invalid_request',
  too_large: 'model_too_large',
  unreachable: 'backend_unreachable',
  queue_full: 'queue_full',
  queue_timeout: 'queue_timeout',
  backoff: 'model_backoff',
  load_failed: 'model_load_failed',
  shutting_down: 'shutting_down',
  load_timeout: 'load_timeout',
};

/** Map anything thrown onto the catalogue. */
export function toRouterError(err: unknown): RouterError {
  if (err instanceof RouterError) return err;
  if (err instanceof ModelError) {
    return new RouterError(modelErrorCodes[err.kind], err.message, { retryAfterS: err.retryAfterS, retryable: err.retryable, cause: err });
  }
  const e = err as { type?: string; status?: number; statusCode?: number; message?: string };
  // body-parser's errors carry a type and a status.
  if (e?.type === 'entity.too.large') return new RouterError('body_too_large', 'request body too large', { cause: err });
  if (e?.type === 'entity.parse.failed') return new RouterError('invalid_json', 'malformed JSON body', { cause: err });
  if (e?.type === 'request.aborted') return new RouterError('invalid_request', 'request aborted', { cause: err });
  // The rest of body-parser's refusals (an unknown content-encoding or charset is a 415) are the client's fault too.
  const status = e?.status ?? e?.statusCode;
  if (status === 415) return new RouterError('unsupported_media_type', e.message ?? 'unsupported media type', { cause: err });
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new RouterError('invalid_request', e.message ?? 'bad request', { cause: err });
  }
  return new RouterError('internal_error', e?.message ?? String(err), { cause: err });
}

/**
 * Every 503 says when to come back: the scheduler's figure when it has one (backoff, queue), else 1 s (a first
 * load failure is retried on the next request; shutting down: another instance may be starting).
 */
export function retryAfterOf(e: RouterError): number | undefined {
  return e.extra.retryAfterS ?? (e.status === 503 ? 1 : undefined);
}

/**
 * Write `err` as OpenAI error JSON. Plain node:http responses work too (the raw proxied path), hence only
 * ServerResponse methods here.
 */
export function sendError(res: Answer, err: unknown): void {
  const e = toRouterError(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const retryAfter = retryAfterOf(e);
  if (retryAfter !== undefined) res.setHeader('Retry-After', String(retryAfter));
  // node closes the socket once this response is sent, and does not read what the client still sends as a request.
  if (e.extra.closeConnection) closeAfterAnswer(res);
  const body = JSON.stringify(e.toJSON());
  res.statusCode = e.status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}
