/**
 * Cross-origin requests. A page on another origin can make the user's browser send the router a "simple"
 * request (a `text/plain` POST, a form, an `<img>` GET) without any preflight: without a key that is enough to
 * load and unload models or run prompts (CSRF). So a request from a browser on another origin is refused with
 * 403 unless that origin is allowed with --cors-origin, before anything happens. Browsers say where a request
 * comes from with `Origin` (every cross-origin fetch and every non-GET) and `Sec-Fetch-Site` (every request of a
 * current browser); clients that are not browsers send neither and are not affected.
 *
 * CORS is opt-in: allowed origins get `Access-Control-Allow-Origin` (echoed, with `Vary: Origin`) and a
 * preflight answer (204, methods, headers incl. Authorization, Max-Age). We do not default to `*` as llama-server
 * does: with no key, `*` lets every web page the user opens use the router and read its answers.
 *
 * Exempt: /health (no effect, nothing to read), and top-level GET navigations (a link to the dashboard from
 * another site opens it; the page then makes its own same-origin requests).
 */
import type { Answer, RequestHead } from './edge.js';
import { RouterError, sendError } from './errors.js';

export interface CorsPolicy {
  /** Exact origins (`https://app.example:3000`), or `*` for any. */
  origins: readonly string[];
}

export const PREFLIGHT_MAX_AGE_S = 600;
const ALLOW_METHODS = 'GET, POST, OPTIONS';
/** Always allowed; a preflight's other requested headers are echoed (the openai SDK sends x-stainless-*). */
const BASE_HEADERS = ['Authorization', 'Content-Type', 'X-Api-Key'];

/** `https://App.example:443/` -> `https://app.example` (the form browsers send in Origin). */
export function normalizeOrigin(origin: string): string {
  if (origin === '*' || origin === 'null') return origin;
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return origin.toLowerCase();
    return u.origin;
  } catch {
    return origin.toLowerCase();
  }
}

function originAllowed(origin: string | undefined, policy: CorsPolicy): boolean {
  if (policy.origins.includes('*')) return true;
  return origin !== undefined && policy.origins.some((o) => normalizeOrigin(o) === normalizeOrigin(origin));
}

/** Same origin: the page was loaded from the name and port this request is addressed to. */
function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const u = new URL(origin);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.host === host.toLowerCase();
  } catch {
    return false;
  }
}

type Verdict = 'same' | 'allowed' | 'refused' | 'none';

function judge(req: RequestHead, policy: CorsPolicy): Verdict {
  const origin = header(req, 'origin');
  if (origin !== undefined) {
    if (sameOrigin(origin, req.headers.host)) return 'same';
    return originAllowed(origin, policy) ? 'allowed' : 'refused';
  }
  // No Origin: a browser's no-cors GET (`<img src>`, `<script src>`) says cross-site here and nowhere else.
  const site = header(req, 'sec-fetch-site');
  if (site === 'cross-site' || site === 'same-site') {
    const navigation = header(req, 'sec-fetch-mode') === 'navigate' && (req.method === 'GET' || req.method === 'HEAD');
    if (navigation) return 'none';
    return policy.origins.includes('*') ? 'allowed' : 'refused';
  }
  return 'none';
}

function header(req: RequestHead, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

function isPreflight(req: RequestHead): boolean {
  return req.method === 'OPTIONS' && header(req, 'origin') !== undefined && header(req, 'access-control-request-method') !== undefined;
}

/** Request header names a preflight may ask for: tokens only, so nothing odd is echoed back. */
function requestedHeaders(req: RequestHead): string[] {
  const raw = header(req, 'access-control-request-headers') ?? '';
  return raw
    .split(',')
    .map((h) => h.trim())
    .filter((h) => /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/.test(h))
    .slice(0, 32);
}

function refusal(req: RequestHead): RouterError {
  const from = header(req, 'origin') ?? `a ${header(req, 'sec-fetch-site')} page`;
  return new RouterError(
    'origin_not_allowed',
    `cross-origin request from ${JSON.stringify(from.slice(0, 200))} refused: start the router with --cors-origin ORIGIN to let a web app on that origin use it`,
  );
}

/** Middleware (express or plain node:http): preflights, CORS headers for allowed origins, 403 for the rest. */
export function corsGuard(policy: CorsPolicy, open: (req: RequestHead) => boolean) {
  return (req: RequestHead, res: Answer, next: () => void): void => {
    if (open(req)) return next();
    const verdict = judge(req, policy);
    if (verdict === 'refused') return sendError(res, refusal(req));
    if (verdict === 'allowed') {
      const origin = header(req, 'origin');
      res.setHeader('Access-Control-Allow-Origin', origin ?? '*');
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Expose-Headers', 'Retry-After');
      if (isPreflight(req)) {
        const headers = [...BASE_HEADERS, ...requestedHeaders(req).filter((h) => !BASE_HEADERS.some((b) => b.toLowerCase() === h.toLowerCase()))];
        res.statusCode = 204;
        res.setHeader('Access-Control-Allow-Methods', ALLOW_METHODS);
        res.setHeader('Access-Control-Allow-Headers', headers.join(', '));
        res.setHeader('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE_S));
        res.setHeader('Content-Length', '0');
        res.end();
        return;
      }
    }
    next();
  };
}
