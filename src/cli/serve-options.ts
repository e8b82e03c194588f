/** The `router` command's flags: one validated config, defaults documented in --help. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { bytes, deviceSizes, hostList, integer, oneOf, originList, seconds } from './parse.js';

export interface ServeConfig {
  modelsDir?: string;
  modelsPreset?: string;
  modelsMax: number;
  /** undefined: not on the command line (a preset's [*] models-autoload, else true). */
  modelsAutoload?: boolean;
  host: string;
  port: number;
  apiKey?: string;
  /** llama-server's --api-key-file: one key per line, each accepted (with --api-key's, if any). */
  apiKeyFile?: string;
  /** llama-server's --metrics: the router's /metrics is always on; children get --metrics for /metrics?model=. */
  metrics: boolean;
  /** A bad preset section stops the router at start (the old behaviour) instead of marking only that model. */
  strictPresets: boolean;
  /** --allowed-hosts: more Host names served (src/http/host-guard.ts). */
  allowedHosts?: string[];
  /** --cors-origin: origins whose pages may use the router (src/http/cors.ts). */
  corsOrigin?: string[];
  serverBin?: string;
  fitParamsBin?: string;
  loadTimeout: number;
  upstreamTimeout: number;
  sendTimeout: number;
  stopTimeout: number;
  queueMax: number;
  queueTimeout: number;
  stateDir?: string;
  maxBody: number;
  modelsMemoryMargin: number;
  modelsMemoryMax?: Record<string, number>;
  modelsTtl?: number;
  serial: boolean;
  /** Seconds a waiter lets busy models keep taking their own requests before they drain for it. */
  drainWindow: number;
  modelsConcurrency?: number;
  shutdownGrace: number;
  logFormat?: 'json' | 'pretty';
  logLevel: string;
  watch: boolean;
  demo: boolean;
  /**
   * Timing knobs hidden from --help (seconds; undefined keeps the component's default). They exist so tests can
   * cross a constant instead of sleeping past it; a user has no reason to change them (README, "Timing knobs").
   */
  tick?: number;
  deviceReadingMaxAge?: number;
  deviceCache?: number;
  memoryRecover?: number;
  /** Child flags after `--`, applied to every model (precedence over presets). */
  childArgs: string[];
  /** Options set on the command line or by environment (not defaults), by attribute name. */
  explicit?: ReadonlySet<string>;
}

export function addServeOptions(cmd: Command): Command {
  return cmd
    .option('--models-dir <dir>', 'folder of GGUF models (NAME.gguf, or NAME/ with shards and mmproj)')
    .option('--models-preset <path>', 'preset INI file, or a folder of per-model NAME.ini files')
    .option('--models-max <n>', 'most models loaded at once (0 = no count limit)', integer(0), 4)
    .option('--models-autoload', 'load a model on its first request (the default; llama-server\'s flag)')
    .option('--no-models-autoload', 'do not load a model on request; 400 until POST /models/load')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', integer(0, 65535), 8080)
    .addOption(new Option('--api-key <key>', 'require Authorization: Bearer KEY on every route but /health').env('ROUTER_API_KEY'))
    .option('--api-key-file <path>', 'file of API keys, one per line, each accepted (as llama-server reads it)')
    .option('--metrics', 'accepted as llama-server takes it: /metrics is always on here; children also get --metrics (for /metrics?model=)', false)
    .option('--strict-presets', 'refuse to start when any preset section is bad (default: only that model fails)', false)
    .option('--allowed-hosts <names>', 'more Host names to answer to when listening on loopback (NAME,.DOMAIN,...; * = any); also turns the check on for other binds', hostList)
    .option('--cors-origin <origins>', 'origins whose web pages may call the router (https://app.example,...; * = any page: unsafe without --api-key)', originList)
    .option('--server-bin <path>', 'child inference server (default: llama-server on PATH, else the bundled router-engine)')
    .option('--fit-params-bin <path>', 'llama-fit-params, the memory probe for llama-server children (default: beside --server-bin, else on PATH)')
    .option('--load-timeout <s>', 'seconds a child may take to become ready', seconds, 600)
    .option('--upstream-timeout <s>', 'seconds a child may send nothing on a request before its client gets a 504 and the child a health check (0 = no limit)', seconds, 600)
    .option('--send-timeout <s>', 'seconds a client may take none of its answer before the router cuts it and frees the child (0 = no limit)', seconds, 600)
    .option('--stop-timeout <s>', 'seconds between SIGTERM and SIGKILL when stopping a child', seconds, 10)
    .option('--queue-max <n>', 'most requests waiting for a model (503 beyond)', integer(0), 256)
    .option('--queue-timeout <s>', 'seconds a request may wait for its model (503 after)', seconds, 600)
    .option('--state-dir <dir>', 'where measured memory is kept (default: ~/.cache/model-router)')
    .addOption(new Option('--max-body <size>', 'largest request body (413 beyond)').argParser(bytes).default(64 * 2 ** 20, '64MiB'))
    .option('--models-memory-margin <MiB>', 'MiB kept free on every device a load touches (0 = no free-memory check)', integer(0), 1024)
    .option('--models-memory-max <DEV=SIZE,...>', "cap on what the router's children use per device, e.g. CUDA0=20GiB,CPU=8GiB", deviceSizes)
    .option('--models-ttl <s>', 'unload a model idle this many seconds (a preset ttl wins)', seconds)
    .option('--models-concurrency <n>', 'most requests in flight per model (a preset concurrency wins)', integer(1))
    .option('--serial', 'one request at a time across all models (a global GPU lock)', false)
    .option('--drain-window <s>', 'seconds a request waiting for room lets busy models keep taking new requests before they drain for it (0 = drain at once)', seconds, 15)
    .option('--shutdown-grace <s>', 'seconds in-flight requests get to finish on SIGTERM/SIGINT', seconds, 30)
    .addOption(new Option('--log-format <format>', 'router log format (default: pretty on a terminal, else json)').argParser(oneOf(['json', 'pretty'] as const)))
    .addOption(new Option('--log-level <level>', 'router log level').choices(['trace', 'debug', 'info', 'warn', 'error']).default('info'))
    .option('--watch', 'reload when the models folder or preset files change', false)
    .option('--demo', 'make three tiny demo models in --models-dir when it has none', false)
    // Hidden: internal timings, settable so tests wait on a short constant instead of sleeping past the default.
    .addOption(new Option('--tick <s>', 'how often queue timeouts, load timeouts and TTLs are checked (default 0.5)').argParser(positiveSeconds).hideHelp())
    .addOption(new Option('--device-reading-max-age <s>', 'oldest device reading a load is planned on when free memory matters (default 1)').argParser(seconds).hideHelp())
    .addOption(new Option('--device-cache <s>', 'how long a GPU tool answer is reused (default 0.5)').argParser(seconds).hideHelp())
    .addOption(new Option('--memory-recover <s>', 'after an unload, how long a short reading is blamed on memory not yet released (default 5)').argParser(seconds).hideHelp());
}

/** A period: 0 would make the router's tick a busy loop. */
function positiveSeconds(value: string): number {
  const n = seconds(value);
  if (n <= 0) throw new InvalidArgumentError(`'${value}' is not a positive number of seconds.`);
  return n;
}
