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
import { RouterError } from './errors.js';

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
    const chunks: Buffer[] = [];
    let wire = 0;
    let held = 0;
    let settled = false;
    const cleanup = () => {
      req.off('data', onWire);
      req.off('end', onWireEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (decoder) {
        decoder.off('data', onData);
        decoder.off('end', onDone);
        decoder.off('error', onDecodeError);
      }
    };
    const fail = (err: RouterError) => {
      if (settled) return;
      settled = true;
      cleanup();
      chunks.length = 0;
      // Stop reading: what is still coming is not ours to buffer (the answer closes the connection).
      req.pause();
      decoder?.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      held += chunk.length;
      if (held > limit) return fail(tooLarge(limit, decoder ? `inflates to more than` : 'is over'));
      chunks.push(chunk);
    };
    const onDone = () => {
      if (settled) return;
      settled = true;
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, held));
    };
    const onWire = (chunk: Buffer) => {
      wire += chunk.length;
      if (wire > limit) return fail(tooLarge(limit, 'is over'));
      if (decoder) decoder.write(chunk);
      else onData(chunk);
    };
    const onWireEnd = () => (decoder ? decoder.end() : onDone());
    const onError = (err: Error) => fail(new RouterError('invalid_request', `request body could not be read: ${err.message}`, { cause: err }));
    const onDecodeError = (err: Error) => fail(new RouterError('invalid_request', `request body is not valid ${encoding}: ${err.message}`, { cause: err }));
    const onClose = () => {
      if (!req.complete) fail(new RouterError('invalid_request', 'request aborted: the client went away mid-body'));
    };
    if (decoder) {
      decoder.on('data', onData);
      decoder.on('end', onDone);
      decoder.on('error', onDecodeError);
    }
    req.on('data', onWire);
    req.on('end', onWireEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
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
  if (depthOver(value, maxDepth)) throw new RouterError('invalid_json', `request body nests deeper than ${maxDepth} levels`);
  return value;
}

/** Does this parsed JSON value hold arrays/objects more than `max` deep? Iterative: no stack to overflow. */
export function depthOver(value: unknown, max: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  const stack: [object, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child as object, depth + 1]);
    }
  }
  return false;
}
