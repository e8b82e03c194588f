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
  /*
   * What the router asks of a backend with a process of its own (a Child; an external backend has none of these).
   */
  /** One health check of a ready backend: does it answer within timeoutMs? */
  responsive?(timeoutMs: number): Promise<boolean>;
  /** Kill a hung backend now; its 'exit' follows as unexpected (a crash). */
  kill?(): void;
  /** Has it ended (or does it within timeoutMs)? For a connection it refused before its 'exit' was handled. */
  gone?(timeoutMs: number): Promise<boolean>;
}
