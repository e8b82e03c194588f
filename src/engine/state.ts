/** What the HTTP layer reads about the engine: its phase, and the loaded model once there is one. */
import { loading, shuttingDown } from './errors.js';
import type { EngineOptions } from './flags.js';
import type { ModelRuntime } from './runtime.js';

export type EnginePhase = 'loading' | 'ready' | 'stopping';

export class EngineState {
  phase: EnginePhase = 'loading';
  runtime?: ModelRuntime;
  /** Aborted on shutdown: generations in progress end at their next token. */
  readonly stopping = new AbortController();

  constructor(
    readonly options: EngineOptions,
    readonly modelId: string,
  ) {}

  /** The runtime, or the 503 a client should get instead. */
  ready(): ModelRuntime {
    if (this.phase === 'stopping') throw shuttingDown();
    if (this.phase !== 'ready' || !this.runtime) throw loading();
    return this.runtime;
  }
}
