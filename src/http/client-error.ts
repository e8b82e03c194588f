/**
 * Requests node's HTTP parser refuses before express sees them: bad framing, oversized
 * headers, headers trickled past `headersTimeout` (slowloris). Node's own answer is a bare
 * status line; ours is the same status with OpenAI error JSON, then the socket is closed.
 * The same for the two refusals node would otherwise make itself (no Host, a bad Expect).
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Answer, RequestHead } from './edge.js';
import { RouterError, sendError } from './errors.js';

function errorFor(code: string | undefined): RouterError {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new RouterError('request_timeout', 'the request was not received in time');
    case 'HPE_HEADER_OVERFLOW':
      return new RouterError('headers_too_large', 'request headers too large');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new RouterError('body_too_large', 'chunk extensions too large');
    default:
      return new RouterError('invalid_request', `malformed HTTP request (${code ?? 'parse error'})`);
  }
}

export function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  // As node does: answer only if nothing of a response has gone out on this socket yet,
  // else the bytes would corrupt what the client is reading.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code !== 'ECONNRESET' && socket.writable && !inFlight?.headersSent) {
    const e = errorFor(err.code);
    const body = JSON.stringify(e.toJSON());
    socket.write(
      `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
  }
  socket.destroy();
}

/** HTTP/1.1 demands a Host header; node's own check answers a bare 400, so it is off and this answers in JSON. */
export function requireHost(req: RequestHead, res: Answer, next: () => void): void {
  if (req.httpVersion === '1.1' && req.headers.host === undefined) {
    sendError(res, new RouterError('invalid_request', 'an HTTP/1.1 request needs a Host header'));
    return;
  }
  next();
}

/** An `Expect` other than 100-continue (node's own answer is a bare 417). */
export function refuseExpectation(req: IncomingMessage, res: ServerResponse): void {
  const e = new RouterError('expectation_failed', `unsupported Expect: ${String(req.headers.expect)}`);
  const body = JSON.stringify(e.toJSON());
  res.writeHead(e.status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
  res.end(body);
}
