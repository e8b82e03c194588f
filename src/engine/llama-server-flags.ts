/**
 * llama-server flags this engine does not implement, by how many values follow them. Knowing the arity lets us
 * skip a flag and its value together: `--cache-type-k q8_0` must not leave `q8_0` behind as a stray argument,
 * and `--seed -1` must not read `-1` as a flag. Taken from llama-server --help (b6xxx-b7xxx); unknown flags fall
 * back to a heuristic in flags.ts.
 */

/** flag -> number of values it consumes. */
export const LLAMA_SERVER_VALUE_FLAGS: ReadonlyMap<string, number> = new Map([
  // CPU and threads
  ...one('-tb', '--threads-batch', '-C', '--cpu-mask', '-Cr', '--cpu-range', '--prio', '--poll',
    '-Cb', '--cpu-mask-batch', '-Crb', '--cpu-range-batch', '--prio-batch', '--poll-batch', '--numa'),
  // context, batching, cache
  ...one('-n', '--predict', '--n-predict', '-b', '--batch-size', '-ub', '--ubatch-size', '--keep',
    '-ctk', '--cache-type-k', '-ctv', '--cache-type-v', '-ctkd', '--cache-type-k-draft', '-ctvd',
    '--cache-type-v-draft', '-dt', '--defrag-thold', '--cache-reuse', '--cache-ram', '-cram', '--ctx-checkpoints',
    '--swa-checkpoints', '-ctxcp', '--slot-prompt-similarity', '-sps', '--chunks', '-kvu'),
  // RoPE / YaRN
  ...one('--rope-scaling', '--rope-scale', '--rope-freq-base', '--rope-freq-scale', '--yarn-orig-ctx',
    '--yarn-ext-factor', '--yarn-attn-factor', '--yarn-beta-slow', '--yarn-beta-fast'),
  // devices and offload
  ...one('-dev', '--device', '-ot', '--override-tensor', '-ncmoe', '--n-cpu-moe', '-sm', '--split-mode',
    '-ts', '--tensor-split', '-mg', '--main-gpu', '--override-kv', '-fitt', '--fit-target', '-fitc', '--fit-ctx'),
  // adapters
  ...one('--lora', '--control-vector'),
  ...two('--lora-scaled', '--control-vector-scaled', '--control-vector-layer-range', '--spec-replace'),
  // where the model comes from
  ...one('-mu', '--model-url', '-hf', '-hfr', '--hf-repo', '-hfd', '-hfrd', '--hf-repo-draft', '-hff', '--hf-file',
    '-hfv', '-hfrv', '--hf-repo-v', '-hffv', '--hf-file-v', '-hft', '--hf-token', '-dr', '--docker-repo'),
  // logging
  ...one('--log-file', '-lv', '--verbosity', '--log-verbosity'),
  // sampling defaults
  ...one('--samplers', '-s', '--seed', '--sampling-seq', '--sampler-seq', '--temp', '--top-k', '--top-p', '--min-p',
    '--top-nsigma', '--xtc-probability', '--xtc-threshold', '--typical', '--repeat-last-n', '--repeat-penalty',
    '--presence-penalty', '--frequency-penalty', '--dry-multiplier', '--dry-base', '--dry-allowed-length',
    '--dry-penalty-last-n', '--dry-sequence-breaker', '--dynatemp-range', '--dynatemp-exp', '--mirostat',
    '--mirostat-lr', '--mirostat-ent', '-l', '--logit-bias', '--grammar', '--grammar-file', '-j', '--json-schema',
    '-jf', '--json-schema-file', '-r', '--reverse-prompt'),
  // model behaviour
  ...one('--pooling', '--attention', '--chat-template', '--chat-template-file', '--chat-template-kwargs',
    '--reasoning-format', '--reasoning-budget', '--image-min-tokens', '--image-max-tokens', '--mmproj',
    '--mmproj-url', '-mm', '-mmu', '--media-path'),
  // server
  ...one('--api-key-file', '--ssl-key-file', '--ssl-cert-file', '-to', '--timeout', '--threads-http', '--path',
    '--api-prefix', '--slot-save-path', '--sleep-idle-seconds', '--models-dir', '--models-max', '--models-preset',
    '--webui-config', '--webui-config-file'),
  // speculative decoding
  ...one('-md', '--model-draft', '-td', '--threads-draft', '-tbd', '--threads-batch-draft', '-Cd', '--cpu-mask-draft',
    '-Crd', '--cpu-range-draft', '-Cbd', '--cpu-mask-batch-draft', '-Crbd', '--cpu-range-batch-draft',
    '--prio-draft', '--poll-draft', '--prio-batch-draft', '--poll-batch-draft', '--draft-max', '--draft',
    '--draft-n', '--draft-min', '--draft-n-min', '--draft-p-min', '-cd', '--ctx-size-draft', '-devd',
    '--device-draft', '-ngld', '--gpu-layers-draft', '--n-gpu-layers-draft', '-otd', '--override-tensor-draft',
    '-cmoed', '--n-cpu-moe-draft', '-mv', '--model-vocoder', '--tts-speaker-file'),
]);

/**
 * Flags that were switches in older llama-server and take on|off|auto in newer ones (`--flash-attn` and
 * `-fa on` both occur in real presets): the next token is theirs only when it is one of OPTIONAL_VALUES.
 */
export const LLAMA_SERVER_OPTIONAL_VALUE_FLAGS: ReadonlySet<string> = new Set([
  '-fa', '--flash-attn', '--log-colors', '-fit', '--fit', '--context-shift', '--cont-batching', '-cb', '--jinja',
  '--mmap', '--mlock', '--warmup', '--webui', '--metrics', '--slots', '--props', '--swa-full', '--kv-offload',
]);

export const OPTIONAL_VALUES: ReadonlySet<string> = new Set(['on', 'off', 'auto', 'true', 'false', '1', '0', 'enabled', 'disabled']);

function one(...flags: string[]): Array<[string, number]> {
  return flags.map((f) => [f, 1]);
}

function two(...flags: string[]): Array<[string, number]> {
  return flags.map((f) => [f, 2]);
}
