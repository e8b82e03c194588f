/**
 * What the proxied path (proxied-routes.ts, the guards, proxy.ts, errors.ts, the metrics) uses of a request and of its
 * answer. node's IncomingMessage and ServerResponse (and express's Request and Response) have all of it; so do the fast
 * lane's own (fast-lane.ts, lane-response.ts), which serve a whole request read in one piece without node's parser,
 * IncomingMessage and ServerResponse.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';

export interface RequestHead {
  readonly method?: string;
  readonly url?: string;
  readonly httpVersion: string;
  /** By lower-case name. */
  readonly headers: IncomingHttpHeaders;
  /** Names as sent, in order, as flat [name, value, …] pairs. */
  readonly rawHeaders: string[];
}

export interface Answer {
  statusCode: number;
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  /** The whole answer was handed to the kernel. */
  readonly writableFinished: boolean;
  readonly writableNeedDrain: boolean;
  readonly destroyed: boolean;
  readonly socket: Socket | null;
  /** The request (linger.ts lets the rest of its body flow away). */
  readonly req?: { resume(): unknown };
  /** Per-answer values for the router (the usage tap); express's res.locals on its routes. */
  locals?: Record<string, unknown>;
  setHeader(name: string, value: number | string): unknown;
  /** Headers as flat [name, value, …] pairs; they replace those of the same name set before. */
  writeHead(statusCode: number, headers?: string[]): unknown;
  write(chunk: Buffer): boolean;
  end(chunk?: string): unknown;
  flushHeaders(): void;
  destroy(error?: Error): unknown;
  /** 'close': the answer is over (finished, or its client gone); 'drain': the client can take more. */
  on(event: 'close' | 'drain', listener: () => void): unknown;
  once(event: 'close' | 'drain', listener: () => void): unknown;
  removeListener(event: 'close' | 'drain', listener: () => void): unknown;
}
