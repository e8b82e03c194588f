/**
 * Calls on a running router's HTTP API that many tests make: a checked answer, a load and an unload, a request
 * that holds one of a model's slots, one model's /models entry.
 */
import { chat, json, models, statusOf } from './router.js';
import { waitFor } from './wait.js';

/** A long generation: keeps one of its model's slots busy until the client aborts it. */
export const LONG = { stream: true, ignore_eos: true, max_tokens: 100000 };

/** The JSON body of a 200; anything else throws with its status and body. */
export async function ok(res: Response): Promise<any> {
  const body = await json(res);
  if (res.status !== 200) throw new Error(`${res.status}: ${JSON.stringify(body)}`);
  return body;
}

/** ok() for a chat completion: also checks it carries a message. */
export async function completion(res: Response): Promise<any> {
  const body = await ok(res);
  expect(body.choices[0].message.content).toEqual(expect.any(String));
  return body;
}

function post(url: string, path: string, model: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model }) });
}

/** POST /models/load; throws unless it answers 200 (the model is loaded then). */
export async function loadModel(url: string, model: string, headers: Record<string, string> = {}): Promise<any> {
  const res = await post(url, '/models/load', model, headers);
  if (res.status !== 200) throw new Error(`load ${model}: ${res.status} ${await res.text()}`);
  return json(res);
}

/** POST /models/unload; throws unless it answers 200 (the model's child is gone then). */
export async function unloadModel(url: string, model: string, headers: Record<string, string> = {}): Promise<any> {
  const res = await post(url, '/models/unload', model, headers);
  if (res.status !== 200) throw new Error(`unload ${model}: ${res.status} ${await res.text()}`);
  return json(res);
}

/**
 * POST /models/load whatever it answers, then wait until /models says loaded: a short --queue-timeout may answer
 * the POST 503 before a slow machine finishes loading, and the load itself goes on.
 */
export async function loadEventually(url: string, model: string): Promise<void> {
  const res = await post(url, '/models/load', model, {});
  await res.arrayBuffer();
  await waitFor(`${model} loaded`, async () => (await statusOf(url, model)) === 'loaded', 60_000);
}

/**
 * Start a long streaming generation on `model` and hold it: resolves once its first bytes arrived (it has a slot
 * at the child); release() aborts it and resolves when the stream has ended.
 */
export async function holdSlot(url: string, model: string): Promise<{ release(): Promise<void> }> {
  const ac = new AbortController();
  const res = await chat(url, model, LONG, { signal: ac.signal });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  await reader.read();
  const ended = (async () => {
    try {
      for (;;) if ((await reader.read()).done) break;
    } catch {
      /* aborted */
    }
  })();
  return {
    release: async () => {
      ac.abort();
      await ended;
    },
  };
}

/** One model's /models entry (undefined when the router does not list it). */
export async function modelEntry(url: string, id: string, key?: string): Promise<any> {
  return (await models(url, key)).find((m) => m.id === id);
}

/** The pid of `id`'s child (from /models); throws when it has none. */
export async function childPid(url: string, id: string, key?: string): Promise<number> {
  const pid = (await modelEntry(url, id, key))?.pid;
  if (!(pid > 0)) throw new Error(`${id} has no child pid`);
  return pid;
}
