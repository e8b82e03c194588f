/**
 * A child about to stop first loses the router's idle kept-alive connection to it (src/http/app.ts: the 'unload' and
 * 'eviction' events call ModelProxy.dropIdle): llama-server checks an open keep-alive connection for shutdown only
 * every 10 ms, which delayed every model swap. test/http/drop-idle.test.ts covers dropIdle itself; this, that the
 * router calls it before the child is signalled.
 */
import { join } from 'node:path';
import { chat, json, processesMentioning, ROOT, startRouter, waitFor } from '../helpers/router.js';
import { modelsDir, presetFile } from './fixtures.js';

const FAKE = join(ROOT, 'test', 'fixtures', 'fake-server.mjs');

test("unloading a model closes the router's idle connection to its child before the child gets SIGTERM", async () => {
  const dir = await modelsDir([]);
  const preset = presetFile(dir, `[fake]\ncmd = ${process.execPath} ${FAKE} --port \${PORT} --log-connections --tag ${dir}\n`);
  const r = await startRouter(['--models-preset', preset]);
  try {
    // The fake answers 404 on a kept-alive connection, which the router keeps in its pool.
    const res = await chat(r.url, 'fake');
    expect(res.status).toBe(404);
    await res.text();
    const unload = await fetch(`${r.url}/models/unload`, { method: 'POST', body: JSON.stringify({ model: 'fake' }) });
    expect(unload.status).toBe(200);
    const lines = await waitFor('the child\'s SIGTERM line', async () => {
      const { lines } = (await json(await fetch(`${r.url}/logs/fake?format=json`))) as { lines: string[] };
      return lines.some((l) => l.includes('got SIGTERM')) ? lines : undefined;
    });
    const closed = lines.findIndex((l) => l.includes('connection closed after POST /v1/chat/completions'));
    const term = lines.findIndex((l) => l.includes('got SIGTERM'));
    expect(closed).toBeGreaterThanOrEqual(0);
    expect(closed).toBeLessThan(term);
  } finally {
    expect(await r.stop()).toBe(0);
  }
  expect(processesMentioning(dir)).toEqual([]);
}, 30_000);
