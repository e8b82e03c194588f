/**
 * A model whose file was deleted after the router started: a clear error naming the path, no child spawned for
 * it, and (as every 503 of the router) a Retry-After. Put back, it loads on the next request.
 */
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { chat, json, models, serversOf, startRouter, waitFor } from '../helpers/router.js';
import { modelsDir } from '../router/fixtures.js';

test('a deleted model file: 503 naming the file with Retry-After, no spawn; restored, it serves', async () => {
  const dir = await modelsDir(['alpha']);
  const file = join(dir, 'alpha.gguf');
  const r = await startRouter(['--models-dir', dir]);
  try {
    renameSync(file, `${file}.moved`);
    for (const send of [() => chat(r.url, 'alpha'), () => fetch(`${r.url}/models/load`, { method: 'POST', body: JSON.stringify({ model: 'alpha' }) })]) {
      const res = await send();
      expect(res.status).toBe(503);
      // A fresh load failure says when to come back, like the backoff 503s.
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const e = (await json(res)).error;
      expect(e).toEqual({ message: expect.stringContaining(`${file} is gone`), type: 'server_error', code: expect.stringMatching(/^model_(load_failed|backoff)$/) });
    }
    // Nothing was started for it: no child, no load event, no exit code.
    expect(serversOf(r, dir)).toEqual([]);
    const entry = (await models(r.url))[0];
    expect([entry.status.value, entry.status.failed, entry.status.exit_code]).toEqual(['unloaded', true, null]);
    expect(r.logs().some((l) => /failed to start/.test(String(l.msg)))).toBe(false);

    renameSync(`${file}.moved`, file);
    // The second failure backs off (1 s): until then a request is refused with model_backoff; after it the model
    // loads. Retrying on model_backoff waits out the backoff without guessing its length.
    const ok = await waitFor('the backoff to end', async () => {
      const res = await chat(r.url, 'alpha');
      if (res.status === 503 && (await json(res)).error.code === 'model_backoff') return undefined;
      return res;
    });
    expect(ok.status).toBe(200);
    await ok.text();
  } finally {
    expect(await r.stop()).toBe(0);
  }
}, 60_000);
