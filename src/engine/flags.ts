/**
 * Command-line flags of the bundled engine, spelled as llama-server spells them, so a preset written for
 * llama-server starts this engine unchanged. Flags we do not implement are accepted and reported (never fatal):
 * presets carry tuning flags (`--flash-attn`, `--mlock`, `-ctk q8_0`) that only matter to llama.cpp's own server.
 */
import os from 'node:os';
import { LLAMA_SERVER_VALUE_FLAGS, LLAMA_SERVER_OPTIONAL_VALUE_FLAGS, OPTIONAL_VALUES } from './llama-server-flags.js';

export interface EngineOptions {
  model: string;
  host: string;
  port: number;
  /** Tokens per sequence; 0 = the model's training context. */
  ctxSize: number;
  /** undefined = default (all layers when a GPU exists, none on CPU). */
  gpuLayers: number | 'auto' | 'all' | undefined;
  parallel: number;
  threads: number;
  alias?: string;
  apiKey?: string;
  dryRun: boolean;
  embeddings: boolean;
  /** llama-server flags accepted but without effect here, each named once. */
  ignored: string[];
}

export type ParseResult =
  | { kind: 'ok'; options: EngineOptions }
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'error'; message: string };

export const USAGE = `usage: router-engine -m MODEL.gguf [options]

One GGUF model over OpenAI-compatible HTTP (flags as llama-server names them).

  -m,   --model FILE          GGUF model file (required)
        --host HOST           listen address (default 127.0.0.1)
        --port PORT           listen port (default 8080)
  -c,   --ctx-size N          context tokens per slot (default 2048, 0 = the model's training context)
  -ngl, --n-gpu-layers N      layers to offload to a GPU (number, auto or all)
  -np,  --parallel N          slots: requests served at once (default 1); more wait in a FIFO queue
  -t,   --threads N           CPU threads (default: the machine's core count)
  -a,   --alias NAME          model id reported by /v1/models
        --api-key KEY         require "Authorization: Bearer KEY" on every route but /health
                              (env: LLAMA_API_KEY, as llama-server: keeps the key out of ps and /proc/PID/cmdline)
        --embeddings          accepted (embeddings are always served)
        --dry-run             print the memory the model would use as one JSON line and exit
  -h,   --help                this text

Other llama-server flags are accepted and ignored with a warning.
`;

/** Our own flags: canonical name for each spelling, and whether it takes a value. */
const OWN_FLAGS: Record<string, { name: keyof EngineOptions | 'help' | 'version'; value: boolean }> = {
  '-m': { name: 'model', value: true },
  '--model': { name: 'model', value: true },
  '--host': { name: 'host', value: true },
  '--port': { name: 'port', value: true },
  '-c': { name: 'ctxSize', value: true },
  '--ctx-size': { name: 'ctxSize', value: true },
  '-ngl': { name: 'gpuLayers', value: true },
  '--gpu-layers': { name: 'gpuLayers', value: true },
  '--n-gpu-layers': { name: 'gpuLayers', value: true },
  '-np': { name: 'parallel', value: true },
  '--parallel': { name: 'parallel', value: true },
  '-t': { name: 'threads', value: true },
  '--threads': { name: 'threads', value: true },
  '-a': { name: 'alias', value: true },
  '--alias': { name: 'alias', value: true },
  '--api-key': { name: 'apiKey', value: true },
  '--dry-run': { name: 'dryRun', value: false },
  '--embedding': { name: 'embeddings', value: false },
  '--embeddings': { name: 'embeddings', value: false },
  '-h': { name: 'help', value: false },
  '--help': { name: 'help', value: false },
  '--version': { name: 'version', value: false },
};

export function defaultThreads(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

function parseInteger(flag: string, raw: string, min: number): number | string {
  if (!/^-?\d+$/.test(raw.trim())) return `${flag} expects an integer, got "${raw}"`;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) return `${flag} expects an integer >= ${min}, got "${raw}"`;
  return n;
}

/** `env`: where LLAMA_API_KEY is read when --api-key is not given (llama-server's rule: the flag wins). */
export function parseFlags(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParseResult {
  const options: EngineOptions = {
    model: '',
    host: '127.0.0.1',
    port: 8080,
    ctxSize: 2048,
    gpuLayers: undefined,
    parallel: 1,
    threads: defaultThreads(),
    dryRun: false,
    embeddings: false,
    ignored: [],
  };
  const ignored = new Set<string>();

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    // `--flag=value` is accepted for every flag that takes a value.
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inlineValue = eq > 0 ? arg.slice(eq + 1) : undefined;

    const own = OWN_FLAGS[flag];
    if (own) {
      if (own.name === 'help') return { kind: 'help' };
      if (own.name === 'version') return { kind: 'version' };
      let value: string | undefined;
      if (own.value) {
        // A value-taking flag always consumes the next token, even one starting with '-' (e.g. `-t -1`).
        value = inlineValue ?? argv[++i];
        if (value === undefined) return { kind: 'error', message: `${flag} needs a value` };
      } else if (inlineValue !== undefined) {
        return { kind: 'error', message: `${flag} takes no value` };
      }
      const problem = applyOwnFlag(options, own.name as keyof EngineOptions, flag, value);
      if (problem) return { kind: 'error', message: problem };
      continue;
    }

    if (!arg.startsWith('-') || arg === '-') {
      return { kind: 'error', message: `unexpected argument "${arg}"` };
    }

    // Someone else's flag: swallow its value so that value is not read as a flag or a stray argument.
    ignored.add(flag);
    if (inlineValue !== undefined) continue;
    const next = argv[i + 1];
    if (LLAMA_SERVER_VALUE_FLAGS.has(flag)) {
      const arity = LLAMA_SERVER_VALUE_FLAGS.get(flag)!;
      i += arity;
    } else if (LLAMA_SERVER_OPTIONAL_VALUE_FLAGS.has(flag)) {
      if (next !== undefined && OPTIONAL_VALUES.has(next.toLowerCase())) i++;
    } else if (!LLAMA_SERVER_BOOLEAN_HINT(flag) && next !== undefined && !next.startsWith('-')) {
      // Unknown flag followed by a plain token: most likely its value.
      i++;
    }
  }

  if (!options.model) return { kind: 'error', message: 'missing -m/--model' };
  if (options.apiKey === undefined && env.LLAMA_API_KEY) options.apiKey = env.LLAMA_API_KEY;
  options.ignored = [...ignored];
  return { kind: 'ok', options };
}

/** Flags that look like switches (`--no-x`) never take the next token. */
function LLAMA_SERVER_BOOLEAN_HINT(flag: string): boolean {
  return flag.startsWith('--no-');
}

function applyOwnFlag(options: EngineOptions, name: keyof EngineOptions, flag: string, value?: string): string | undefined {
  switch (name) {
    case 'model':
      if (!value) return `${flag} needs a file`;
      options.model = value;
      return;
    case 'host':
      if (!value) return `${flag} needs a host`;
      options.host = value;
      return;
    case 'port': {
      const n = parseInteger(flag, value!, 0);
      if (typeof n === 'string') return n;
      if (n > 65535) return `${flag} expects a port (0-65535), got "${value}"`;
      options.port = n;
      return;
    }
    case 'ctxSize': {
      const n = parseInteger(flag, value!, 0);
      if (typeof n === 'string') return n;
      options.ctxSize = n;
      return;
    }
    case 'gpuLayers': {
      const v = value!.trim().toLowerCase();
      if (v === 'auto' || v === 'all') {
        options.gpuLayers = v;
        return;
      }
      // llama-server treats a negative count as "default"; so do we.
      const n = parseInteger(flag, value!, Number.MIN_SAFE_INTEGER);
      if (typeof n === 'string') return `${flag} expects a number, auto or all, got "${value}"`;
      options.gpuLayers = n < 0 ? undefined : n;
      return;
    }
    case 'parallel': {
      // llama-server's -np -1 means "auto"; one slot is the safe reading of that.
      const n = parseInteger(flag, value!, -1);
      if (typeof n === 'string') return n;
      options.parallel = n <= 0 ? 1 : n;
      return;
    }
    case 'threads': {
      const n = parseInteger(flag, value!, -1);
      if (typeof n === 'string') return n;
      options.threads = n <= 0 ? defaultThreads() : n;
      return;
    }
    case 'alias':
      options.alias = value;
      return;
    case 'apiKey':
      if (!value) return `${flag} needs a key`;
      options.apiKey = value;
      return;
    case 'dryRun':
      options.dryRun = true;
      return;
    case 'embeddings':
      options.embeddings = true;
      return;
    default:
      return `unsupported flag ${flag}`;
  }
}
