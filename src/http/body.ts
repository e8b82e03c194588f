/**
 * Reading a request body under --max-body, for express and plain node:http handlers alike.
 *
 * - A declared Content-Length over the limit is refused before a byte of the body is read, and the connection
 *   is closed (the unread body must not be parsed as the next request, and reading it only to throw it away is
 *   what an attacker wants). A client that asked `Expect: 100-continue` never gets the 100 and never sends it.
 * - A chunked (or lying) body is cut at the limit: 413, connection closed. The router never holds more than the
 *   limit, of the bytes on the wire nor of the bytes a gzip/deflate/br body inflates to (a zip bomb).
 * - A JSON body is valid UTF-8 and nests no deeper than MAX_JSON_DEPTH, else 400 (parseJsonBody).
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createBrotliDecompress, createGunzip, createInflate, type Gunzip } from 'node:zlib';
import { RouterError, sendError } from './errors.js';

/**
 * Deeper JSON is refused: no OpenAI request comes near (a tool's JSON schema is a few dozen levels at most), and
 * children parse and walk JSON recursively.
 */
export const MAX_JSON_DEPTH = 128;

/** Requests that asked `Expect: 100-continue` and have not been told to go on (see `deferContinue`). */
const continuePending = new WeakSet<IncomingMessage>();

/**
 * For the server's 'checkContinue' event: the request goes to the normal handler without node's automatic
 * `100 Continue`; readBody sends it once the request has passed every check and its declared size is allowed.
 */
export function deferContinue(req: IncomingMessage): void {
  continuePending.add(req);
}

function tooLarge(limit: number, what: string): RouterError {
  return new RouterError('body_too_large', `request body ${what} --max-body (${limit} bytes)`, { closeConnection: true });
}

function decoderFor(encoding: string): Gunzip | ReturnType<typeof createInflate> | ReturnType<typeof createBrotliDecompress> | undefined {
  switch (encoding) {
    case 'identity':
      return undefined;
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      throw new RouterError('unsupported_media_type', `unsupported content-encoding ${JSON.stringify(encoding.slice(0, 100))}`);
  }
}

/**
 * The whole body of `req`, decoded (Content-Encoding), at most `limit` bytes. Throws a RouterError: 413 with
 * `closeConnection` over the limit, 415 for an unknown encoding, 400 for a broken one or a client gone mid-body.
 * `res` (optional) is only used to send a deferred `100 Continue`.
 */
export function readBody(req: IncomingMessage, limit: number, res?: ServerResponse): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit, `of ${declared} bytes is over`));
  const encoding = String(req.headers['content-encoding'] ?? 'identity').trim().toLowerCase() || 'identity';
  let decoder: ReturnType<typeof decoderFor>;
  try {
    decoder = decoderFor(encoding);
  } catch (err) {
    return Promise.reject(err);
  }
  if (continuePending.delete(req) && res && !res.headersSent) res.writeContinue();

  return new Promise<Buffer>((resolve, reject) => {
    const r: Reading = { chunks: [], wire: 0, held: 0, limit, settled: false, decoder, encoding, resolve, reject };
    (req as Readable)[READING] = r;
    if (decoder) {
      // Only a compressed body has one: its closures are not on the common path.
      decoder.on('data', (chunk: Buffer) => onData(req, r, chunk));
      decoder.on('end', () => onDone(req, r));
      decoder.on('error', (err: Error) => fail(req, r, new RouterError('invalid_request', `request body is not valid ${encoding}: ${err.message}`, { cause: err })));
    }
    req.on('data', onWire);
    req.on('end', onWireEnd);
    req.on('error', onWireError);
    req.on('close', onWireClose);
  });
}

/**
 * One body being read. It hangs on the request (READING) and the request's listeners are module functions that
 * find it there: no closures made per request (the proxy-overhead profile counted the body reader's own
 * set-up in the router's CPU per request).
 */
interface Reading {
  chunks: Buffer[];
  /** Bytes on the wire so far, and bytes kept (after decoding). */
  wire: number;
  held: number;
  limit: number;
  settled: boolean;
  decoder?: ReturnType<typeof decoderFor>;
  encoding: string;
  resolve(body: Buffer): void;
  reject(err: unknown): void;
}

const READING = Symbol('reading');
type Readable = IncomingMessage & { [READING]?: Reading };

function onWire(this: Readable, chunk: Buffer): void {
  const r = this[READING]!;
  if (r.settled) return;
  r.wire += chunk.length;
  if (r.wire > r.limit) return fail(this, r, tooLarge(r.limit, 'is over'));
  if (r.decoder) r.decoder.write(chunk);
  else onData(this, r, chunk);
}

function onWireEnd(this: Readable): void {
  const r = this[READING]!;
  if (r.decoder) r.decoder.end();
  else onDone(this, r);
}

function onWireError(this: Readable, err: Error): void {
  fail(this, this[READING]!, new RouterError('invalid_request', `request body could not be read: ${err.message}`, { cause: err }));
}

function onWireClose(this: Readable): void {
  if (!this.complete) fail(this, this[READING]!, new RouterError('invalid_request', 'request aborted: the client went away mid-body'));
}

function onData(req: Readable, r: Reading, chunk: Buffer): void {
  r.held += chunk.length;
  if (r.held > r.limit) return fail(req, r, tooLarge(r.limit, r.decoder ? `inflates to more than` : 'is over'));
  r.chunks.push(chunk);
}

/**
 * The whole body is in. The request's listeners stay, settled (it has ended: no more data comes, a late 'error' or
 * 'close' finds the reading settled); they go with the request.
 */
function onDone(_req: Readable, r: Reading): void {
  if (r.settled) return;
  r.settled = true;
  const { chunks, held } = r;
  // The reading stays on the request until it goes: it must not keep a second copy of the body (the chunks
  // joined) for as long as the request is answered, which for a large image chat is minutes.
  r.chunks = [];
  r.decoder = undefined;
  r.resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, held));
}

function fail(req: Readable, r: Reading, err: RouterError): void {
  if (r.settled) return;
  r.settled = true;
  req.off('data', onWire);
  req.off('end', onWireEnd);
  req.off('error', onWireError);
  req.off('close', onWireClose);
  r.chunks.length = 0;
  // Stop reading: what is still coming is not ours to buffer (the answer closes the connection).
  req.pause();
  r.decoder?.destroy();
  r.reject(err);
}

/**
 * Express middleware: the body as bytes in `req.body` under `limit`, or the OpenAI error JSON of readBody's refusal.
 * One definition for app.ts and compat-routes.ts, so both read bodies under the same rules.
 */
export function rawBody(limit: number) {
  return (req: IncomingMessage & { body?: unknown }, res: ServerResponse, next: () => void): void => {
    readBody(req, limit, res).then(
      (body) => {
        req.body = body;
        next();
      },
      (err: unknown) => sendError(res, err),
    );
  };
}

/**
 * The body as JSON: strict UTF-8 (a lone continuation byte is a 400, not a U+FFFD the child never saw) and
 * nesting no deeper than `maxDepth`. The depth is checked on the parsed value (V8's JSON.parse is not recursive,
 * and walking the value costs a fraction of scanning the bytes in JS).
 */
export function parseJsonBody(body: Buffer, maxDepth = MAX_JSON_DEPTH): unknown {
  if (!isUtf8(body)) throw new RouterError('invalid_json', 'request body is not valid UTF-8');
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new RouterError('invalid_json', 'request body is not valid JSON');
  }
  // Each level takes an opening and a closing bracket: a shorter body cannot nest deeper than maxDepth.
  if (body.length >= 2 * (maxDepth + 1) && depthOver(value, maxDepth)) throw new RouterError('invalid_json', `request body nests deeper than ${maxDepth} levels`);
  return value;
}

/**
 * Does this parsed JSON value hold arrays/objects more than `max` deep? Recursive, but never more than `max` + 1
 * calls deep (it stops there), so no stack to overflow; it allocates nothing (the walk is on every proxied
 * request).
 */
export function depthOver(value: unknown, max: number): boolean {
  return value !== null && typeof value === 'object' && deeper(value, max);
}

/** `v` (an object or array) nests more than `left` levels, itself included. */
function deeper(v: object, left: number): boolean {
  if (left <= 0) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const c: unknown = v[i];
      if (c !== null && typeof c === 'object' && deeper(c, left - 1)) return true;
    }
    return false;
  }
  for (const k in v) {
    const c = (v as Record<string, unknown>)[k];
    if (c !== null && typeof c === 'object' && deeper(c, left - 1)) return true;
  }
  return false;
}
