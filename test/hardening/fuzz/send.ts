/**
 * Sending the fuzz cases: real HTTP through node:http for what its client can express, a bare
 * socket for the rest. Each returns what came back, and `verdict` says what is wrong with it.
 */
import http from 'node:http';
import net from 'node:net';
import type { Expect, HttpCase, RawCase } from './cases.js';

export interface Answer {
  status: number;
  contentType: string;
  body: string;
}

/** Longest a single case may take before it counts as a hang. */
const CASE_TIMEOUT_MS = 60_000;

export function sendHttp(base: URL, c: HttpCase, agent: http.Agent): Promise<Answer | 'aborted'> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...c.headers };
    if (c.chunked) headers['transfer-encoding'] = 'chunked';
    const req = http.request({ host: base.hostname, port: base.port, method: c.method, path: c.path, headers, agent });
    const timer = setTimeout(() => req.destroy(new Error(`no answer in ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      if (c.expect === 'abort') {
        clearTimeout(timer);
        req.on('error', () => undefined);
        req.destroy();
        resolve('aborted');
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    const body = c.body ?? Buffer.alloc(0);
    if (c.chunked && body.length > 1) {
      const half = Math.floor(body.length / 2);
      req.write(body.subarray(0, half));
      req.end(body.subarray(half));
    } else {
      req.end(body);
    }
  });
}

/**
 * Write raw bytes and read until the server closes the socket. The responses are split off
 * by Content-Length (every answer these requests get carries one).
 */
export function sendRaw(port: number, c: RawCase): Promise<{ answers: Answer[]; closed: boolean; rest: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, CASE_TIMEOUT_MS);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const { answers, rest } = splitResponses(Buffer.concat(chunks).toString('latin1'));
      resolve({ answers, closed: !timedOut, rest });
    });
    socket.on('end', () => {
      // The server closed its side: we are done too.
      socket.end();
    });
    socket.write(c.bytes);
    if (c.end) socket.end();
  });
}

export function splitResponses(text: string): { answers: Answer[]; rest: string } {
  const answers: Answer[] = [];
  let rest = text;
  for (;;) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd === -1) break;
    const head = rest.slice(0, headEnd);
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (!status) break;
    const headers = new Map<string, string>();
    for (const line of head.split('\r\n').slice(1)) {
      const i = line.indexOf(':');
      headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    const code = Number(status[1]);
    if (code === 100) {
      rest = rest.slice(headEnd + 4);
      continue;
    }
    // latin1 text: one char per byte, so Content-Length counts chars here.
    const len = Number(headers.get('content-length') ?? 0);
    const body = rest.slice(headEnd + 4, headEnd + 4 + len);
    answers.push({ status: code, contentType: headers.get('content-type') ?? '', body: Buffer.from(body, 'latin1').toString('utf8') });
    rest = rest.slice(headEnd + 4 + len);
  }
  return { answers, rest };
}

/** What is wrong with an answer given what the case expects (undefined: nothing). */
export function verdict(expect: Expect, method: string, a: Answer): string | undefined {
  if (expect === 'ok') return a.status === 200 ? undefined : `expected 200, got ${a.status} ${a.body.slice(0, 300)}`;
  if (a.status < 400 || a.status > 499) return `expected a 4xx, got ${a.status} ${a.body.slice(0, 300)}`;
  if (!a.contentType.startsWith('application/json')) return `error with content-type '${a.contentType}': ${a.body.slice(0, 300)}`;
  if (method === 'HEAD') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(a.body);
  } catch {
    return `error body is not JSON: ${a.body.slice(0, 300)}`;
  }
  const e = (parsed as { error?: Record<string, unknown> } | null)?.error;
  if (!e || typeof e.message !== 'string' || !e.message || typeof e.type !== 'string' || !e.type) {
    return `not an OpenAI error: ${a.body.slice(0, 300)}`;
  }
  // The router's codes are strings; llama-server's own refusals (and the bundled engine's, which copies them) carry the status number.
  if (typeof e.code !== 'string' && e.code !== a.status) return `bad error code ${JSON.stringify(e.code)}: ${a.body.slice(0, 300)}`;
  return undefined;
}
