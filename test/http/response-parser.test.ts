/**
 * The proxy's HTTP/1.1 response parser (src/http/response-parser.ts), table-tested: every answer is also fed one
 * byte at a time and in two pieces split at every offset, and must read the same.
 */
import { ResponseParser, type ResponseHead } from '../../src/http/response-parser.js';

interface Read {
  head?: ResponseHead;
  body: string;
  /** onComplete's `extra`, or undefined while the answer is not whole. */
  complete?: boolean;
  completions: number;
}

function parse(pieces: Buffer[], opts: { head?: boolean; close?: boolean } = {}): Read & { closed?: boolean } {
  const r: Read & { closed?: boolean } = { body: '', completions: 0 };
  const p = new ResponseParser(
    {
      onHead: (h) => (r.head = h),
      onBody: (b) => (r.body += b.toString('latin1')),
      onComplete: (extra) => {
        r.complete = extra;
        r.completions++;
      },
    },
    opts.head,
  );
  for (const piece of pieces) p.feed(piece);
  if (opts.close) r.closed = p.close();
  return r;
}

/** The same answer read whole, byte by byte and split in two at every offset: each must read as whole does. */
function readAllWays(text: string, opts: { head?: boolean; close?: boolean } = {}): Read & { closed?: boolean } {
  const bytes = Buffer.from(text, 'latin1');
  const whole = parse([bytes], opts);
  expect(parse([...bytes].map((b) => Buffer.from([b])), opts)).toEqual(whole);
  for (let i = 1; i < bytes.length; i++) expect(parse([bytes.subarray(0, i), bytes.subarray(i)], opts)).toEqual(whole);
  return whole;
}

const ok = 'HTTP/1.1 200 OK\r\n';

test.each([
  ['Content-Length', `${ok}Content-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}`, '{"ok":true}', true],
  ['zero length', `${ok}Content-Length: 0\r\n\r\n`, '', true],
  ['chunked', `${ok}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n`, 'hello, world', true],
  ['chunked, upper-case hex, extensions, trailers', `${ok}transfer-encoding: gzip, chunked\r\n\r\nA;x=1\r\n0123456789\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n`, '0123456789', true],
  ['interim 100 and 103 answers skipped', `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n${ok}Content-Length: 2\r\n\r\nok`, 'ok', true],
  ['204 has no body', 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n', '', true],
  ['Connection: close', `${ok}Connection: close\r\nContent-Length: 2\r\n\r\nok`, 'ok', false],
  ['a close among other tokens', `${ok}Connection: Upgrade, Close\r\nContent-Length: 2\r\n\r\nok`, 'ok', false],
  ['HTTP/1.0 closes by default', 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok', 'ok', false],
  ['HTTP/1.0 with Connection: keep-alive', 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok', 'ok', true],
  ['a status line without a reason', 'HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok', 'ok', true],
])('%s', (_name, text, body, keepAlive) => {
  const r = readAllWays(text);
  expect(r.body).toBe(body);
  expect(r.complete).toBe(false);
  expect(r.completions).toBe(1);
  expect(r.head!.keepAlive).toBe(keepAlive);
});

test('the head: status, names as sent, values trimmed of their white space, in order', () => {
  const r = readAllWays('HTTP/1.1 404 Not Found\r\nX-A:  one \r\nx-b:\ttwo\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n');
  expect(r.head).toEqual({ status: 404, version: '1.1', rawHeaders: ['X-A', 'one', 'x-b', 'two', 'X-Empty', '', 'Content-Length', '0'], keepAlive: true });
});

test('an answer to HEAD has no body whatever its length says', () => {
  const r = readAllWays(`${ok}Content-Length: 100\r\n\r\n`, { head: true });
  expect([r.body, r.complete]).toEqual(['', false]);
});

test('a body with neither length nor chunks runs to the connection\'s end, which ends it; the connection is not kept', () => {
  const r = readAllWays(`${ok}Content-Type: text/plain\r\n\r\nall of it`, { close: true });
  expect([r.body, r.complete, r.closed, r.head!.keepAlive]).toEqual(['all of it', false, true, false]);
  // So does an encoding other than chunked last.
  const gz = readAllWays(`${ok}Transfer-Encoding: gzip\r\n\r\nzz`, { close: true });
  expect([gz.body, gz.closed, gz.head!.keepAlive]).toEqual(['zz', true, false]);
});

test('a connection that ends mid-answer did not end it', () => {
  expect(parse([Buffer.from(`${ok}Content-Length: 10\r\n\r\nabc`)], { close: true })).toMatchObject({ body: 'abc', closed: false, completions: 0 });
  expect(parse([Buffer.from(`${ok}Transfer-Encoding: chunked\r\n\r\n5\r\nab`)], { close: true })).toMatchObject({ closed: false, completions: 0 });
  const cut = parse([Buffer.from(`${ok}Content-Le`)], { close: true });
  expect([cut.head, cut.closed]).toEqual([undefined, false]);
});

test('bytes after the answer are reported (its connection is not to be reused), and nothing is read past its end', () => {
  const r = parse([Buffer.from(`${ok}Content-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n`)]);
  expect([r.body, r.complete, r.completions]).toEqual(['ok', true, 1]);
  const later = parse([Buffer.from(`${ok}Content-Length: 2\r\n\r\nok`), Buffer.from('more')]);
  expect([later.body, later.complete, later.completions]).toEqual(['ok', false, 1]);
});

test('a body piece is a view of the bytes fed (no copy) when it is the whole of them', () => {
  const pieces: Buffer[] = [];
  const p = new ResponseParser({ onHead: () => {}, onBody: (b) => pieces.push(b), onComplete: () => {} });
  p.feed(Buffer.from(`${ok}Content-Length: 8\r\n\r\n`));
  const data = Buffer.from('12345678');
  p.feed(data);
  expect(pieces[0]).toBe(data);
});

test('`started` says whether any byte of answer came (a request may be sent again only before)', () => {
  const p = new ResponseParser({ onHead: () => {}, onBody: () => {}, onComplete: () => {} });
  expect(p.started).toBe(false);
  p.feed(Buffer.from('H'));
  expect(p.started).toBe(true);
});

test.each([
  ['a bad status line', 'HTTP/2 200 OK\r\n\r\n', /bad status line/],
  ['a status line that is not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n', /bad status line/],
  ['a folded header line', `${ok}X-A: one\r\n two\r\nContent-Length: 0\r\n\r\n`, /bad header line/],
  ['a header line without a colon', `${ok}Nonsense\r\n\r\n`, /bad header line/],
  ['space before the colon', `${ok}Content-Length : 2\r\n\r\nok`, /bad header line/],
  ['a Content-Length that is not a number', `${ok}Content-Length: 2x\r\n\r\n`, /not a number/],
  ['two different Content-Lengths', `${ok}Content-Length: 2\r\nContent-Length: 3\r\n\r\nok`, /two Content-Lengths/],
  ['the same Content-Length twice (llhttp refuses it; a client would, sent on)', `${ok}Content-Length: 2\r\nContent-Length: 2\r\n\r\nok`, /two Content-Lengths/],
  ['Content-Length beside Transfer-Encoding (request smuggling\'s ambiguity)', `${ok}Content-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n`, /both Content-Length and Transfer-Encoding/],
  ['a header name that is not a token', `${ok}X(y): 1\r\nContent-Length: 0\r\n\r\n`, /bad header line/],
  ['a control character in a value', `${ok}X-A: a\x01b\r\nContent-Length: 0\r\n\r\n`, /bad header line/],
  ['a bare LF inside the head', `${ok}X-A: a\nX-B: b\r\nContent-Length: 0\r\n\r\n`, /bad header line/],
  ['a status under 100', 'HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n', /bad status line/],
  ['a bad chunk size', `${ok}Transfer-Encoding: chunked\r\n\r\nzz\r\n`, /chunk-size line/],
  ['chunk data not followed by CRLF', `${ok}Transfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n`, /not followed by CRLF/],
])('refused: %s', (_name, text, message) => {
  expect(() => parse([Buffer.from(text, 'latin1')])).toThrow(message);
  const bytes = Buffer.from(text, 'latin1');
  expect(() => parse([...bytes].map((b) => Buffer.from([b])))).toThrow(message);
});

test('a head over 16 KiB (node\'s limit) is refused, whole or in pieces; one just under is read, whole or in pieces', () => {
  const big = `${ok}X-Big: ${'a'.repeat(16 * 1024)}\r\nContent-Length: 0\r\n\r\n`;
  expect(() => parse([Buffer.from(big)])).toThrow(/over 16384 bytes/);
  const pieces = (text: string, n: number) => {
    const out: Buffer[] = [];
    for (let i = 0; i < text.length; i += n) out.push(Buffer.from(text.slice(i, i + n)));
    return out;
  };
  expect(() => parse(pieces(big, 1000))).toThrow(/over 16384 bytes/);
  const fits = `${ok}X-Big: ${'a'.repeat(16 * 1024 - 100)}\r\nContent-Length: 2\r\n\r\nok`;
  expect(parse([Buffer.from(fits)]).body).toBe('ok');
  expect(parse(pieces(fits, 1000)).body).toBe('ok');
  expect(parse(pieces(fits, 7)).head!.rawHeaders[1]).toHaveLength(16 * 1024 - 100);
  // A head of exactly the limit (without its CRLF CRLF), split anywhere in its last bytes or fed a byte at a time.
  const prefix = `${ok}Content-Length: 2\r\nX-Big: `;
  const exact = Buffer.from(`${prefix}${'a'.repeat(16 * 1024 - prefix.length)}\r\n\r\nok`);
  expect(exact.indexOf('\r\n\r\n')).toBe(16 * 1024);
  for (let cut = exact.length - 12; cut < exact.length; cut++) expect(parse([exact.subarray(0, cut), exact.subarray(cut)]).body).toBe('ok');
  expect(parse([...exact].map((b) => Buffer.from([b]))).body).toBe('ok');
  const over = Buffer.from(`${prefix}${'a'.repeat(16 * 1024 - prefix.length + 1)}\r\n\r\nok`);
  for (let cut = over.length - 12; cut <= over.length; cut++) {
    expect(() => parse([over.subarray(0, cut), over.subarray(cut)])).toThrow(/over 16384 bytes/);
  }
});

test.each([
  ['Content-Length beside Transfer-Encoding on a 204', 'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n', {}, /both Content-Length/],
  ['a bad Content-Length on a 304', 'HTTP/1.1 304 Not Modified\r\nContent-Length: abc\r\n\r\n', {}, /not a number/],
  ['two Content-Lengths on an answer to HEAD', `${ok}Content-Length: 5\r\nContent-Length: 7\r\n\r\n`, { head: true }, /two Content-Lengths/],
])('refused, though the answer has no body (its headers still reach the client): %s', (_name, text, opts, message) => {
  expect(() => parse([Buffer.from(text, 'latin1')], opts)).toThrow(message);
});

test('101 Switching Protocols is refused (the router never asks to upgrade), and so is an endless run of interim answers', () => {
  expect(() => parse([Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n${ok}Content-Length: 0\r\n\r\n`)])).toThrow(/switched protocols/);
  const interim = 'HTTP/1.1 100 Continue\r\n\r\n';
  expect(parse([Buffer.from(`${interim.repeat(8)}${ok}Content-Length: 2\r\n\r\nok`)]).body).toBe('ok');
  expect(() => parse([Buffer.from(`${interim.repeat(9)}${ok}Content-Length: 2\r\n\r\nok`)])).toThrow(/more than 8 interim/);
});

test('trailers: each line checked as a header line, a bare LF refused, at most 16 KiB; only an empty line ends them', () => {
  const chunked = `${ok}Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n`;
  // A two-byte line that is not CRLF does not end the answer (it did: the rest then met the next request).
  expect(() => parse([Buffer.from(`${chunked}a\nX: y\r\n\r\n`)])).toThrow(/bare LF/);
  expect(() => parse([Buffer.from(`${chunked}Nonsense\r\n\r\n`)])).toThrow(/bad header line/);
  expect(() => parse([Buffer.from(`${chunked}X-T: a\x01\r\n\r\n`, 'latin1')])).toThrow(/bad header line/);
  expect(() => parse([Buffer.from(`${chunked}\n`)])).toThrow(/bare LF/);
  const many = Array.from({ length: 20 }, (_, i) => `X-T${i}: ${'v'.repeat(1000)}\r\n`).join('');
  expect(() => parse([Buffer.from(`${chunked}${many}\r\n`)])).toThrow(/trailers are over 16384 bytes/);
  expect(() => parse([...Buffer.from(`${chunked}${many}\r\n`)].map((b) => Buffer.from([b])))).toThrow(/trailers are over 16384 bytes/);
});

test('HTTP/1.0 with Transfer-Encoding: read, but its connection is not kept (RFC 9112 6.1: faulty framing)', () => {
  const r = readAllWays('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n');
  expect([r.body, r.head!.keepAlive]).toEqual(['hi', false]);
  // An answer without a body too.
  const head = readAllWays('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n', { head: true });
  expect([head.complete, head.head!.keepAlive]).toEqual([false, false]);
});

test('Connection tokens split by a tab are read as tokens', () => {
  expect(parse([Buffer.from(`${ok}Connection: keep-alive,\tclose\r\nContent-Length: 0\r\n\r\n`)]).head!.keepAlive).toBe(false);
});

test('a head with bare LF line ends is refused as soon as its blank line comes, not at a timeout', () => {
  expect(() => parse([Buffer.from('HTTP/1.1 200 OK\nContent-Length: 2\n\nok')])).toThrow(/bare LF/);
});

test('values lose spaces and tabs at their ends only (0xA0 is part of a value)', () => {
  const r = parse([Buffer.from(`${ok}X-A: \xa0a\xa0\t\r\nContent-Length: 0\r\n\r\n`, 'latin1')]);
  expect(r.head!.rawHeaders.slice(0, 2)).toEqual(['X-A', '\xa0a\xa0']);
});

test('an endless chunk-size line is refused', () => {
  expect(() => parse([Buffer.from(`${ok}Transfer-Encoding: chunked\r\n\r\n`), Buffer.from('1'.repeat(5000))])).toThrow(/too long/);
});
