/**
 * `GET /models/sse`: a text/event-stream of what happens to models.
 *
 *   event: snapshot       data: {object, data: [model entries as GET /models], devices}
 *   event: status_change  data: {model, from, to, reason?, at}       (llama-server's event name)
 *   event: load | ready | unload | eviction | failure
 *                         data: {model, reason?, detail?, at}
 *
 * llama-server's router mode sends unnamed events (the EventSource `message` event) shaped
 *   data: {model, event: "status_change", data: {status, exit_code?, failed?, info?}}
 * and a client written for it works here too: each status_change is also sent that way.
 *
 * A `snapshot` comes first, and again whenever the picture changes (a state, requests in
 * flight or queued, memory): a dashboard needs nothing else. Comment lines (`: ping`) keep
 * idle connections alive every 15 s. `at` is milliseconds since the epoch.
 *
 * One hub per app holds the only router listener and the only timers, and only while at
 * least one client is connected: a client that leaves takes nothing with it.
 */
import type { Request, Response } from 'express';
import type { Router, RouterEvent } from '../router/router.js';
import { redact } from './redact.js';
import { snapshot, type RouterView } from './snapshot.js';

export interface EventsOptions {
  /** Comment lines on idle streams (default 15 s). */
  heartbeatMs?: number;
  /** How often counters (in flight, queued, memory) are compared for a fresh snapshot (default 1 s). */
  pollMs?: number;
}

type EventSource = RouterView & Pick<Router, 'on' | 'off'>;

interface Client {
  res: Response;
}

export class ModelEvents {
  private readonly clients = new Set<Client>();
  private heartbeat?: NodeJS.Timeout;
  private poll?: NodeJS.Timeout;
  private pending?: NodeJS.Timeout;
  private last = '';
  private readonly heartbeatMs: number;
  private readonly pollMs: number;

  constructor(
    private readonly router: EventSource,
    opts: EventsOptions = {},
  ) {
    this.heartbeatMs = opts.heartbeatMs ?? 15_000;
    this.pollMs = opts.pollMs ?? 1_000;
  }

  /** Connected SSE clients (a gauge in /metrics; tests check it returns to 0). */
  get size(): number {
    return this.clients.size;
  }

  readonly handler = (req: Request, res: Response): void => {
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    // nginx and friends would otherwise buffer the stream.
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    req.socket.setNoDelay(true);
    const client: Client = { res };
    const snap = this.snapshotText();
    write(res, `retry: 2000\n\n${frame('snapshot', snap)}`);
    this.add(client, snap);
    const leave = () => this.remove(client);
    // res 'close' fires when the client leaves (req 'close' may fire once the request is read).
    res.once('close', leave);
  };

  private add(client: Client, snap: string): void {
    if (this.clients.size === 0) {
      this.last = snap;
      this.router.on('event', this.onEvent);
      this.heartbeat = setInterval(() => this.broadcast(': ping\n\n'), this.heartbeatMs);
      this.poll = setInterval(() => this.refresh(), this.pollMs);
      this.heartbeat.unref();
      this.poll.unref();
    }
    this.clients.add(client);
  }

  private remove(client: Client): void {
    if (!this.clients.delete(client)) return;
    if (this.clients.size > 0) return;
    this.router.off('event', this.onEvent);
    clearInterval(this.heartbeat);
    clearInterval(this.poll);
    clearTimeout(this.pending);
    this.heartbeat = this.poll = this.pending = undefined;
  }

  private readonly onEvent = (e: RouterEvent): void => {
    const data: Record<string, unknown> = { model: e.model };
    if (e.from !== undefined) data.from = e.from;
    if (e.to !== undefined) data.to = e.to;
    if (e.reason !== undefined) data.reason = e.reason;
    // A load's detail is the child's command line, with its private key.
    if (e.detail !== undefined) data.detail = redact(e.detail);
    data.at = e.at;
    this.broadcast(frame(e.type, JSON.stringify(data)));
    if (e.type === 'status_change' && e.to !== undefined) this.broadcast(llamaServerFrame(this.router, e));
    // Several events come in one burst (eviction, status changes): one snapshot after them.
    this.pending ??= setTimeout(() => {
      this.pending = undefined;
      this.refresh();
    }, 50);
  };

  /** Send a snapshot if anything a client shows has changed since the last one. */
  private refresh(): void {
    if (this.clients.size === 0) return;
    const snap = this.snapshotText();
    if (snap === this.last) return;
    this.last = snap;
    this.broadcast(frame('snapshot', snap));
  }

  private snapshotText(): string {
    return JSON.stringify(snapshot(this.router));
  }

  private broadcast(text: string): void {
    for (const c of this.clients) write(c.res, text);
  }
}

/** llama-server's shape of a status change: an unnamed event (statuses loading, loaded, unloading, unloaded). */
function llamaServerFrame(router: RouterView, e: RouterEvent): string {
  const data: Record<string, unknown> = { status: e.to === 'failed' ? 'unloaded' : e.to };
  if (e.to === 'failed' || e.to === 'unloaded') {
    const info = router.list().find((m) => m.spec.name === e.model);
    if (e.to === 'failed') data.failed = true;
    data.exit_code = info?.exitCode ?? (e.to === 'failed' ? 1 : 0);
  }
  if (e.to === 'loaded') {
    const spec = router.list().find((m) => m.spec.name === e.model)?.spec;
    data.info = { id: e.model, aliases: spec?.aliases ?? [], object: 'model', owned_by: 'router', created: Math.floor(e.at / 1000) };
  }
  return `data: ${JSON.stringify({ model: e.model, event: 'status_change', data })}\n\n`;
}

function frame(event: string, data: string): string {
  // JSON.stringify never emits raw newlines, so one data line suffices.
  return `event: ${event}\ndata: ${data}\n\n`;
}

function write(res: Response, text: string): void {
  if (!res.writableEnded && !res.destroyed) res.write(text);
}
