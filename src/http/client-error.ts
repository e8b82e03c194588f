/**
 * Requests node's HTTP parser refuses before express sees them: bad framing, oversized
 * headers, headers trickled past `headersTimeout` (slowloris). Node's own answer is a bare
 * status line; ours is the same status with OpenAI error JSON, then the socket is closed.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { RouterError } from './errors.js';

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
