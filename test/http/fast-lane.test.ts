/**
 * The router's server with its fast lane (src/http/server.ts, fast-lane.ts, lane-response.ts), over real sockets: which
 * requests the lane serves and which it hands to node's server (and that node then serves them as always, the bytes
 * read put back), the answers' framing as node's client reads it, keep-alive and close, the lane's timeouts, a client
 * gone mid-answer, backpressure, and server.close().
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { createRouterServer } from '../../src/http/server.js';
import { closeAfterAnswer } from '../../src/http/linger.js';
import type { LaneRequest } from '../../src/http/fast-lane.js';
import type { LaneResponse } from '../../src/http/lane-response.js';

interface Setup {
  server: http.Server;
  port: number;
  /** Answers the lane wrote but held open (the '/hold' path), with whether their 'close' came and how. */
  held: { res: LaneResponse; closed?: { finished: boolean } }[];
  /** The bodies of the requests the lane handed to its handler, in order. */
  served: string[];
  /** Times the '/big' writer was told to wait for 'drain', and the 'drain's it got. */
  flow: { waits: number; drains: number };
  /** The writes the '/burst' answer made on its connection (node's _write and _writev). */
  writes: number[];
}

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function start(timeouts: { keepAliveMs?: number; headersMs?: number } = {}): Promise<Setup> {
  const held: Setup['held'] = [];
  const served: string[] = [];
  const flow = { waits: 0, drains: 0 };
  const writes: number[] = [];
  const node = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ via: 'node', url: req.url, body: Buffer.concat(chunks).toString() }));
    });
  };
  const lane = (req: LaneRequest, res: LaneResponse) => {
    served.push(req.body.toString());
    const path = req.url;
    if (path === '/stream') {
      res.writeHead(200, ['Content-Type', 'text/plain']);
      res.write(Buffer.from('a'));
      res.write(Buffer.from('bc'));
      res.end();
    } else if (path === '/v1/chat/completions') {
      res.setHeader('Content-Type', 'application/json');
      const message = { role: 'assistant', content: `lane ${req.body.length}` };
      res.end(JSON.stringify({ id: 'c', object: 'chat.completion', created: 0, model: 'm', choices: [{ index: 0, message, finish_reason: 'stop' }] }));
    } else if (path === '/linger') {
      // As sendError does for a refused upload: the answer closes the connection, which reads and drops what comes.
      closeAfterAnswer(res);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ via: 'lane', url: path, body: req.body.toString() }));
    } else if (path === '/empty') {
      res.writeHead(204, []);
      res.end();
    } else if (path === '/burst') {
      // A stream's pieces that came in one read from the child: written in one turn.
      const socket = res.socket as net.Socket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
      writes.push(0);
      const write = socket._write;
      const writev = socket._writev;
      socket._write = (...a) => (writes[writes.length - 1]!++, write.apply(socket, a));
      socket._writev = (...a) => (writes[writes.length - 1]!++, writev.apply(socket, a));
      res.writeHead(200, ['Content-Type', 'text/event-stream']);
      for (const piece of ['data: 1\n\n', 'data: 2\n\n', 'data: 3\n\n']) res.write(Buffer.from(piece));
      res.end();
    } else if (path === '/wait') {
      // Nothing written yet: the test answers it.
      held.push({ res });
    } else if (path === '/hold') {
      const h: Setup['held'][number] = { res };
      held.push(h);
      res.on('close', () => (h.closed = { finished: res.writableFinished }));
      res.writeHead(200, ['Content-Type', 'text/plain']);
      res.write(Buffer.from('started'));
    } else if (path === '/big') {
      res.writeHead(200, ['Content-Type', 'application/octet-stream', 'Content-Length', String(32 << 20)]);
      const chunk = Buffer.alloc(1 << 20, 0x61);
      let sent = 0;
      const more = (): void => {
        while (sent < 32) {
          sent++;
          const ok = res.write(chunk);
          if (sent === 32) res.end();
          else if (!ok) {
            flow.waits++;
            return void res.once('drain', () => {
              flow.drains++;
              more();
            });
          }
        }
      };
      more();
    } else {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ via: 'lane', url: path, body: req.body.toString() }));
    }
  };
  const server = createRouterServer(node, { paths: new Set(['/lane', '/stream', '/empty', '/hold', '/wait', '/big', '/linger', '/burst', '/v1/chat/completions']), maxBodyBytes: 1 << 20, handle: lane });
  if (timeouts.keepAliveMs) server.keepAliveTimeout = timeouts.keepAliveMs;
  if (timeouts.headersMs) server.headersTimeout = timeouts.headersMs;
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, held, served, flow, writes };
}

function post(path: string, body = '{"x":1}', extra: string[] = []): string {
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra.map((h) => `${h}\r\n`).join('')}\r\n${body}`;
}

/** A raw connection: what it was sent back so far, and whether it closed. */
class Raw {
  readonly socket: net.Socket;
  text = '';
  closed = false;
  /** `halfOpen`: the connection stays writable after the server's FIN. */
  constructor(port: number, halfOpen = false) {
    this.socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: halfOpen });
    this.socket.on('data', (d: Buffer) => (this.text += d.toString('latin1')));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => undefined);
  }
  async until(what: () => boolean, ms = 5000): Promise<void> {
    const t0 = Date.now();
    while (!what()) {
      if (Date.now() - t0 > ms) throw new Error(`timed out; got ${JSON.stringify(this.text)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  /** The JSON bodies answered so far, in order (answers of the default paths). */
  get answers(): { via: string; url: string; body: string }[] {
    return [...this.text.matchAll(/\r\n\r\n(\{[^\r]*?\})(?=HTTP\/1\.1|$)/g)].map((m) => JSON.parse(m[1]!));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the fast lane', () => {
  it('serves a request that comes whole; one whose body comes in a second read is node\'s, and reads the same', async () => {
    const { port } = await start();
    const a = new Raw(port);
    a.socket.write(post('/lane', '{"model":"m"}'));
    await a.until(() => a.answers.length === 1);
    expect(a.answers[0]).toEqual({ via: 'lane', url: '/lane', body: '{"model":"m"}' });
    expect(a.text).toMatch(/^HTTP\/1\.1 200 OK\r\nContent-Type: application\/json\r\nDate: .+ GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: \d+\r\n\r\n/);

    const b = new Raw(port);
    const whole = post('/lane', '{"model":"m"}');
    b.socket.write(whole.slice(0, -5));
    await sleep(50);
    b.socket.write(whole.slice(-5));
    await b.until(() => b.answers.length === 1);
    expect(b.answers[0]).toEqual({ via: 'node', url: '/lane', body: '{"model":"m"}' });
    a.socket.destroy();
    b.socket.destroy();
  });

  it('gets the JSON POSTs of fetch, node\'s http client and the openai SDK whole: the lane serves them all', async () => {
    const { port, served } = await start();
    const url = `http://127.0.0.1:${port}`;
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    const viaFetch = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const fetched = (await viaFetch.json()) as { choices: { message: { content: string } }[] };
    expect(fetched.choices[0]!.message.content).toBe(`lane ${body.length}`);
    const viaHttp = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(JSON.parse(viaHttp).choices[0].message.content).toBe(`lane ${body.length}`);
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const done = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    expect(done.choices[0]!.message.content).toMatch(/^lane \d+$/);
    expect(served).toHaveLength(3);
  });

  it('keeps a connection for more requests, until one it leaves to node; node serves the rest of it', async () => {
    const { port } = await start();
    const c = new Raw(port);
    c.socket.write(post('/lane', '1'));
    await c.until(() => c.answers.length === 1);
    c.socket.write(post('/lane', '2'));
    await c.until(() => c.answers.length === 2);
    // A header given twice is node's: the connection is handed over with the bytes read, and node reads them.
    c.socket.write(post('/lane', '3', ['X-Twice: a', 'X-Twice: b']));
    await c.until(() => c.answers.length === 3);
    c.socket.write(post('/lane', '4'));
    await c.until(() => c.answers.length === 4);
    expect(c.answers.map((a) => `${a.via} ${a.body}`)).toEqual(['lane 1', 'lane 2', 'node 3', 'node 4']);
    expect(c.closed).toBe(false);
    c.socket.destroy();
  });

  it('leaves pipelined requests to node, which answers each in order', async () => {
    const { port } = await start();
    const c = new Raw(port);
    c.socket.write(post('/lane', 'a') + post('/other', 'b') + post('/lane', 'c'));
    await c.until(() => c.answers.length === 3);
    expect(c.answers.map((a) => `${a.via} ${a.url} ${a.body}`)).toEqual(['node /lane a', 'node /other b', 'node /lane c']);
    c.socket.destroy();
  });

  it.each([
    ['two Content-Lengths', `POST /lane HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab`],
    ['Content-Length and Transfer-Encoding', `POST /lane HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
    ['a bare LF in a header', `POST /lane HTTP/1.1\r\nHost: h\nContent-Length: 1\r\n\r\na`],
  ])('gives node the request it refuses (%s): a 400 in JSON, the connection closed', async (_why, bytes) => {
    const { port } = await start();
    const c = new Raw(port);
    c.socket.write(bytes);
    await c.until(() => c.closed);
    expect(c.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(c.text).toContain('"invalid_request_error"');
    expect(c.text).not.toContain('"via"');
  });

  it('closes the connection after an answer to Connection: close, and says so', async () => {
    const { port } = await start();
    const c = new Raw(port);
    c.socket.write(post('/lane', 'x', ['Connection: close']));
    await c.until(() => c.closed);
    expect(c.answers).toEqual([{ via: 'lane', url: '/lane', body: 'x' }]);
    expect(c.text).toContain('\r\nConnection: close\r\n');
    expect(c.text).not.toContain('Keep-Alive');
  });

  it('serves nothing more on a connection its answer closes, even one left open to drain (linger.ts)', async () => {
    const { port, served } = await start();
    const d = new Raw(port, true);
    d.socket.write(post('/linger', 'x'));
    await d.until(() => d.answers.length === 1);
    expect(d.text).toContain('\r\nConnection: close\r\n');
    // The connection lingers, reading what comes (to drop it); a request among it is not served.
    d.socket.write(post('/lane', 'y'));
    await sleep(200);
    d.socket.end();
    await d.until(() => d.closed);
    expect(d.answers.map((a) => `${a.via} ${a.body}`)).toEqual(['lane x']);
    expect(served).toEqual(['x']);
  });

  it('frames answers as node\'s client reads them: chunked, a length for end(whole), no body for 204', async () => {
    const { port } = await start();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
        const req = http.request({ port, host: '127.0.0.1', path, method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          let body = '';
          res.setEncoding('latin1');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end('{}');
      });
    const stream = await get('/stream');
    expect(stream).toMatchObject({ status: 200, body: 'abc', headers: { 'transfer-encoding': 'chunked', 'content-type': 'text/plain' } });
    const whole = await get('/lane');
    expect(whole.headers['content-length']).toBe(String(Buffer.byteLength(whole.body)));
    expect(JSON.parse(whole.body).via).toBe('lane');
    const empty = await get('/empty');
    expect(empty).toMatchObject({ status: 204, body: '' });
    expect(empty.headers['content-length']).toBeUndefined();
    expect(empty.headers['transfer-encoding']).toBeUndefined();
    // One connection carried all three (each answer framed right, or the next would not have been read).
    expect(await get('/lane')).toMatchObject({ status: 200 });
    agent.destroy();
  });

  it('reads a request sent during an answer after it: a whole one in the lane, a part of one by node', async () => {
    const { port, held, served } = await start();
    const c = new Raw(port);
    c.socket.write(post('/hold', 'first'));
    await c.until(() => held.length === 1);
    c.socket.write(post('/lane', 'second'));
    await sleep(100);
    expect(served).toEqual(['first']);
    held[0]!.res.end();
    await c.until(() => c.answers.length === 1);
    expect(c.answers[0]).toEqual({ via: 'lane', url: '/lane', body: 'second' });
    expect(served).toEqual(['first', 'second']);

    const d = new Raw(port);
    d.socket.write(post('/hold', 'first'));
    await d.until(() => held.length === 2);
    const third = post('/lane', 'third');
    d.socket.write(third.slice(0, 20));
    await sleep(100);
    held[1]!.res.end();
    await sleep(100);
    d.socket.write(third.slice(20));
    await d.until(() => d.answers.length === 1);
    expect(d.answers[0]).toEqual({ via: 'node', url: '/lane', body: 'third' });
    c.socket.destroy();
    d.socket.destroy();
  });

  it('ends an answer whose client ends its side: what was written arrives, the answer is over at once', async () => {
    const { port, held } = await start();
    const c = new Raw(port, true);
    c.socket.write(post('/hold'));
    await c.until(() => c.text.includes('started'));
    c.socket.end();
    await c.until(() => c.closed);
    expect(held[0]!.closed).toEqual({ finished: false });
    expect(held[0]!.res.socket).toBeNull();
    expect(c.text).toContain('started');
  });

  it('sends what an answer writes in one turn in one write: head and three pieces of a stream', async () => {
    const { port, writes } = await start();
    const c = new Raw(port);
    c.socket.write(post('/burst'));
    await c.until(() => c.text.endsWith('0\r\n\r\n'));
    expect(c.text).toMatch(/\r\n\r\n9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n9\r\ndata: 3\n\n\r\n0\r\n\r\n$/);
    expect(writes).toEqual([1]);
    c.socket.destroy();
  });

  it('tells the handler when its client leaves mid-answer: one close, not finished', async () => {
    const { port, held } = await start();
    const c = new Raw(port);
    c.socket.write(post('/hold'));
    await c.until(() => c.text.includes('started'));
    expect(held).toHaveLength(1);
    expect(held[0]!.closed).toBeUndefined();
    c.socket.destroy();
    const t0 = Date.now();
    while (!held[0]!.closed && Date.now() - t0 < 5000) await sleep(10);
    expect(held[0]!.closed).toEqual({ finished: false });
    expect(held[0]!.res.destroyed).toBe(true);
  });

  it('holds a writer back while the client reads nothing, and lets it go on when it reads', async () => {
    const { port, flow } = await start();
    let got = 0;
    const c = net.connect(port, '127.0.0.1');
    c.write(post('/big'));
    c.pause();
    await sleep(300);
    c.on('data', (d: Buffer) => (got += d.length));
    c.resume();
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (got > 32 << 20) {
          clearInterval(t);
          resolve();
        }
      }, 10);
    });
    expect(got).toBeGreaterThan(32 << 20);
    // The writer was held back (write() said false) and let go by 'drain', not buffered 32 MiB at once.
    expect(flow.waits).toBeGreaterThan(0);
    expect(flow.drains).toBe(flow.waits);
    c.destroy();
  });

  it('closes a connection idle between answers after keepAliveTimeout, and one that sends nothing after headersTimeout', async () => {
    const { port } = await start({ keepAliveMs: 300, headersMs: 300 });
    const kept = new Raw(port);
    kept.socket.write(post('/lane'));
    await kept.until(() => kept.answers.length === 1);
    expect(kept.closed).toBe(false);
    await kept.until(() => kept.closed, 3000);
    const silent = new Raw(port);
    await silent.until(() => silent.closed, 3000);
    expect(silent.text).toBe('');
  });

  it('closeIdleConnections() alone leaves the lane on; after server.close() an answer closes its connection', async () => {
    const { server, port, held, served } = await start();
    const idle = new Raw(port);
    idle.socket.write(post('/lane', 'a'));
    await idle.until(() => idle.answers.length === 1);
    server.closeIdleConnections();
    await idle.until(() => idle.closed);
    const next = new Raw(port);
    next.socket.write(post('/lane', 'b'));
    await next.until(() => next.answers.length === 1);
    expect(next.answers[0]!.via).toBe('lane');
    expect(next.text).toContain('Connection: keep-alive');

    const busy = new Raw(port);
    busy.socket.write(post('/wait', 'c'));
    await busy.until(() => held.length === 1);
    next.socket.destroy();
    let closed = false;
    server.close(() => (closed = true));
    held[0]!.res.end('done');
    await busy.until(() => busy.closed);
    expect(busy.text).toContain('\r\nConnection: close\r\n');
    expect(served).toEqual(['a', 'b', 'c']);
    const t0 = Date.now();
    while (!closed && Date.now() - t0 < 5000) await sleep(10);
    expect(closed).toBe(true);
    servers.splice(servers.indexOf(server), 1);
  });

  it('server.close() closes idle lane connections at once; closeAllConnections() the busy ones', async () => {
    const { server, port, held } = await start();
    const idle = new Raw(port);
    idle.socket.write(post('/lane'));
    await idle.until(() => idle.answers.length === 1);
    const busy = new Raw(port);
    busy.socket.write(post('/hold'));
    await busy.until(() => busy.text.includes('started'));
    let closed = false;
    server.close(() => (closed = true));
    await idle.until(() => idle.closed);
    await sleep(50);
    expect(busy.closed).toBe(false);
    expect(closed).toBe(false);
    server.closeAllConnections();
    await busy.until(() => busy.closed);
    const t0 = Date.now();
    while (!closed && Date.now() - t0 < 5000) await sleep(10);
    expect(closed).toBe(true);
    expect(held[0]!.closed).toEqual({ finished: false });
    servers.splice(servers.indexOf(server), 1);
  });
});
