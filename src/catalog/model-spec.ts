/**
 * What the catalogue knows about one model after discovery and presets are merged.
 * The router and the memory room read it; only the catalogue builds it.
 */
export interface ModelSpec {
  /** Unique name clients use (`model` field). */
  name: string;
  /** Other names for the same model; unique across all names and aliases. */
  aliases: string[];
  /** The GGUF file (first shard for split models); undefined for `cmd`/`url` models without one. */
  modelPath?: string;
  /** Multimodal projector found beside the model in its folder, passed as `--mmproj`. */
  mmprojPath?: string;
  /**
   * Child arguments rendered from preset keys (e.g. ["--ctx-size", "4096", "--flash-attn"]).
   * Never contains -m/--model, --host, --port, --api-key: the router adds those.
   */
  args: string[];
  /** Custom command line (string with ${PORT} ${HOST} ${MODEL} ${API_KEY} macros), instead of the server binary. */
  cmd?: string;
  /** Extra environment for the child (`env.NAME = value`). */
  env: Record<string, string>;
  /** Path polled for readiness; 200 = ready. Default "/health". */
  healthPath: string;
  loadOnStartup: boolean;
  /** Seconds between SIGTERM and SIGKILL for this child; undefined = router default. */
  stopTimeoutS?: number;
  /** Unload after this many idle seconds; undefined = router default (none). */
  ttlS?: number;
  /** Higher is more protected from eviction. Default 0. */
  priority: number;
  /** Never evicted (only an explicit unload stops it). */
  pin: boolean;
  /** Models of one group never run at the same time. */
  exclusiveGroup?: string;
  /** Override of the memory need in bytes per device, e.g. {CUDA0: 8 GiB, CPU: 1 GiB}. */
  memory?: Record<string, number>;
  /** Command printing JSON memory need per device (the dry run). */
  probe?: string;
  /** At most this many requests in flight to the child (`concurrency = N`); undefined = no limit. */
  concurrency?: number;
  /** Takes part in the global one-request-at-a-time lock (`gpu-lock = true`, or `--serial`). */
  gpuLock: boolean;
  /** `ctx-size = auto`: the router picks the context at load time within these bounds. */
  ctxAuto?: { min?: number; max?: number };
  /** External backend (`url = http://host:port`): proxied to, never spawned. */
  url?: string;
  /** External backend's load/unload routes, e.g. {method: "POST", path: "/load", body: "{...}"}. */
  loadRoute?: HttpRoute;
  unloadRoute?: HttpRoute;
  /** Where this model's definition came from, for error messages. */
  source: { file?: string; section?: string };
}

export interface HttpRoute {
  method: string;
  path: string;
  body?: string;
}

/** A bad preset or models-dir entry: names the file, section and key at fault. */
export class CatalogError extends Error {
  constructor(
    message: string,
    readonly file?: string,
    readonly section?: string,
    readonly key?: string,
  ) {
    super(
      [file && `${file}`, section !== undefined && `[${section}]`, key && `${key}`]
        .filter(Boolean)
        .join(' ') + (file || section || key ? ': ' : '') + message,
    );
    this.name = 'CatalogError';
  }
}
