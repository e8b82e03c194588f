/**
 * Steps of a backend's life that happen once, whoever asks and however often: start() and stop() of a Child or an
 * external backend, its end ('exit'), and the stop of one process group (a stop() during a crash clean-up or a
 * failed start shares the stop already under way).
 */
import type { EventEmitter } from 'node:events';
import type { ExitInfo } from './types.js';

/** A step that runs at most once: every call of run() gets the first call's promise. */
export class Once<T> {
  readonly #step: () => Promise<T>;
  #promise: Promise<T> | undefined;

  constructor(step: () => Promise<T>) {
    this.#step = step;
  }

  run(): Promise<T> {
    this.#promise ??= this.#step();
    return this.#promise;
  }

  /** The first call's promise; undefined until run() was called. */
  get promise(): Promise<T> | undefined {
    return this.#promise;
  }
}

/**
 * `step` at most once per key (held weakly): a later call with the same key gets the first call's promise, whatever
 * its other arguments.
 */
export function oncePer<K extends object, A extends unknown[], T>(step: (key: K, ...args: A) => Promise<T>): (key: K, ...args: A) => Promise<T> {
  const started = new WeakMap<K, Promise<T>>();
  return (key, ...args) => {
    let promise = started.get(key);
    if (!promise) {
      promise = step(key, ...args);
      started.set(key, promise);
    }
    return promise;
  };
}

/**
 * A backend's end, settled once whatever the path (stop, crash, failed start): the first settle() keeps its ExitInfo,
 * resolves `done` and emits 'exit' on the backend; a later one gets the first ExitInfo and emits nothing.
 */
export class ExitOnce {
  readonly #backend: EventEmitter;
  #info: ExitInfo | undefined;
  #resolve!: (info: ExitInfo) => void;
  readonly done: Promise<ExitInfo> = new Promise((resolve) => (this.#resolve = resolve));

  constructor(backend: EventEmitter) {
    this.#backend = backend;
  }

  /** The ExitInfo once settled. */
  get info(): ExitInfo | undefined {
    return this.#info;
  }

  settle(info: ExitInfo): ExitInfo {
    if (this.#info) return this.#info;
    this.#info = info;
    this.#resolve(info);
    try {
      this.#backend.emit('exit', info);
    } catch (err) {
      // A throwing listener is the listener's bug; report it like Node would, without leaving us half-finished.
      process.nextTick(() => {
        throw err;
      });
    }
    return info;
  }
}
