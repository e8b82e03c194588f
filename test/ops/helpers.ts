/** Helpers for the operability tests: an SSE reader, a /metrics reader, a CLI runner. */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { ROUTER_BIN } from '../helpers/router.js';

export interface Received {
  event: string;
  data: any;
  at: number;
}

export interface EventStream {
  events: Received[];
  comments: string[];
  /** Resolves with the first event (already received or to come) matching `pred`. */
  next(pred: (e: Received) => boolean, what: string, timeoutMs?: number): Promise<Received>;
  close(): void;
  /** Resolves when the server ends the stream (or it is closed). */
  ended: Promise<void>;
  status: number;
  headers: Headers;
}

export async function openEvents(url: string, headers: Record<string, string> = {}): Promise<EventStream> {
  const ac = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: ac.signal });
  const events: Received[] = [];
  const comments: string[] = [];
  let waiters: { pred: (e: Received) => boolean; resolve(e: Received): void }[] = [];
  const parser = createParser({
    onEvent(m: EventSourceMessage) {
      const e = { event: m.event ?? 'message', data: JSON.parse(m.data), at: Date.now() };
      events.push(e);
      waiters = waiters.filter((w) => (w.pred(e) ? (w.resolve(e), false) : true));
    },
    onComment(c: string) {
      comments.push(c);
    },
  });
  const ended = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
    } catch {
      /* aborted */
    }
  })();
  return {
    events,
    comments,
    status: res.status,
    headers: res.headers,
    ended,
    close: () => ac.abort(),
    next(pred, what, timeoutMs = 30_000) {
      const found = events.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms; got ${JSON.stringify(events.map((e) => [e.event, e.data.model, e.data.from, e.data.to, e.data.reason]))}`)), timeoutMs);
        waiters.push({ pred, resolve: (e) => (clearTimeout(t), resolve(e)) });
      });
    },
  };
}

/** One sample of a Prometheus text exposition: `name{a="b"} value`. */
export async function scrape(url: string, headers: Record<string, string> = {}): Promise<(name: string, labels?: Record<string, string>) => number | undefined> {
  const res = await fetch(`${url}/metrics`, { headers });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${await res.text()}`);
  const text = await res.text();
  const samples = text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(l);
      if (!m) throw new Error(`unparsable metrics line: ${l}`);
      const labels: Record<string, string> = {};
      for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
      return { name: m[1]!, labels, value: Number(m[3]) };
    });
  return (name, labels = {}) =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/** promtool (Debian's prometheus package), if installed: .ci/run installs it; a machine without it skips the lint. */
export function promtool(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = `${dir || '.'}/promtool`;
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Run `router ARGS` (a control subcommand) to completion. */
export function cli(args: string[], env: Record<string, string> = {}, timeout = 60_000) {
  return execa(process.execPath, [ROUTER_BIN, ...args], { reject: false, timeout, env: { ROUTER_URL: '', ROUTER_API_KEY: '', ...env } });
}
