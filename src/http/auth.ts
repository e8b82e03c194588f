/** Bearer-key check in constant time; `/health` stays open (load balancers, llama-server parity). */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { RouterError, sendError } from './errors.js';

/** Hash both sides so the comparison takes the same time whatever the lengths. */
export function sameKey(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function keyOf(req: Pick<IncomingMessage, 'headers'>): string | undefined {
  const h = req.headers.authorization;
  // The scheme is case-insensitive (RFC 7235), as in the child engine's own check.
  const bearer = h === undefined ? null : /^Bearer +(.*)$/i.exec(h);
  if (bearer) return bearer[1]!.trim();
  const x = req.headers['x-api-key'];
  if (typeof x === 'string') return x;
  return undefined;
}

/** One key, or several (llama-server's --api-key-file): any of them is accepted. */
export function requireKey(apiKey: string | readonly string[] | undefined, open: (req: Request) => boolean) {
  const keys = (typeof apiKey === 'string' ? [apiKey] : (apiKey ?? [])).filter(Boolean);
  return (req: Request, res: Response, next: NextFunction) => {
    if (keys.length === 0 || open(req)) return next();
    const given = keyOf(req);
    // Every key is compared (no early exit), so timing tells nothing about which one nearly matched.
    if (given !== undefined && keys.map((k) => sameKey(given, k)).includes(true)) return next();
    sendError(res, new RouterError('invalid_api_key', given === undefined ? 'missing API key' : 'invalid API key'));
  };
}
