/**
 * What the router needs of a running model server, whoever runs it: a child process the supervisor spawned
 * (Child) or a server the router did not start (src/router/external.ts). Both are started, leased, stopped and
 * watched alike; a test backend implements it too (the in-process router tests).
 *
 * Events: 'exit' (ExitInfo) once, when it has ended, expected (stop) or not (crash).
 */
import type { EventEmitter } from 'node:events';
import type { ExitInfo } from './types.js';

export interface Backend extends EventEmitter {
  /** Where it listens (loopback port of a child; undefined for an external backend, which has a URL). */
  readonly port: number | undefined;
  /** Its process, when it has one the router owns. */
  readonly pid: number | undefined;
  /** Resolves when it answers its health check; rejects (with a reason) when it cannot. Once only. */
  start(): Promise<void>;
  /** Ends it; every call gets the same answer. */
  stop(): Promise<ExitInfo>;
}
