/**
 * The fast lane's request reader (fast-lane.ts): does this read hold one whole proxied request, in a form that can
 * be read only one way? It answers with the request, or with undefined, and then node's HTTP server (llhttp, strict)
 * reads the same bytes as it reads every other request: the lane never refuses and never guesses.
 *
 * Taken, and only this: `POST /path HTTP/1.1` with a path the caller serves, a head of printable ASCII with CRLF line
 * ends under 8 KiB (and half node's limit) in at most 64 header lines, header names that are tokens, each name once, a Host, a Content-Length of digits within the
 * body limit, and the whole body in the bytes read, with nothing after it. Anything else goes to node: HTTP/1.0, other
 * methods, absolute or odd targets, obs-fold, bare LF or CR, control characters, bytes over 0x7F, a repeated header
 * (two Content-Lengths, two Hosts: where request smuggling lives), Transfer-Encoding, Expect, Upgrade,
 * Content-Encoding, a Connection other than keep-alive or close, a body still coming, a second request behind the
 * first (pipelining), an oversized body (node's path answers 413 and closes).
 */
import { maxHeaderSize, type IncomingHttpHeaders } from 'node:http';
import { TOKEN, trimOws } from './response-parser.js';

/**
 * The head's limit: well within node's (--max-http-header-size, 16 KiB by default), so the lane never takes a head node
 * would refuse (a client's head is a few hundred bytes).
 */
const MAX_HEAD = Math.min(8 * 1024, Math.floor(maxHeaderSize / 2));
/** Header lines beyond this go to node (whose maxHeadersCount keeps only the first 2,000). */
const MAX_FIELDS = 64;
const CRLF2 = Buffer.from('\r\n\r\n');

/** Header names that send the request to node's reader whatever their value. */
const NOT_OURS = new Set(['transfer-encoding', 'expect', 'upgrade', 'content-encoding', 'http2-settings']);

export interface LaneRequestHead {
  method: 'POST';
  /** The request target as sent (origin form: a path, maybe a query). */
  url: string;
  /** Names as sent, values trimmed, in order (node's rawHeaders). */
  rawHeaders: string[];
  /** By lower-case name (node's req.headers, each name being there once). */
  headers: IncomingHttpHeaders;
  /** The client asked to close the connection after this answer. */
  close: boolean;
  /** The body: a view of the bytes read. */
  body: Buffer;
}

export interface LaneRules {
  /** The paths the lane serves (the query string aside). */
  paths: ReadonlySet<string>;
  maxBodyBytes: number;
}

/** A request target in origin form with only the characters a path and query use (no space, `#`, quote, `\`). */
const TARGET = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;
/** Printable ASCII and tab: what a header value may hold here. */
const VALUE = /^[\t\x20-\x7e]*$/;

/** One whole request for the lane at the start of `buf`, filling it exactly, or undefined (node reads it). */
export function readLaneRequest(buf: Buffer, rules: LaneRules): LaneRequestHead | undefined {
  const end = buf.indexOf(CRLF2);
  if (end < 0 || end > MAX_HEAD) return undefined;
  const text = buf.toString('latin1', 0, end);
  // Bare CR or LF anywhere (a line end other than CRLF) would be read otherwise by another parser.
  const lines = text.split('\r\n');
  const requestLine = lines[0]!;
  if (!requestLine.startsWith('POST /') || !requestLine.endsWith(' HTTP/1.1')) return undefined;
  const url = requestLine.slice(5, -9);
  if (!TARGET.test(url)) return undefined;
  const q = url.indexOf('?');
  if (!rules.paths.has(q === -1 ? url : url.slice(0, q))) return undefined;

  const rawHeaders: string[] = [];
  const headers: IncomingHttpHeaders = {};
  let length: number | undefined;
  let close = false;
  if (lines.length > MAX_FIELDS + 1) return undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    const value = trimOws(line.slice(colon + 1));
    if (!TOKEN.test(name) || !VALUE.test(value)) return undefined;
    const lower = name.toLowerCase();
    if (headers[lower] !== undefined || NOT_OURS.has(lower)) return undefined;
    if (lower === 'content-length') {
      if (!/^\d{1,15}$/.test(value)) return undefined;
      length = Number(value);
    } else if (lower === 'connection') {
      const v = value.toLowerCase();
      if (v !== 'keep-alive' && v !== 'close') return undefined;
      close = v === 'close';
    }
    headers[lower] = value;
    rawHeaders.push(name, value);
  }
  if (headers.host === undefined || length === undefined || length > rules.maxBodyBytes) return undefined;
  // Exactly one request: a body still coming, or a request behind this one, is node's to read.
  if (buf.length !== end + 4 + length) return undefined;
  return { method: 'POST', url, rawHeaders, headers, close, body: buf.subarray(end + 4) };
}
