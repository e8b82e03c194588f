/**
 * Clients that send `Connection: close` (node http without an agent, many scripts) back to back, through the
 * router to the bundled engine. That header is about the client's socket to the router; forwarded to the
 * child over the router's kept-alive socket it made the child close that socket after answering while the
 * router pooled it, and the next request on it got node's bare 400 (no body, never in the engine's log).
 */
import http from 'node:http';
import { processesMentioning, startRouter, type RunningRouter } from '../helpers/router.js';
import { modelsDir } from './fixtures.js';

/** One POST on a fresh socket with `Connection: close`; the status and the whole body. */
function closingPost(url: string, body: unknown): Promise<{ status: number; text: string }> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}/v1/chat/completions`,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), connection: 'close' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

describe('Connection: close clients, back to back', () => {
  let r: RunningRouter;
  let dir: string;

  beforeAll(async () => {
    dir = await modelsDir(['tiny']);
    r = await startRouter(['--models-dir', dir, '--models-memory-margin', '0']);
  });
  afterAll(async () => {
    expect(await r.stop()).toBe(0);
    expect(processesMentioning(dir)).toEqual([]);
  });

  test('every streamed request is answered by the engine', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await closingPost(r.url, { model: 'tiny', messages: [{ role: 'user', content: `Hi ${i}` }], max_tokens: 2, stream: true });
      expect({ i, status: res.status, text: res.text.slice(0, 200) }).toMatchObject({ i, status: 200 });
      expect(res.text).toContain('data: [DONE]');
    }
  }, 120_000);

  test('every JSON request is answered by the engine', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await closingPost(r.url, { model: 'tiny', messages: [{ role: 'user', content: `Hi ${i}` }], max_tokens: 2 });
      expect({ i, status: res.status, text: res.text.slice(0, 200) }).toMatchObject({ i, status: 200 });
      expect(JSON.parse(res.text)).toMatchObject({ object: 'chat.completion' });
    }
  }, 120_000);
});
