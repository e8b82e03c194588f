/**
 * DNS rebinding: a web page on a name the attacker controls (evil.example) has that name resolve to 127.0.0.1,
 * and its scripts then talk to the router as a same-origin server and read every answer. Browsers always send
 * the name they connected to as Host, so a router listening on loopback answers only to loopback names and
 * addresses, and to the names given with --allowed-hosts (Ollama's fix for the same hole, and Vite's).
 *
 * Non-loopback binds (`--host 0.0.0.0`, a LAN address) are not checked unless --allowed-hosts is given: the
 * operator exposed the router on purpose, the names clients and reverse proxies use for it are not known here,
 * and a web page can reach such a router by its address anyway; there --api-key is the protection (the router
 * warns at start when it is missing). This is Ollama's rule.
 */
import { isIP } from 'node:net';
import type { Answer, RequestHead } from './edge.js';
import { RouterError, sendError } from './errors.js';

export interface HostPolicy {
  /** Names (`gpu-box.lan`), `.suffix` for a domain and its subdomains, or `*` for any Host. */
  allowed: readonly string[];
  /** The address the router listens on. */
  listenHost: string;
}

/** Is this listen address (or name) loopback-only? */
export function isLoopbackAddress(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h) || h === '0:0:0:0:0:0:0:1';
  return false;
}

/** `Host` without its port, lower case; IPv6 without brackets. undefined when it is not a host name at all. */
export function hostName(header: string): string | undefined {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return undefined;
    const rest = h.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    return h.slice(1, end);
  }
  const m = /^([a-z0-9._-]+)(?::\d{1,5})?$/.exec(h);
  return m ? m[1]!.replace(/\.$/, '') : undefined;
}

function listed(name: string, allowed: readonly string[]): boolean {
  return allowed.some((a) => {
    const entry = a.toLowerCase();
    if (entry === '*') return true;
    if (entry.startsWith('.')) return name === entry.slice(1) || name.endsWith(entry);
    return name === (hostName(entry) ?? entry);
  });
}

/** Is the check on at all (loopback bind, or --allowed-hosts given)? */
export function hostCheckActive(policy: HostPolicy): boolean {
  return isLoopbackAddress(policy.listenHost) || policy.allowed.length > 0;
}

/** Why this Host is refused, or undefined when it may be served. A missing Host (HTTP/1.0) is no browser's. */
export function refusedHost(header: string | undefined, policy: HostPolicy): string | undefined {
  if (header === undefined || !hostCheckActive(policy)) return undefined;
  const name = hostName(header);
  if (name !== undefined && (isLoopbackAddress(name) || listed(name, policy.allowed))) return undefined;
  const shown = JSON.stringify(header.slice(0, 200));
  return (
    `Host ${shown} is not allowed: the router answers only to loopback names (localhost, 127.0.0.1, [::1])` +
    `${policy.allowed.length ? ` and ${policy.allowed.join(', ')}` : ''}; ` +
    'start it with --allowed-hosts NAME to serve another name (a web page can make any name point at this machine)'
  );
}

/**
 * Middleware (express or plain node:http): 403 OpenAI JSON for a Host the policy refuses. The Host values let
 * through are remembered (a few: clients send the same one on every request), so a request pays one Set lookup
 * rather than the name parsing and address checks (profiled: ~2 us of samples per proxied request).
 */
export function hostGuard(policy: HostPolicy) {
  const active = hostCheckActive(policy);
  const passed = new Set<string>();
  return (req: RequestHead, res: Answer, next: () => void): void => {
    const host = req.headers.host;
    if (!active || host === undefined || passed.has(host)) return next();
    const why = refusedHost(host, policy);
    if (why === undefined) {
      // Bounded: only names the policy allows get here, but a client may vary the spelling.
      if (passed.size < 64) passed.add(host);
      return next();
    }
    sendError(res, new RouterError('host_not_allowed', why));
  };
}
