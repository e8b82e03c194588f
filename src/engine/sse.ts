/** Server-sent events as OpenAI streams them: `data: JSON` events, then `data: [DONE]`. */
import type { Response } from 'express';

export function startEventStream(res: Response): void {
  res.status(200);
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-cache');
  // No Connection header of ours: node says keep-alive itself when the client allows it, and `close` when the
  // client asked for that; a forced keep-alive made clients pool a socket node refuses further requests on.
  // Tell proxies (nginx) not to buffer: tokens must reach the client as they are made.
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
}

export function sendEvent(res: Response, data: unknown): void {
  if (res.writableEnded || res.destroyed) return;
  res.write(`data: ${JSON.stringify(data)}\n\n`);
}

export function endEventStream(res: Response): void {
  if (res.writableEnded || res.destroyed) return;
  res.write('data: [DONE]\n\n');
  res.end();
}
