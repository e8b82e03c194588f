/**
 * A child killed just before a request reaches it: the router has not yet handled its exit (that waits for the
 * group's clean-up and its last output lines), so the model still looks loaded with the dead child's port and the
 * request is admitted to it. The connection is refused (nothing was sent), the router finds the child gone, and the
 * request waits for a new child instead of getting a 502.
 */
import { join } from 'node:path';
import { chat, json, models, processesMentioning, ROOT, startRouter } from '../helpers/router.js';
import { modelsDir, presetFile } from './fixtures.js';

const FAKE = join(ROOT, 'test', 'fixtures', 'fake-server.mjs');

test('a request sent in the same tick as its child is SIGKILLed is served by a new child, not a 502', async () => {
  const dir = await modelsDir(['alpha']);
  const r = await startRouter(['--models-dir', dir, '--', '--ctx-size', '1024']);
  try {
    // Loaded by a request, so the router also holds a kept-alive connection to the child (the stale-socket retry
    // runs first, then the refused fresh connection).
    const first = await chat(r.url, 'alpha');
    expect(first.status).toBe(200);
    await first.text();
    const before = (await models(r.url)).find((m) => m.id === 'alpha');
    expect(before.status.value).toBe('loaded');
    const pid: number = before.pid;
    expect(pid).toBeGreaterThan(0);

    // Same tick: the request is on its way before the router can have seen the child's exit.
    process.kill(pid, 'SIGKILL');
    const res = await chat(r.url, 'alpha');
    const body = await json(res);
    expect({ status: res.status, error: body.error }).toEqual({ status: 200, error: undefined });
    expect(body.choices).toHaveLength(1);

    const after = (await models(r.url)).find((m) => m.id === 'alpha');
    expect(after.status.value).toBe('loaded');
    expect(after.pid).toBeGreaterThan(0);
    expect(after.pid).not.toBe(pid);
    expect(after.in_flight).toBe(0);
    // The router saw the crash (its exit was handled as one), not an unload.
    expect(r.logs().some((l) => typeof l.msg === 'string' && l.msg.includes("model 'alpha' exited unexpectedly"))).toBe(true);
  } finally {
    expect(await r.stop()).toBe(0);
  }
  expect(processesMentioning(dir)).toEqual([]);
}, 60_000);

test('a child alive but refusing connections still gets its client a 502, and is not restarted', async () => {
  const dir = await modelsDir([]);
  const preset = presetFile(dir, `[deaf]\ncmd = ${process.execPath} ${FAKE} --port \${PORT} --stop-listening-on-request --tag ${dir}\n`);
  const r = await startRouter(['--models-preset', preset]);
  try {
    // The connection is accepted, then reset with the child alive: one check that it still runs, then the 502.
    const reset = await chat(r.url, 'deaf');
    expect(reset.status).toBe(502);
    expect((await json(reset)).error).toMatchObject({ code: 'upstream_failed', type: 'server_error' });
    const pid: number = (await models(r.url)).find((m) => m.id === 'deaf').pid;
    expect(pid).toBeGreaterThan(0);
    // Refused now (no listener), still alive: the same 502 as before this race was handled, no new child.
    const refused = await chat(r.url, 'deaf');
    expect(refused.status).toBe(502);
    expect((await json(refused)).error).toMatchObject({ code: 'backend_unreachable', message: expect.stringContaining('ECONNREFUSED') });
    const m = (await models(r.url)).find((x) => x.id === 'deaf');
    expect(m.status.value).toBe('loaded');
    expect(m.pid).toBe(pid);
    expect(m.in_flight).toBe(0);
  } finally {
    expect(await r.stop()).toBe(0);
  }
  // Its own children only (tagged with its dir): other test files run fake servers at the same time.
  expect(processesMentioning(dir)).toEqual([]);
}, 30_000);
