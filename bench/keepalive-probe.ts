/**
 * Does a server keep a connection it says it keeps? One POST with `Connection: keep-alive` on a raw socket: the
 * answer's Connection and Keep-Alive headers, and whether (and how soon after the answer) the server closed the
 * connection. The proxy benchmark probes llama.cpp's router and ours with it (its notes), because the
 * CPU-per-request comparison depends on it; run alone it probes both on a generated model:
 *
 *   LLAMA_SERVER=/path/to/llama-server node dist/bench/keepalive-probe.js
 */
import net from 'node:net';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { makeTinyModel } from '../src/gguf/tiny-model.js';
import { startCommand, startRouter, stopAll, untilHealthy, waitFor } from './processes.js';

export interface KeepAliveProbe {
  status?: number;
  /** The answer's Connection and Keep-Alive headers (undefined: none). */
  connection?: string;
  keepAlive?: string;
  /** ms from the answer's last byte to the server closing the connection; undefined: open after the wait. */
  closedAfterMs?: number;
}

/** POST `body` to `url` on a new connection asking to keep it, then wait `waitMs` after the answer. */
export function probeKeepAlive(url: string, body: string, waitMs = 500): Promise<KeepAliveProbe> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname);
    let buf = Buffer.alloc(0);
    let head: string | undefined;
    let answeredAt: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    const result: KeepAliveProbe = {};
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(result);
    };
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (head === undefined && end >= 0) {
        head = buf.toString('latin1', 0, end);
        result.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
        result.connection = /\r\nconnection:[ \t]*([^\r]*)/i.exec(head)?.[1];
        result.keepAlive = /\r\nkeep-alive:[ \t]*([^\r]*)/i.exec(head)?.[1];
      }
      if (head === undefined || answeredAt !== undefined) return;
      const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head)?.[1];
      const whole = length !== undefined ? buf.length >= end + 4 + Number(length) : buf.subarray(end + 4).includes('0\r\n\r\n');
      if (!whole) return;
      answeredAt = performance.now();
      timer = setTimeout(done, waitMs);
    });
    s.on('close', () => {
      if (answeredAt === undefined) return reject(new Error(`${url}: the connection closed before a whole answer`));
      result.closedAfterMs = performance.now() - answeredAt;
      done();
    });
    s.on('error', () => {}); // 'close' follows
    s.write(
      `POST ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });
}

/** One line: what the answer said and what the server did. */
export function describeProbe(p: KeepAliveProbe, waitMs = 500): string {
  const said = `Connection: ${p.connection ?? '(none)'}, Keep-Alive: ${p.keepAlive ?? '(none)'}`;
  return p.closedAfterMs === undefined
    ? `status ${p.status}, ${said}; the connection was still open ${waitMs} ms after the answer`
    : `status ${p.status}, ${said}; it closed the connection ${p.closedAfterMs.toFixed(0)} ms after the answer`;
}

async function main(): Promise<void> {
  const llamaServer = process.env.LLAMA_SERVER;
  if (!llamaServer) {
    process.stderr.write('usage: LLAMA_SERVER=/path/to/llama-server keepalive-probe\n');
    process.exit(2);
  }
  const dir = mkdtempSync(join(tmpdir(), 'keepalive-probe-'));
  try {
    mkdirSync(join(dir, 'models'));
    await makeTinyModel(join(dir, 'models', 'tiny.gguf'), {});
    const common = ['--models-dir', join(dir, 'models'), '--models-max', '1'];
    const peer = await startCommand(llamaServer, [...common, '--host', '127.0.0.1', '--port', '${PORT}', '-c', '512', '-np', '1', '-t', '1', '--no-webui']);
    await untilHealthy(peer, 30_000);
    const ours = await startRouter([...common, '--server-bin', llamaServer, '--models-memory-margin', '0']);
    const body = JSON.stringify({ model: 'tiny', content: 'Hello' });
    for (const [name, url] of [["llama.cpp's router", peer.url], ['our router', ours.url]] as const) {
      // The first request loads the model.
      await waitFor(`${name} loading tiny`, async () => (await probeKeepAlive(`${url}/tokenize`, body, 0)).status === 200, 60_000, 200);
      for (let i = 0; i < 3; i++) console.log(`${name}: ${describeProbe(await probeKeepAlive(`${url}/tokenize`, body))}`);
    }
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
