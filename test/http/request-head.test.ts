/**
 * The fast lane's reader (src/http/request-head.ts): what it takes, and everything it leaves to node's parser. A case
 * it wrongly took would be served by the lane with a reading node would not share (request smuggling lives there), so
 * each refusal is a row here.
 */
import { readLaneRequest } from '../../src/http/request-head.js';

const rules = { paths: new Set(['/tokenize', '/v1/chat/completions']), maxBodyBytes: 1000 };
const BODY = '{"model":"m","content":"hi"}';

/** A request as clients send it; `head` replaces the header lines, `line` the request line. */
function request(o: { line?: string; head?: string[]; body?: string; extra?: string } = {}): Buffer {
  const body = o.body ?? BODY;
  const head = o.head ?? ['Host: 127.0.0.1:8080', 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`];
  return Buffer.from(`${o.line ?? 'POST /tokenize HTTP/1.1'}\r\n${head.map((h) => `${h}\r\n`).join('')}\r\n${body}${o.extra ?? ''}`, 'latin1');
}

describe('readLaneRequest', () => {
  it('takes a whole POST to a lane path: head, headers by lower-case name, the body as a view', () => {
    const buf = request();
    const r = readLaneRequest(buf, rules)!;
    expect(r).toMatchObject({ method: 'POST', url: '/tokenize', close: false });
    expect(r.rawHeaders).toEqual(['Host', '127.0.0.1:8080', 'Content-Type', 'application/json', 'Content-Length', String(BODY.length)]);
    expect(r.headers).toEqual({ host: '127.0.0.1:8080', 'content-type': 'application/json', 'content-length': String(BODY.length) });
    expect(r.body.toString()).toBe(BODY);
    expect(r.body.buffer).toBe(buf.buffer);
  });

  it('takes a query string, Connection close or keep-alive, values trimmed, an empty body', () => {
    expect(readLaneRequest(request({ line: 'POST /v1/chat/completions?model=m HTTP/1.1' }), rules)?.url).toBe('/v1/chat/completions?model=m');
    expect(readLaneRequest(request({ head: ['Host: h', 'Content-Length: 28', 'Connection: Close'] }), rules)?.close).toBe(true);
    expect(readLaneRequest(request({ head: ['Host: h', 'Content-Length: 28', 'connection: keep-alive'] }), rules)?.close).toBe(false);
    expect(readLaneRequest(request({ head: ['Host:  h \t', 'Content-Length:28'] }), rules)?.headers.host).toBe('h');
    expect(readLaneRequest(request({ head: ['Host: h', 'Content-Length: 0'], body: '' }), rules)?.body.length).toBe(0);
    const most = 'x'.repeat(rules.maxBodyBytes);
    expect(readLaneRequest(request({ head: ['Host: h', `Content-Length: ${most.length}`], body: most }), rules)?.body.length).toBe(most.length);
    const fields = Array.from({ length: 62 }, (_, i) => `X-${i}: ${i}`);
    expect(readLaneRequest(request({ head: ['Host: h', 'Content-Length: 28', ...fields] }), rules)?.rawHeaders).toHaveLength(128);
  });

  const left: [string, Buffer][] = [
    ['no end of head yet', Buffer.from('POST /tokenize HTTP/1.1\r\nHost: h\r\nContent-Length: 28\r\n')],
    ['a body still coming', request({ body: BODY }).subarray(0, -3)],
    ['a second request behind the first (pipelining)', request({ extra: request().toString('latin1') })],
    ['a byte after the body', request({ extra: '\r\n' })],
    ['HTTP/1.0', request({ line: 'POST /tokenize HTTP/1.0' })],
    ['another method', request({ line: 'PUT /tokenize HTTP/1.1' })],
    ['a path the lane does not serve', request({ line: 'POST /models/load HTTP/1.1' })],
    ['a trailing slash', request({ line: 'POST /tokenize/ HTTP/1.1' })],
    ['absolute form', request({ line: 'POST http://h/tokenize HTTP/1.1' })],
    ['two spaces in the request line', request({ line: 'POST  /tokenize HTTP/1.1' })],
    ['a space in the target', request({ line: 'POST /tok enize HTTP/1.1' })],
    ['a fragment', request({ line: 'POST /tokenize#x HTTP/1.1' })],
    ['no Host', request({ head: ['Content-Length: 28'] })],
    ['no Content-Length', request({ head: ['Host: h'], body: '' })],
    ['two Content-Lengths', request({ head: ['Host: h', 'Content-Length: 28', 'Content-Length: 28'] })],
    ['two Hosts', request({ head: ['Host: h', 'Host: evil', 'Content-Length: 28'] })],
    ['a Content-Length that is not digits', request({ head: ['Host: h', 'Content-Length: +28'] })],
    ['a Content-Length in hex', request({ head: ['Host: h', 'Content-Length: 0x1c'] })],
    ['Content-Length and Transfer-Encoding', request({ head: ['Host: h', 'Content-Length: 28', 'Transfer-Encoding: chunked'] })],
    ['Transfer-Encoding', request({ head: ['Host: h', 'Transfer-Encoding: chunked'], body: '1c\r\n' + BODY + '\r\n0\r\n\r\n' })],
    ['Expect', request({ head: ['Host: h', 'Content-Length: 28', 'Expect: 100-continue'] })],
    ['Upgrade', request({ head: ['Host: h', 'Content-Length: 28', 'Upgrade: websocket'] })],
    ['Content-Encoding', request({ head: ['Host: h', 'Content-Length: 28', 'Content-Encoding: gzip'] })],
    ['Connection: upgrade', request({ head: ['Host: h', 'Content-Length: 28', 'Connection: upgrade'] })],
    ['Connection with two tokens', request({ head: ['Host: h', 'Content-Length: 28', 'Connection: keep-alive, te'] })],
    ['a folded header (obs-fold)', request({ head: ['Host: h', 'Content-Length: 28', 'X-A: a', ' b'] })],
    ['a space before the colon', request({ head: ['Host : h', 'Content-Length: 28'] })],
    ['a line without a colon', request({ head: ['Host: h', 'Content-Length: 28', 'junk'] })],
    ['a name that is not a token', request({ head: ['Host: h', 'Content-Length: 28', 'X(A): 1'] })],
    ['a bare LF in a value', request({ head: ['Host: h', 'Content-Length: 28', 'X-A: a\nContent-Length: 5'] })],
    ['a bare CR in a value', request({ head: ['Host: h', 'Content-Length: 28', 'X-A: a\rb'] })],
    ['a NUL in a value', request({ head: ['Host: h', 'Content-Length: 28', 'X-A: a\0b'] })],
    ['a byte over 0x7F in a value', request({ head: ['Host: h', 'Content-Length: 28', 'X-A: caf\xe9'] })],
    ['a body over the limit', request({ head: ['Host: h', 'Content-Length: 1001'], body: 'x'.repeat(1001) })],
    ['a head over 8 KiB', request({ head: ['Host: h', 'Content-Length: 28', `X-A: ${'a'.repeat(8 * 1024)}`] })],
    ['more than 64 header lines', request({ head: ['Host: h', 'Content-Length: 28', ...Array.from({ length: 63 }, (_, i) => `X-${i}: ${i}`)] })],
    ['a header named __proto__', request({ head: ['Host: h', 'Content-Length: 28', '__proto__: x'] })],
    ['a header named constructor', request({ head: ['Host: h', 'Content-Length: 28', 'constructor: x'] })],
  ];
  it.each(left)('leaves to node: %s', (_why, buf) => {
    expect(readLaneRequest(buf, rules)).toBeUndefined();
  });
});
