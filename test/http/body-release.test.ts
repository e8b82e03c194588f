/**
 * readBody keeps its state on the request (no closures per request) until the request goes: once the body is
 * read, that state must not still hold the chunks, or every large body is kept twice for as long as it is answered.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from '../../src/http/body.js';

/** The chunk lists hanging on `req` under its symbol-keyed properties (the reader's state). */
function heldChunks(req: http.IncomingMessage): number {
  let n = 0;
  for (const s of Object.getOwnPropertySymbols(req)) {
    const v = (req as unknown as Record<symbol, unknown>)[s] as { chunks?: Buffer[] } | undefined;
    if (v && typeof v === 'object' && Array.isArray(v.chunks)) n += v.chunks.reduce((a, c) => a + c.length, 0);
  }
  return n;
}

test.each([
  ['plain', false],
  ['gzip', true],
])('a %s body of several chunks is not kept on the request once read', async (_name, gzip) => {
  const { gzipSync } = await import('node:zlib');
  let seen: { size: number; held: number; sawReading: boolean } | undefined;
  const server = http.createServer((req, res) => {
    // While it is read, the state is there and holds chunks (so the check below can fail).
    let sawReading = false;
    req.once('data', () => setImmediate(() => (sawReading = heldChunks(req) > 0)));
    void readBody(req, 64 << 20).then((body) => {
      seen = { size: body.length, held: heldChunks(req), sawReading };
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const plain = Buffer.alloc(4 << 20, 'a');
  const sent = gzip ? gzipSync(plain) : plain;
  await new Promise<void>((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', headers: gzip ? { 'content-encoding': 'gzip' } : {} }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    // Several writes, so the body arrives in many chunks.
    for (let i = 0; i < sent.length; i += 64 << 10) req.write(sent.subarray(i, i + (64 << 10)));
    req.end();
  });
  await new Promise<void>((r) => server.close(() => r()));
  expect(seen!.size).toBe(plain.length);
  if (!gzip) expect(seen!.sawReading).toBe(true);
  expect(seen!.held).toBe(0);
});
