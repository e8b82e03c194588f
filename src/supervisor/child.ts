import { EventEmitter } from 'node:events';
import type { Backend } from './backend.js';
import { ChildStartError } from './errors.js';
import { LineLog } from './line-log.js';
import { requestLinePattern } from './lines.js';
import { ExitOnce, Once } from './once.js';
import { freePort, isBindFailure, portInUse } from './port.js';
import { nudge, type Nudge } from './poll.js';
import { probeHealth, waitUntilHealthy, type HealthTarget } from './readiness.js';
import { OutputFileError } from './output-file.js';
import { SpawnedProcess, type ProcessExit } from './spawn.js';
import { ChildStates } from './states.js';
import { signalGroup, stopOnce } from './stop.js';
import type { ChildOptions, ChildStartReason, ChildState, ExitInfo } from './types.js';

/** Lines carried by ExitInfo and ChildStartError. */
const REPORT_LINES = 50;
/**
 * A line that says the server may be ready (llama-server's "listening on http://…", the bundled engine's "model
 * ready", most servers' "listening"/"ready"/"started"): health is polled at once rather than at the next
 * interval, which with a fast-loading model was most of a cold start's wait. Health still decides.
 */
const READY_HINT = /listening|\bready\b|\bloaded\b|started|running/i;

type Outcome = 'ready' | 'exited' | 'timeout' | 'stopped';

/**
 * One child inference server's life: spawn on a free port, wait for health, run, stop. A Child is started once
 * and ends once; to restart a model, make a new Child.
 *
 * States: 'starting' from construction until ready (or until start() fails), 'ready', 'stopping' (stop() asked,
 * or the child died and its process group is being cleaned up), 'exited'. They change only as the table in
 * states.ts allows; an illegal change is logged (as a line of its log) and thrown. 'exit' is emitted exactly once, when
 * the direct child and its whole process group are gone, whatever the path: stop(), crash, or a failed start
 * (then just before start() rejects, with expected=false unless stop() asked).
 *
 * Also emits 'retry' ({attempt, port}) when a start attempt lost its port and another port is tried.
 */
export class Child extends EventEmitter implements Backend {
  readonly name: string;
  readonly #opts: ChildOptions;
  readonly #host: string;
  readonly #healthPath: string;
  readonly #portRetries: number;
  readonly #log: LineLog;
  /** The child's log line for one of our own health polls: never kept, never passed on. */
  readonly #pollLine: RegExp;
  readonly #states: ChildStates;
  #port: number | undefined;
  #proc: SpawnedProcess | undefined;
  /** The process that reached ready, if any. */
  #readyProc: SpawnedProcess | undefined;
  readonly #starting = new Once(() => this.#start());
  readonly #stopping = new Once(() => this.#stop());
  #stopRequested = false;
  /** Aborted by stop(): interrupts readiness polling at once. */
  readonly #stopController = new AbortController();
  /** While readiness is polled: a line hinting at readiness polls at once. */
  #nudge: Nudge | undefined;
  readonly #exit = new ExitOnce(this);

  constructor(opts: ChildOptions) {
    super();
    if (!opts.name) throw new TypeError('Child: name is required');
    if (!opts.command) throw new TypeError(`Child ${opts.name}: command is required`);
    for (const key of ['loadTimeoutMs', 'stopTimeoutMs'] as const) {
      if (!Number.isFinite(opts[key]) || opts[key] < 0) throw new TypeError(`Child ${opts.name}: ${key} must be a non-negative number`);
    }
    this.name = opts.name;
    this.#opts = opts;
    this.#host = opts.host ?? '127.0.0.1';
    this.#healthPath = opts.healthPath ?? '/health';
    this.#portRetries = Math.max(0, opts.portRetries ?? 3);
    this.#log = new LineLog(opts.logLines ?? 500, opts.onLog);
    this.#states = new ChildStates(opts.name, (err) => this.#log.add(`supervisor: ${err.message}`, 'stderr'));
    this.#pollLine = requestLinePattern(this.#healthPath);
  }

  /** The port of the current (or last) attempt. */
  get port(): number | undefined {
    return this.#port;
  }

  /** The direct child's pid, which is also its process group id; kept after exit for reports. */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  get state(): ChildState {
    return this.#states.current;
  }

  /** The newest n lines of output (all kept lines if n is omitted), oldest first. */
  lastLines(n?: number): string[] {
    return this.#log.last(n);
  }

  /** Resolves when the child answers 200 on its health path. Calling it again returns the same promise. */
  start(): Promise<void> {
    return this.#starting.run();
  }

  /**
   * SIGTERM to the process group, SIGKILL after stopTimeoutMs; resolves when the child and its group are gone.
   * Idempotent; safe in any state (during start it aborts the start, which rejects with reason 'stopped').
   */
  stop(): Promise<ExitInfo> {
    return this.#stopping.run();
  }

  /** One health check of a ready child: does it answer 200 within timeoutMs? (A stopped or deadlocked one does not.) */
  async responsive(timeoutMs: number): Promise<boolean> {
    if (this.#states.current !== 'ready' || this.#port === undefined) return false;
    const target: HealthTarget = { host: this.#host, port: this.#port, path: this.#healthPath, headers: this.#opts.healthHeaders };
    const status = await probeHealth(target, this.#stopController.signal, timeoutMs).catch(() => undefined);
    return status === 200;
  }

  /**
   * Is this child gone? For a request its server refused or reset: a crashed child refuses connections before
   * its 'exit' comes (that waits for the group's clean-up and the last output lines). True once 'exit' has been
   * emitted, if the process has exited or exits within timeoutMs; false if it still runs (alive, yet refusing).
   */
  async gone(timeoutMs: number): Promise<boolean> {
    const proc = this.#readyProc ?? this.#proc;
    if (!this.#exit.info && proc && !proc.hasExited) {
      let timer: NodeJS.Timeout | undefined;
      const exited = await Promise.race([
        proc.exited.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(resolve, timeoutMs, false))),
      ]);
      clearTimeout(timer);
      if (!exited) return false;
    }
    if (!proc && !this.#exit.info) return false;
    await this.#exit.done;
    return true;
  }

  /**
   * SIGKILL the ready child's whole group now, for a child that is hung (SIGTERM would wait for a stopped process).
   * Its exit is handled as a crash: 'exit' with expected=false, after the usual clean-up of the group.
   */
  kill(): void {
    const proc = this.#readyProc;
    if (proc?.pid !== undefined && !proc.hasExited) signalGroup(proc.pid, 'SIGKILL');
  }

  async #stop(): Promise<ExitInfo> {
    if (this.#exit.info) return this.#exit.info;
    this.#stopRequested = true;
    this.#enterStopping();
    this.#stopController.abort();
    if (!this.#starting.promise) {
      // Never started: nothing to kill. A later start() rejects with 'stopped'.
      return this.#finish(undefined, true);
    }
    // While starting, the start loop sees the abort, stops its process and finishes. Once ready, the exit watcher
    // set up in #start finishes when the process is gone; we only have to make it go.
    if (this.#proc && this.#readyProc === this.#proc) void stopOnce(this.#proc, this.#opts.stopTimeoutMs);
    return this.#exit.done;
  }

  async #start(): Promise<void> {
    const deadline = Date.now() + this.#opts.loadTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      if (this.#stopRequested) throw this.#fail('stopped', undefined);
      let port: number;
      try {
        port = await (this.#opts.pickPort ?? freePort)(this.#host);
      } catch (err) {
        throw this.#fail('spawn', undefined, `no free port on ${this.#host}: ${(err as Error).message}`, err);
      }
      if (this.#stopRequested) throw this.#fail('stopped', undefined);
      this.#port = port;

      let bindFailure = false;
      let proc: SpawnedProcess;
      try {
        proc = new SpawnedProcess({
          command: this.#opts.command,
          args: this.#opts.args(port),
          env: this.#opts.env,
          onLine: (line) => {
            // Only a start can lose its port: once ready, the line is not searched (9 lines a request from llama-server).
            if (!bindFailure && this.#readyProc !== proc && isBindFailure(line)) bindFailure = true;
            this.#onLine(line);
          },
        });
      } catch (err) {
        // The command was not tried when the file for its output could not be made: say that, not "could not run".
        const what = err instanceof OutputFileError ? `could not start ${this.#opts.command}: ${err.message}` : `could not run ${this.#opts.command}: ${(err as Error).message}`;
        throw this.#fail('spawn', undefined, what, err);
      }
      this.#proc = proc;

      let outcome = await this.#waitForOutcome(proc, port, deadline);
      if (outcome === 'ready' && this.#stopRequested) outcome = 'stopped';
      if (outcome === 'ready') {
        this.#states.to('ready');
        this.#readyProc = proc;
        proc.relax();
        void proc.exited.then(() => this.#onExitAfterReady(proc));
        return;
      }

      // Every other outcome ends this process: make sure it and its group are gone before deciding anything.
      await this.#cleanUp(proc);
      const exit = proc.exit;
      if (outcome === 'exited' && !this.#stopRequested) {
        if (proc.spawnError) {
          throw this.#fail('spawn', exit, `could not run ${this.#opts.command}: ${proc.spawnError.message}`, proc.spawnError);
        }
        // The port race: another process took the port between get-port and the child's bind. The child says so
        // (bindFailure), or, if it died without a recognisable message, the port is now somebody else's.
        const portLost = bindFailure || (await portInUse(port, this.#host));
        if (portLost && attempt < this.#portRetries && Date.now() < deadline && !this.#stopRequested) {
          this.emit('retry', { attempt: attempt + 1, port });
          continue;
        }
      }
      if (this.#stopRequested) throw this.#fail('stopped', exit);
      throw this.#fail(outcome === 'timeout' ? 'timeout' : 'exited', exit);
    }
  }

  /** The first of: health 200, early exit, load timeout, stop(). Clears its timer and aborts polling on every path. */
  async #waitForOutcome(proc: SpawnedProcess, port: number, deadline: number): Promise<Outcome> {
    const polling = new AbortController();
    const target: HealthTarget = { host: this.#host, port, path: this.#healthPath, headers: this.#opts.healthHeaders };
    let timer: NodeJS.Timeout | undefined;
    let onStop: (() => void) | undefined;
    try {
      return await new Promise<Outcome>((resolve) => {
        this.#nudge = {};
        waitUntilHealthy(target, polling.signal, { nudge: this.#nudge }).then(
          () => resolve('ready'),
          () => {}, // aborted: another outcome won
        );
        // An early exit is noticed at once, not at the next poll.
        void proc.exited.then(() => resolve('exited'));
        timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
        onStop = () => resolve('stopped');
        if (this.#stopController.signal.aborted) onStop();
        else this.#stopController.signal.addEventListener('abort', onStop, { once: true });
      });
    } finally {
      this.#nudge = undefined;
      clearTimeout(timer);
      polling.abort();
      if (onStop) this.#stopController.signal.removeEventListener('abort', onStop);
    }
  }

  async #onExitAfterReady(proc: SpawnedProcess): Promise<void> {
    // Decided when the process exits: a crash stays a crash even if stop() is called during the cleanup.
    const expected = this.#stopRequested;
    this.#enterStopping();
    try {
      await this.#cleanUp(proc);
    } finally {
      // Nothing in the cleanup is meant to throw; if it ever does, 'exit' must still come, or the router waits for ever.
      this.#finish(proc.exit, expected);
    }
  }

  /** Both a stop() and a ready child's own exit lead here, in either order; the second finds it done. */
  #enterStopping(): void {
    if (this.#states.current !== 'stopping') this.#states.to('stopping');
  }

  /** Stop what is left of the process group (everything, if the child is still running) and collect the last lines. */
  async #cleanUp(proc: SpawnedProcess): Promise<void> {
    await stopOnce(proc, this.#opts.stopTimeoutMs);
    proc.destroyStdio();
  }

  /** A line of the child's stdout or stderr (one file for both: in the order written). */
  #onLine(line: string): void {
    // Our polls, not the child's news: they filled 47 of 58 kept lines and padded load-failure messages.
    if (this.#pollLine.test(line)) return;
    this.#log.add(line);
    if (this.#nudge && READY_HINT.test(line)) nudge(this.#nudge);
  }

  #finish(exit: ProcessExit | undefined, expected: boolean): ExitInfo {
    if (this.#exit.info) return this.#exit.info;
    this.#states.to('exited');
    return this.#exit.settle({
      code: exit?.code ?? null,
      signal: exit?.signal ?? null,
      expected,
      lastLines: this.lastLines(REPORT_LINES),
    });
  }

  /** Ends the child's life (emitting 'exit') and builds the error start() rejects with. */
  #fail(reason: ChildStartReason, exit: ProcessExit | undefined, detail?: string, cause?: unknown): ChildStartError {
    const info = this.#finish(exit, this.#stopRequested);
    const where = this.#port === undefined ? '' : ` on ${this.#host}:${this.#port}`;
    const how = info.signal ? `signal ${info.signal}` : info.code !== null ? `exit code ${info.code}` : undefined;
    const lastLine = info.lastLines.findLast((l) => l.trim() !== '');
    let message: string;
    switch (reason) {
      case 'timeout':
        message = `model ${this.name} was not ready within ${this.#opts.loadTimeoutMs} ms (GET ${this.#healthPath}${where} never answered 200)`;
        break;
      case 'exited':
        message = `model ${this.name} exited before it was ready${how ? ` (${how})` : ''}${lastLine ? `: ${lastLine}` : ''}`;
        break;
      case 'spawn':
        message = `model ${this.name}: ${detail ?? `could not run ${this.#opts.command}`}`;
        break;
      case 'stopped':
        message = `model ${this.name} was stopped before it was ready`;
        break;
    }
    return new ChildStartError(message, {
      model: this.name,
      reason,
      exitCode: info.code,
      signal: info.signal,
      lastLines: info.lastLines,
      cause,
    });
  }
}
