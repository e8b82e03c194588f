/**
 * Faults beyond test/router/faults.test.ts (which covers a child SIGKILLed mid-stream, one that never becomes
 * ready, one that exits at once, the router SIGKILLed, and SIGTERM with a request in flight): a child killed
 * with requests queued for it, a child that stops answering, a port taken between probe and bind, a client that
 * stops reading a long stream, and a state dir that cannot be written. Each: a clear OpenAI error to the clients
 * it hits, the others unaffected, the model usable afterwards.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { childPid } from '../helpers/api.js';
import { alive, chat, json, models, processesMentioning, ROOT, rssBytes, startRouter, statusOf, waitFor } from '../helpers/router.js';
import { LONG, modelsDir, presetFile } from '../router/fixtures.js';
import { tinyModel } from '../helpers/models.js';
import { referencesAtZero } from './helpers.js';

const FIXTURES = join(ROOT, 'test', 'fixtures');
const ENGINE = join(ROOT, 'bin', 'router-engine.js');

/** Read an SSE body to its end: the events, in order. */
async function readEvents(res: Response, first?: (e: EventSourceMessage[]) => void): Promise<EventSourceMessage[]> {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e) });
  const decoder = new TextDecoder();
  const reader = res.body!.getReader();
  let told = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
    if (!told && events.length && first) {
      told = true;
      first(events);
    }
  }
  return events;
}

test('a child SIGKILLed with requests queued for it: each queued one is served or told why; the model works after', async () => {
  const dir = await modelsDir(['alpha', 'beta']);
  const r = await startRouter(['--models-dir', dir, '--models-concurrency', '1', '--', '--ctx-size', '4096']);
  try {
    const streaming = await chat(r.url, 'alpha', LONG);
    expect(streaming.status).toBe(200);
    let firstChunk!: () => void;
    const gotFirst = new Promise<void>((res) => (firstChunk = res));
    const streamed = readEvents(streaming, () => firstChunk());
    await gotFirst;
    const queued = [1, 2, 3].map((i) => chat(r.url, 'alpha', { max_tokens: 2, messages: [{ role: 'user', content: `q${i}` }] }));
    await waitFor('three queued', async () => (await models(r.url)).find((m) => m.id === 'alpha').queued === 3);
    const pid = await childPid(r.url, 'alpha');
    process.kill(pid, 'SIGKILL');

    const events = await streamed;
    expect(events.at(-1)!.event).toBe('error');
    expect(JSON.parse(events.at(-1)!.data).error.code).toBe('upstream_failed');
    for (const res of await Promise.all(queued)) {
      const body = await json(res);
      if (res.status === 200) {
        expect(body.choices[0].message).toBeDefined();
      } else {
        // Told, in OpenAI's shape, with a server-side status: never a hang or an empty answer.
        expect(res.status).toBeGreaterThanOrEqual(500);
        expect(body.error).toMatchObject({ type: 'server_error', message: expect.any(String), code: expect.any(String) });
      }
    }
    expect((await chat(r.url, 'beta', { max_tokens: 2 })).status).toBe(200);
    const again = await chat(r.url, 'alpha', { max_tokens: 2 });
    expect(again.status).toBe(200);
    expect(await childPid(r.url, 'alpha')).not.toBe(pid);
    await referencesAtZero(r.url);
  } finally {
    expect(await r.stop()).toBe(0);
  }
  expect(processesMentioning(dir)).toEqual([]);
}, 240_000);

test('a child that stops answering (SIGSTOP): 504 and an SSE error after --upstream-timeout, others unaffected, then restarted', async () => {
  const dir = await modelsDir(['alpha', 'beta']);
  // 10 s: short for a test, long enough that a healthy child on a busy 2-core machine is never taken for a hung one.
  const r = await startRouter(['--models-dir', dir, '--upstream-timeout', '10', '--', '--ctx-size', '4096', '--parallel', '2']);
  let stopped: number | undefined;
  try {
    expect((await chat(r.url, 'alpha', { max_tokens: 2 })).status).toBe(200);
    expect((await chat(r.url, 'beta', { max_tokens: 2 })).status).toBe(200);
    const streaming = await chat(r.url, 'alpha', LONG);
    let firstChunk!: () => void;
    const gotFirst = new Promise<void>((res) => (firstChunk = res));
    const streamed = readEvents(streaming, () => firstChunk());
    await gotFirst;
    stopped = await childPid(r.url, 'alpha');
    process.kill(-stopped, 'SIGSTOP');

    // A bound on "not for ever": well beyond the 10 s timeout plus the health check, far below a hang.
    const bound = AbortSignal.timeout(120_000);
    const plain = await chat(r.url, 'alpha', { max_tokens: 2 }, { signal: bound });
    const other = await chat(r.url, 'beta', { max_tokens: 2 }, { signal: bound });
    expect(other.status).toBe(200);
    expect(plain.status).toBe(504);
    expect((await json(plain)).error).toMatchObject({ code: 'upstream_timeout', type: 'server_error', message: expect.stringMatching(/sent nothing for 10 s/) });
    const events = await streamed;
    expect(events.at(-1)!.event).toBe('error');
    expect(JSON.parse(events.at(-1)!.data).error.code).toBe('upstream_timeout');

    // It did not answer its health check either: killed (SIGKILL reaches a stopped process), the model failed.
    await waitFor('the stopped child killed', () => !alive(stopped!), 30_000);
    expect(r.logs().some((l) => /stopped answering/.test(String(l.msg)))).toBe(true);
    const again = await chat(r.url, 'alpha', { max_tokens: 2 });
    expect(again.status).toBe(200);
    expect(await childPid(r.url, 'alpha')).not.toBe(stopped);
    await referencesAtZero(r.url);
  } finally {
    if (stopped && alive(stopped)) process.kill(-stopped, 'SIGKILL');
    expect(await r.stop()).toBe(0);
  }
  expect(processesMentioning(dir)).toEqual([]);
}, 240_000);

test('a port taken between the probe and the bind: the child starts on another port and serves', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-race-'));
  const mark = join(dir, 'squatter.pid');
  const model = await tinyModel();
  const cmd = `${process.execPath} ${join(FIXTURES, 'port-race.mjs')} --port \${PORT} --mark ${mark} -- ${process.execPath} ${ENGINE} --model \${MODEL} --alias racy --host \${HOST} --port \${PORT} --api-key \${API_KEY}`;
  const preset = presetFile(dir, `[racy]\nmodel = ${model}\ncmd = ${cmd}\n`);
  const r = await startRouter(['--models-preset', preset]);
  try {
    const res = await chat(r.url, 'racy', { max_tokens: 2 });
    expect(res.status).toBe(200);
    expect((await json(res)).choices[0].message).toBeDefined();
    expect(existsSync(mark)).toBe(true);
    // The first attempt lost its port (the engine said so) and the supervisor tried another.
    const lines = (await json(await fetch(`${r.url}/logs/racy?format=json`))).lines.join('\n');
    const taken = Number(/port (\d+) taken by pid/.exec(lines)?.[1]);
    expect(taken).toBeGreaterThan(0);
    expect(lines).toMatch(new RegExp(`EADDRINUSE.*${taken}`));
    expect((await models(r.url)).find((m) => m.id === 'racy').status.value).toBe('loaded');
    expect((await models(r.url)).find((m) => m.id === 'racy').port).not.toBe(taken);
  } finally {
    if (existsSync(mark)) process.kill(Number(readFileSync(mark, 'utf8')), 'SIGKILL');
    expect(await r.stop()).toBe(0);
  }
  expect(processesMentioning(mark)).toEqual([]);
}, 240_000);

test("a client that stops reading a long stream: the router's memory stays bounded, then every byte arrives", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-firehose-'));
  const MB = 96;
  const preset = presetFile(dir, `[firehose]\ncmd = ${process.execPath} ${join(FIXTURES, 'firehose-server.mjs')} --port \${PORT} --api-key \${API_KEY} --mb ${MB}\n`);
  // --upstream-timeout 1: the seconds this client does not read must not count as the child's silence.
  const r = await startRouter(['--models-preset', preset, '--log-level', 'debug', '--upstream-timeout', '1']);
  let sock: net.Socket | undefined;
  try {
    await fetch(`${r.url}/models/load`, { method: 'POST', body: JSON.stringify({ model: 'firehose' }) }).then(json);
    const before = rssBytes(r.proc.pid!);
    const body = JSON.stringify({ model: 'firehose', stream: true, messages: [{ role: 'user', content: 'all of it' }] });
    sock = net.connect(r.port, '127.0.0.1');
    await new Promise<void>((res) => sock!.once('connect', () => res()));
    sock.pause(); // read nothing yet
    sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);

    // The child is held back: it says its writes block, and it is far from done.
    await waitFor('the firehose blocked', () => /firehose: blocked after (\d+) chunks/.test(r.output()), 30_000);
    // Time passes on purpose here: the router's memory is sampled for 2 s while the client reads nothing.
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      peak = Math.max(peak, rssBytes(r.proc.pid!));
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(r.output()).not.toMatch(/firehose: sent/);
    // Without backpressure the router would hold most of the 96 MiB answer for this client.
    expect(peak - before).toBeLessThan(32 * 2 ** 20);

    // Now read everything: every chunk, in order, then [DONE].
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.resume();
    await new Promise<void>((res) => sock!.once('end', () => res()));
    const raw = Buffer.concat(chunks).toString('utf8');
    const headerEnd = raw.indexOf('\r\n\r\n');
    expect(raw.slice(0, headerEnd)).toMatch(/^HTTP\/1.1 200/);
    const events: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (e) => events.push(e) });
    parser.feed(dechunk(raw.slice(headerEnd + 4)));
    expect(events.at(-1)!.data).toBe('[DONE]');
    const seqs = events.slice(0, -1).map((e) => JSON.parse(e.data).seq as number);
    expect(seqs.length).toBe(MB * 1024 + 1);
    expect(seqs.every((s, i) => s === i)).toBe(true);
    expect(events.slice(0, -2).every((e) => JSON.parse(e.data).choices[0].delta.content.length === 1024)).toBe(true);
    await waitFor('firehose done', () => /firehose: sent/.test(r.output()));
    await referencesAtZero(r.url);
  } finally {
    sock?.destroy();
    expect(await r.stop()).toBe(0);
  }
  expect(processesMentioning(preset)).toEqual([]);
}, 240_000);

test('a client that takes none of its answer for --send-timeout: the answer is cut, the child freed, the reference released', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-stall-'));
  const preset = presetFile(dir, `[firehose]\ncmd = ${process.execPath} ${join(FIXTURES, 'firehose-server.mjs')} --port \${PORT} --api-key \${API_KEY} --mb 96\n`);
  const r = await startRouter(['--models-preset', preset, '--log-level', 'debug', '--send-timeout', '1']);
  let sock: net.Socket | undefined;
  try {
    await fetch(`${r.url}/models/load`, { method: 'POST', body: JSON.stringify({ model: 'firehose' }) }).then(json);
    const body = JSON.stringify({ model: 'firehose', stream: true, messages: [{ role: 'user', content: 'all of it' }] });
    sock = net.connect(r.port, '127.0.0.1');
    await new Promise<void>((res) => sock!.once('connect', () => res()));
    sock.pause(); // reads nothing, and keeps its connection open
    sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await waitFor('the firehose blocked', () => /firehose: blocked after/.test(r.output()), 30_000);
    // Without the limit the child stays blocked on this client for as long as its connection is open.
    await waitFor('the child told its client is gone', () => /firehose: client gone after/.test(r.output()), 30_000);
    await referencesAtZero(r.url);
    // The client's answer was cut: read now, it ends without [DONE].
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', () => {}); // a reset is as good as an end here
    sock.resume();
    await new Promise<void>((res) => sock!.once('close', () => res()));
    const raw = Buffer.concat(chunks).toString('utf8');
    expect(raw).toMatch(/^HTTP\/1.1 200/);
    expect(raw).not.toMatch(/\[DONE\]/);
    expect(r.output()).not.toMatch(/firehose: sent/);
  } finally {
    sock?.destroy();
    expect(await r.stop()).toBe(0);
  }
  expect(processesMentioning(preset)).toEqual([]);
}, 120_000);

test('an unwritable state dir: the router starts, serves and measures; the figures are only not kept', async () => {
  const dir = await modelsDir(['alpha']);
  const blocker = join(mkdtempSync(join(tmpdir(), 'router-state-')), 'a-file');
  writeFileSync(blocker, 'not a directory');
  const r = await startRouter(['--models-dir', dir, '--state-dir', join(blocker, 'state'), '--models-memory-margin', '0']);
  try {
    const res = await chat(r.url, 'alpha', { max_tokens: 2 });
    expect(res.status).toBe(200);
    // The measurement happens (and tries to persist) once the child is loaded and used.
    await waitFor('measured', async () => (await models(r.url)).find((m) => m.id === 'alpha').memory?.source === 'measured', 30_000);
    await waitFor('the warning', () => r.logs().some((l) => l.level === 40 && /in memory only/.test(String(l.msg))), 30_000);
    expect((await chat(r.url, 'alpha', { max_tokens: 2 })).status).toBe(200);
    expect(await statusOf(r.url, 'alpha')).toBe('loaded');
    expect(readFileSync(blocker, 'utf8')).toBe('not a directory');
  } finally {
    expect(await r.stop()).toBe(0);
  }
  expect(processesMentioning(dir)).toEqual([]);
}, 240_000);

/** Undo HTTP/1.1 chunked transfer coding (the raw-socket client sees it). */
function dechunk(body: string): string {
  let out = '';
  let i = 0;
  const buf = Buffer.from(body, 'utf8');
  while (i < buf.length) {
    const eol = buf.indexOf('\r\n', i);
    const size = parseInt(buf.subarray(i, eol).toString('latin1'), 16);
    if (!size) break;
    out += buf.subarray(eol + 2, eol + 2 + size).toString('utf8');
    i = eol + 2 + size + 2;
  }
  return out;
}
