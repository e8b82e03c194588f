/**
 * Steps of a backend's life that happen once, whoever asks and however often: start() and stop() of a Child or an
 * external backend, and the stop of one process group (a stop() during a crash clean-up or a failed start shares
 * the stop already under way).
 */

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
