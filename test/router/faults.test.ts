/** Children that crash, never become ready, or are left behind: the router's answers and cleanup. */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createParser } from 'eventsource-parser';
import { chat, json, models, processesMentioning, ROOT, startRouter, statusOf, waitFor } from '../helpers/router.js';
import { LONG, modelsDir, presetFile } from './fixtures.js';

const FAKE = join(ROOT, 'test', 'fixtures', 'fake-server.mjs');

test('a child killed mid-stream ends the stream with an error event; the next request restarts it', async () => {
  const dir = await modelsDir(['alpha']);
  const r = await startRouter(['--models-dir', dir, '--', '--ctx-size', '4096']);
  try {
    const res = await chat(r.url, 'alpha', LONG);
    expect(res.status).toBe(200);
    const events: { event?: string; data: string }[] = [];
    const parser = createParser({ onEvent: (e) => events.push(e) });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    parser.feed(decoder.decode((await reader.read()).value));
    const pid = (await models(r.url)).find((m) => m.id === 'alpha').pid;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value));
    }
    const last = events[events.length - 1]!;
    expect(last.event).toBe('error');
    expect(JSON.parse(last.data).error.code).toBe('upstream_failed');
    expect(events.some((e) => e.data === '[DONE]')).toBe(false);
    await waitFor('alpha failed', async () => (await statusOf(r.url, 'alpha')) === 'failed');
    const m = (await models(r.url)).find((x) => x.id === 'alpha');
    expect(m.status.exit_code === null || typeof m.status.exit_code === 'number').toBe(true);
    const again = await chat(r.url, 'alpha');
    expect(again.status).toBe(200);
    expect(m.in_flight).toBe(0);
  } finally {
    expect(await r.stop()).toBe(0);
  }
  expect(processesMentioning(dir)).toEqual([]);
});

test('a child that never becomes ready: 504 after --load-timeout, and it is gone', async () => {
  const dir = await modelsDir([]);
  const preset = presetFile(dir, `[stuck]\ncmd = ${process.execPath} ${FAKE} --port \${PORT} --never-ready --log-lines 3\n`);
  const r = await startRouter(['--models-preset', preset, '--load-timeout', '1.5']);
  try {
    const started = Date.now();
    const res = await chat(r.url, 'stuck');
    expect(res.status).toBe(504);
    expect((await json(res)).error).toMatchObject({ code: 'load_timeout', type: 'server_error' });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(processesMentioning('--never-ready')).toEqual([]);
  } finally {
    await r.stop();
  }
});

test('a child that exits at once: 503 with its last output; repeated failures back off with Retry-After', async () => {
  const dir = await modelsDir([]);
  const preset = presetFile(dir, `[broken]\ncmd = ${process.execPath} ${FAKE} --port \${PORT} --exit-at-start 3\n`);
  const r = await startRouter(['--models-preset', preset]);
  try {
    const first = await chat(r.url, 'broken');
    expect(first.status).toBe(503);
    expect((await json(first)).error.message).toMatch(/cannot load model/);
    const second = await chat(r.url, 'broken'); // the first failure retries at once
    expect(second.status).toBe(503);
    const third = await chat(r.url, 'broken');
    expect(third.status).toBe(503);
    expect(third.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await json(third)).error.code).toBe('model_backoff');
  } finally {
    await r.stop();
  }
});

test('no child survives the router being SIGKILLed', async () => {
  const dir = await modelsDir(['alpha', 'beta']);
  const r = await startRouter(['--models-dir', dir]);
  await (await chat(r.url, 'alpha')).text();
  await (await chat(r.url, 'beta')).text();
  expect(processesMentioning(dir).length).toBeGreaterThanOrEqual(2);
  r.proc.kill('SIGKILL');
  await r.proc;
  await waitFor('children gone', () => processesMentioning(dir).length === 0, 10_000);
});

test('SIGTERM with a request in flight: it completes, every child stops, exit 0', async () => {
  const dir = await modelsDir(['alpha']);
  // A grace no loaded machine's 400 tokens can outlast: what is tested is that the request is let finish.
  const r = await startRouter(['--models-dir', dir, '--shutdown-grace', '600', '--', '--ctx-size', '4096']);
  await (await chat(r.url, 'alpha')).text();
  const inflight = chat(r.url, 'alpha', { ignore_eos: true, max_tokens: 400 });
  await waitFor('in flight', async () => (await models(r.url)).find((m) => m.id === 'alpha').in_flight === 1);
  r.proc.kill('SIGTERM');
  const res = await inflight;
  expect(res.status).toBe(200);
  expect((await json(res)).usage.completion_tokens).toBe(400);
  expect((await r.proc).exitCode).toBe(0);
  expect(processesMentioning(dir)).toEqual([]);
}, 180_000);

describe('auth and autoload', () => {
  test('--api-key: 401 OpenAI error without or with a wrong key, 200 with it; /health open', async () => {
    const dir = await modelsDir(['alpha']);
    const r = await startRouter(['--models-dir', dir, '--api-key', 'sekret']);
    try {
      expect((await fetch(`${r.url}/health`)).status).toBe(200);
      const none = await chat(r.url, 'alpha');
      expect(none.status).toBe(401);
      expect((await json(none)).error.type).toBe('authentication_error');
      expect((await chat(r.url, 'alpha', {}, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(`${r.url}/models`)).status).toBe(401);
      const good = await chat(r.url, 'alpha', {}, { headers: { authorization: 'Bearer sekret' } });
      expect(good.status).toBe(200);
    } finally {
      await r.stop();
    }
  });

  test('--no-models-autoload: 400 until loaded, then 200', async () => {
    const dir = await modelsDir(['alpha']);
    const r = await startRouter(['--models-dir', dir, '--no-models-autoload']);
    try {
      const res = await chat(r.url, 'alpha');
      expect(res.status).toBe(400);
      expect((await json(res)).error.message).toMatch(/not loaded/);
      const load = await fetch(`${r.url}/models/load`, { method: 'POST', body: JSON.stringify({ model: 'alpha' }) });
      expect(load.status).toBe(200);
      expect((await chat(r.url, 'alpha')).status).toBe(200);
    } finally {
      await r.stop();
    }
  });
});

test('children are unreachable without their own key: not with none, not with the router\'s; loopback only', async () => {
  const dir = await modelsDir(['alpha']);
  const r = await startRouter(['--models-dir', dir, '--api-key', 'sekret']);
  const auth = { authorization: 'Bearer sekret' };
  try {
    expect((await chat(r.url, 'alpha', {}, { headers: auth })).status).toBe(200);
    const pid = (await models(r.url, 'sekret')).find((m) => m.id === 'alpha').pid;
    const sockets = listeningSocketsOf(pid);
    // IPv4 loopback only: nothing on 0.0.0.0, another interface, or IPv6.
    expect(sockets.map((s) => s.address)).toEqual(['127.0.0.1']);
    const child = `http://127.0.0.1:${sockets[0]!.port}`;
    for (const headers of [{}, auth, { 'x-api-key': 'sekret' }, { authorization: 'Bearer wrong' }] as Record<string, string>[]) {
      expect((await fetch(`${child}/v1/models`, { headers })).status).toBe(401);
      const post = await fetch(`${child}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ model: 'alpha', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1 }),
      });
      expect(post.status).toBe(401);
    }
  } finally {
    await r.stop();
  }
});

/** Listening TCP sockets of a process, IPv4 and IPv6. */
function listeningSocketsOf(pid: number): { address: string; port: number }[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /socket:\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      /* closed */
    }
  }
  const found: { address: string; port: number }[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] !== '0A' || !inodes.has(f[9]!)) continue;
      const [hex, port] = f[1]!.split(':') as [string, string];
      // /proc/net/tcp holds IPv4 addresses as little-endian hex; tcp6 ones are shown as they are.
      const address = hex.length === 8 ? [...Buffer.from(hex, 'hex').reverse()].join('.') : `[${hex}]`;
      found.push({ address, port: parseInt(port, 16) });
    }
  }
  if (found.length === 0) throw new Error(`no listening socket for ${pid}`);
  return found;
}
