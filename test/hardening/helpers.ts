/** What the hardening tests read from a running router: its open descriptors, its memory, its gauges. */
import { readdirSync } from 'node:fs';
import { json, models } from '../helpers/router.js';

export const LONG_TESTS = process.env.ROUTER_LONG_TESTS === '1';

/** Open file descriptors of a process (sockets, pipes, files). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The sum of a gauge's samples in /metrics. */
export async function metricSum(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      seen = true;
    }
  }
  if (!seen) throw new Error(`no ${name} in /metrics`);
  return sum;
}

/** Every model idle: nothing in flight or queued, by /models and by /metrics. */
export async function referencesAtZero(url: string): Promise<void> {
  for (const m of await models(url)) {
    expect({ id: m.id, in_flight: m.in_flight, queued: m.queued }).toEqual({ id: m.id, in_flight: 0, queued: 0 });
  }
  expect(await metricSum(url, 'router_requests_in_flight')).toBe(0);
  expect(await metricSum(url, 'router_queued_requests')).toBe(0);
  expect(await metricSum(url, 'router_queue_length')).toBe(0);
}

/** Unload every model; resolves when each has no child. */
export async function unloadAll(url: string): Promise<void> {
  for (const m of await models(url)) {
    const res = await fetch(`${url}/models/unload`, { method: 'POST', body: JSON.stringify({ model: m.id }) });
    await json(res);
  }
}
