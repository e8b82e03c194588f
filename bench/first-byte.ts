/** One chat request timed to the first byte of its body (the first SSE chunk when streaming). */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export function firstByte(url: string, model: string, opts: { stream?: boolean; maxTokens?: number } = {}): Promise<number> {
  const body = JSON.stringify({
    model,
    messages: [{ role: 'user', content: 'Hi' }],
    max_tokens: opts.maxTokens ?? 1,
    stream: opts.stream ?? true,
  });
  const u = new URL('/v1/chat/completions', url);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let first: number | undefined;
        let text = '';
        res.on('data', (d: Buffer) => {
          first ??= performance.now() - started;
          if (text.length < 500) text += d.toString();
        });
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}: ${text.slice(0, 300)}`));
          else resolve(first ?? performance.now() - started);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
