/**
 * A request's lifetime as an AbortSignal: it aborts when the client closes the connection before the response
 * finished. Generation checks it at every token and the slot queue drops waiters on it, so a client that leaves
 * frees its slot at once instead of after max_tokens.
 */
import type { Response } from 'express';

export class ClientGoneError extends Error {
  constructor() {
    super('client closed the connection');
    this.name = 'ClientGoneError';
  }
}

export function abortOnClientGone(res: Response): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new ClientGoneError());
  });
  return controller.signal;
}

export function isClientGone(err: unknown): boolean {
  return err instanceof ClientGoneError;
}
