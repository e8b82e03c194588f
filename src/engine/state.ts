/** What the HTTP layer reads about the engine: its phase, and the loaded model once there is one. */
import type { Llama } from 'node-llama-cpp';
import { loading, shuttingDown, unloaded } from './errors.js';
import type { EngineOptions } from './flags.js';
import type { ModelRuntime } from './runtime.js';

/** 'unloading'/'unloaded': `POST /models/unload` freed the model; `POST /models/load` loads it again. */
export type EnginePhase = 'loading' | 'ready' | 'unloading' | 'unloaded' | 'stopping';

export class EngineState {
  phase: EnginePhase = 'loading';
  runtime?: ModelRuntime;
  /** Set once llama.cpp is open: what `POST /models/load` loads the model again with. */
  llama?: Llama;
  /** Aborted on shutdown: generations in progress end at their next token. */
  readonly stopping = new AbortController();

  constructor(
    readonly options: EngineOptions,
    readonly modelId: string,
  ) {}

  /** The runtime, or the 503 a client should get instead. */
  ready(): ModelRuntime {
    if (this.phase === 'stopping') throw shuttingDown();
    if (this.phase === 'unloading' || this.phase === 'unloaded') throw unloaded();
    if (this.phase !== 'ready' || !this.runtime) throw loading();
    return this.runtime;
  }
}
