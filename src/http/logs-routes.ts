/**
 * `GET /logs/:model`: the router's ring buffer of one child's output (stdout and stderr,
 * one line each, oldest first, each after the time the router read it (ISO 8601, UTC; at most 100 ms after the
 * child printed it); it survives
 * the child's exit, so a crash can be read after). The router's own health polls are not in it.
 *
 *   default          text/plain; charset=utf-8, one line per line
 *   ?format=json     application/json {model, lines: [...]}
 *   ?n=N             only the last N lines
 *   ?follow=1        text/plain, chunked: the buffered lines, then each new line as the
 *                    child prints it, until the client leaves (`curl -N`, `router logs -f`)
 *
 * The model may be named by an alias; an unknown one is a 404 OpenAI error.
 * Followers share one router listener (see LogFollowers); a client that leaves is dropped.
 */
import type { Request, Response } from 'express';
import type { LogEvent, Router } from '../router/router.js';
import { RouterError, sendError } from './errors.js';
import { redact } from './redact.js';

type LogSource = Pick<Router, 'resolve' | 'logLines' | 'on' | 'off'>;

export class LogFollowers {
  private readonly byModel = new Map<string, Set<Response>>();
  private count = 0;

  constructor(private readonly router: LogSource) {}

  get size(): number {
    return this.count;
  }

  readonly handler = (req: Request, res: Response): void => {
    try {
      const name = String(req.params.model ?? '');
      const spec = this.router.resolve(name);
      if (!spec) throw new RouterError('model_not_found', `model '${name}' not found`);
      const n = tailCount(req.query.n);
      // logLines(name, 0) would slice(-0), i.e. everything.
      const lines = (n === 0 ? [] : this.router.logLines(spec.name, n)).map(redact);
      const follow = isTrue(req.query.follow);
      if (req.query.format === 'json') {
        if (follow) throw new RouterError('invalid_request', 'follow streams text; drop format=json');
        res.json({ model: spec.name, lines });
        return;
      }
      res.status(200);
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.setHeader('Cache-Control', 'no-cache, no-transform');
      if (!follow) {
        res.send(lines.map((l) => `${l}\n`).join(''));
        return;
      }
      res.setHeader('X-Accel-Buffering', 'no');
      res.flushHeaders();
      req.socket.setNoDelay(true);
      if (lines.length) res.write(lines.map((l) => `${l}\n`).join(''));
      this.add(spec.name, res);
      const leave = () => this.remove(spec.name, res);
      // res 'close' fires when the client leaves (req 'close' may fire once the request is read).
      res.once('close', leave);
    } catch (err) {
      sendError(res, err);
    }
  };

  private add(model: string, res: Response): void {
    if (this.count === 0) this.router.on('log', this.onLog);
    let set = this.byModel.get(model);
    if (!set) this.byModel.set(model, (set = new Set()));
    set.add(res);
    this.count++;
  }

  private remove(model: string, res: Response): void {
    const set = this.byModel.get(model);
    if (!set?.delete(res)) return;
    if (set.size === 0) this.byModel.delete(model);
    if (--this.count === 0) this.router.off('log', this.onLog);
  }

  private readonly onLog = (e: LogEvent): void => {
    const set = this.byModel.get(e.model);
    if (!set) return;
    for (const res of set) if (!res.writableEnded && !res.destroyed) res.write(`${redact(e.line)}\n`);
  };
}

function tailCount(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v) || !Number.isSafeInteger(n)) {
    throw new RouterError('invalid_request', "'n' must be a non-negative integer");
  }
  return n;
}

function isTrue(v: unknown): boolean {
  return v === '1' || v === 'true' || v === '';
}
