/**
 * --api-key: every route but /health needs `Authorization: Bearer KEY`. Keys are compared as SHA-256 digests
 * with timingSafeEqual: equal-length buffers whatever the client sent, so neither the key's content nor its
 * length leaks through response timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { unauthorized } from './errors.js';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export function keyMatches(expected: Buffer, header: string | undefined): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header?.trim() ?? '');
  if (!match) return false;
  return timingSafeEqual(expected, digest(match[1]!.trim()));
}

export function requireApiKey(apiKey: string | undefined): RequestHandler {
  if (!apiKey) return (_req, _res, next) => next();
  const expected = digest(apiKey);
  return (req, _res, next) => {
    // llama-server also accepts the key as X-Api-Key; some clients send it that way.
    const header = req.headers.authorization ?? (req.headers['x-api-key'] ? `Bearer ${String(req.headers['x-api-key'])}` : undefined);
    if (keyMatches(expected, header)) next();
    else next(unauthorized());
  };
}
