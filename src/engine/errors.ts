/**
 * The engine's one error class: every failure a client can see carries its HTTP status and OpenAI error type,
 * so routes throw and a single express error handler renders `{"error":{"message","type","code"}}`.
 * Types follow llama-server where it has one (e.g. exceed_context_size_error).
 */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'unavailable_error'
  | 'exceed_context_size_error'
  | 'not_supported_error'
  | 'server_error';

export class EngineError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly param?: string;

  constructor(status: number, type: ErrorType, message: string, options?: { cause?: unknown; param?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EngineError';
    this.status = status;
    this.type = type;
    this.param = options?.param;
  }

  toJSON(): { error: { message: string; type: ErrorType; code: number; param: string | null } } {
    return { error: { message: this.message, type: this.type, code: this.status, param: this.param ?? null } };
  }
}

export const badRequest = (message: string, param?: string): EngineError =>
  new EngineError(400, 'invalid_request_error', message, { param });

export const unauthorized = (): EngineError => new EngineError(401, 'authentication_error', 'Invalid API Key');

export const notFound = (method: string, path: string): EngineError =>
  new EngineError(404, 'not_found_error', `${method} ${path} not found`);

export const loading = (): EngineError => new EngineError(503, 'unavailable_error', 'Loading model');

export const unloaded = (): EngineError =>
  new EngineError(503, 'unavailable_error', 'Model unloaded (POST /models/load loads it again)');

export const shuttingDown = (): EngineError => new EngineError(503, 'unavailable_error', 'Server is shutting down');

export const contextExceeded = (promptTokens: number, ctxSize: number): EngineError =>
  new EngineError(
    400,
    'exceed_context_size_error',
    `the request exceeds the available context size (${promptTokens} prompt tokens, ${ctxSize} per slot); try increasing it`,
  );

/** Any thrown value as an EngineError; unknown failures become 500 with their message kept. */
export function toEngineError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  const e = err as { type?: string; status?: number; message?: string } | undefined;
  // body-parser failures (malformed JSON, too large, bad charset) carry a status and a type.
  if (e && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    const message = e.type === 'entity.parse.failed' ? `Invalid JSON body: ${e.message}` : (e.message ?? 'Bad request');
    return new EngineError(e.status, 'invalid_request_error', message, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new EngineError(500, 'server_error', message || 'Internal server error', { cause: err });
}
