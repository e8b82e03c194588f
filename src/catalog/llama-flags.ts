/**
 * llama-server's command-line flags, so preset keys can be written the three ways llama-server's own
 * `--models-preset` accepts them: long name (`ctx-size`), short name (`c`) or environment name
 * (`LLAMA_ARG_CTX_SIZE`), and rendered back to one canonical `--long value` argument.
 *
 * Source: the "Usage" tables of ggml-org/llama.cpp tools/server/README.md at commit 00dc8057ab28 (generated there
 * by llama-gen-docs), one row per entry below: the Argument column, then the `(env: ...)` note of the Explanation
 * column when it has one. LEGACY_ROWS adds flags that newer READMEs dropped but llama-server builds in use still
 * take. To update: copy the Argument column (and env) of new rows; the rows are parsed at load, not hand-decoded.
 *
 * How a row is read (the same rules llama.cpp's common/preset.cpp applies to its own option table):
 * - the names are the leading `-x`/`--xx` tokens; what follows is the value hint (none = a flag);
 * - a flag with both `--x` and `--no-x` forms is one boolean option: names up to the last positive long name are
 *   positive, the rest negative (`-kvo, --kv-offload, -nkvo, --no-kv-offload`);
 * - the canonical name is the last positive name (llama.cpp renders `opt.args.back()`), e.g. `n-gpu-layers`.
 */

/** One llama-server option. */
export interface LlamaFlag {
  /** Canonical long name without dashes, rendered as `--${name}`. */
  name: string;
  /** Every spelling without dashes that means this option set (positive forms, incl. `name`). */
  names: string[];
  /** Spellings that mean this option unset (`no-mmap`); rendered form is the last one. */
  negNames: string[];
  /** Environment variable names (`LLAMA_ARG_CTX_SIZE`). */
  env: string[];
  /** 0 = a flag; 1 = one value; 2 = two values (`--control-vector-layer-range START END`). */
  arity: 0 | 1 | 2;
  /** Value hint from the README (`N`, `TYPE`, `[on|off|auto]`), empty for flags. */
  hint: string;
  /** The value is on/off(/auto): preset booleans (`true`, `1`) are rendered as `on`/`off`. */
  onOff: boolean;
}

const ROWS = [
  // ### Common params
  '-h, --help, --usage',
  '--version',
  '-cl, --cache-list',
  '--completion-bash',
  '-t, --threads N (env: LLAMA_ARG_THREADS)',
  '-tb, --threads-batch N',
  '-C, --cpu-mask M',
  '-Cr, --cpu-range lo-hi',
  '--cpu-strict <0|1>',
  '--prio N',
  '--poll <0...100>',
  '-Cb, --cpu-mask-batch M',
  '-Crb, --cpu-range-batch lo-hi',
  '--cpu-strict-batch <0|1>',
  '--prio-batch N',
  '--poll-batch <0|1>',
  '-c, --ctx-size N (env: LLAMA_ARG_CTX_SIZE)',
  '-n, --predict, --n-predict N (env: LLAMA_ARG_N_PREDICT)',
  '-b, --batch-size N (env: LLAMA_ARG_BATCH)',
  '-ub, --ubatch-size N (env: LLAMA_ARG_UBATCH)',
  '--keep N',
  '--swa-full (env: LLAMA_ARG_SWA_FULL)',
  '-fa, --flash-attn [on|off|auto] (env: LLAMA_ARG_FLASH_ATTN)',
  '--perf, --no-perf (env: LLAMA_ARG_PERF)',
  '-e, --escape, --no-escape',
  '--rope-scaling {none,linear,yarn} (env: LLAMA_ARG_ROPE_SCALING_TYPE)',
  '--rope-scale N (env: LLAMA_ARG_ROPE_SCALE)',
  '--rope-freq-base N (env: LLAMA_ARG_ROPE_FREQ_BASE)',
  '--rope-freq-scale N (env: LLAMA_ARG_ROPE_FREQ_SCALE)',
  '--yarn-orig-ctx N (env: LLAMA_ARG_YARN_ORIG_CTX)',
  '--yarn-ext-factor N (env: LLAMA_ARG_YARN_EXT_FACTOR)',
  '--yarn-attn-factor N (env: LLAMA_ARG_YARN_ATTN_FACTOR)',
  '--yarn-beta-slow N (env: LLAMA_ARG_YARN_BETA_SLOW)',
  '--yarn-beta-fast N (env: LLAMA_ARG_YARN_BETA_FAST)',
  '-kvo, --kv-offload, -nkvo, --no-kv-offload (env: LLAMA_ARG_KV_OFFLOAD)',
  '--repack, -nr, --no-repack (env: LLAMA_ARG_REPACK)',
  '--no-host (env: LLAMA_ARG_NO_HOST)',
  '-ctk, --cache-type-k TYPE (env: LLAMA_ARG_CACHE_TYPE_K)',
  '-ctv, --cache-type-v TYPE (env: LLAMA_ARG_CACHE_TYPE_V)',
  '-dt, --defrag-thold N (env: LLAMA_ARG_DEFRAG_THOLD)',
  '--rpc SERVERS (env: LLAMA_ARG_RPC)',
  '-lm, --load-mode MODE (env: LLAMA_ARG_LOAD_MODE)',
  '-lzm, --lazy-mode MODE (env: LLAMA_ARG_LAZY_MODE)',
  '--numa TYPE (env: LLAMA_ARG_NUMA)',
  '-dev, --device <dev1,dev2,..> (env: LLAMA_ARG_DEVICE)',
  '--list-devices',
  '-ot, --override-tensor <tensor name pattern>=<buffer type>,... (env: LLAMA_ARG_OVERRIDE_TENSOR)',
  '-cmoe, --cpu-moe (env: LLAMA_ARG_CPU_MOE)',
  '-ncmoe, --n-cpu-moe N (env: LLAMA_ARG_N_CPU_MOE)',
  '--moe-cache-mib N (env: LLAMA_ARG_MOE_CACHE_MIB)',
  '-ncffn, --n-cpu-ffn N (env: LLAMA_ARG_N_CPU_FFN)',
  '-ngl, --gpu-layers, --n-gpu-layers N (env: LLAMA_ARG_N_GPU_LAYERS)',
  '-sm, --split-mode {none,layer,row,tensor} (env: LLAMA_ARG_SPLIT_MODE)',
  '-ts, --tensor-split N0,N1,N2,... (env: LLAMA_ARG_TENSOR_SPLIT)',
  '-mg, --main-gpu INDEX (env: LLAMA_ARG_MAIN_GPU)',
  '-fit, --fit [on|off] (env: LLAMA_ARG_FIT)',
  '-fitt, --fit-target MiB0,MiB1,MiB2,... (env: LLAMA_ARG_FIT_TARGET)',
  '-fitc, --fit-ctx N (env: LLAMA_ARG_FIT_CTX)',
  '--check-tensors',
  '--override-kv KEY=TYPE:VALUE,...',
  '--op-offload, --no-op-offload',
  '--lora FNAME',
  '--lora-scaled FNAME:SCALE,...',
  '--control-vector FNAME',
  '--control-vector-scaled FNAME:SCALE,...',
  '--control-vector-layer-range START END',
  '-m, --model FNAME (env: LLAMA_ARG_MODEL)',
  '-mu, --model-url MODEL_URL (env: LLAMA_ARG_MODEL_URL)',
  '-dr, --docker-repo [<repo>/]<model>[:quant] (env: LLAMA_ARG_DOCKER_REPO)',
  '-hf, -hfr, --hf-repo <user>/<model>[:quant] (env: LLAMA_ARG_HF_REPO)',
  '-hff, --hf-file FILE (env: LLAMA_ARG_HF_FILE)',
  '-hft, --hf-token TOKEN (env: HF_TOKEN)',
  '--log-disable',
  '--log-file FNAME (env: LLAMA_ARG_LOG_FILE)',
  '--log-jsonl, --no-log-jsonl (env: LLAMA_ARG_LOG_JSONL)',
  '--log-colors [on|off|auto] (env: LLAMA_ARG_LOG_COLORS)',
  '-v, --verbose, --log-verbose',
  '--offline (env: LLAMA_ARG_OFFLINE)',
  '-lv, --verbosity, --log-verbosity N (env: LLAMA_ARG_LOG_VERBOSITY)',
  '--log-prefix, --no-log-prefix (env: LLAMA_ARG_LOG_PREFIX)',
  '--log-timestamps, --no-log-timestamps (env: LLAMA_ARG_LOG_TIMESTAMPS)',
  '--spec-draft-type-k, -ctkd, --cache-type-k-draft TYPE (env: LLAMA_ARG_SPEC_DRAFT_CACHE_TYPE_K)',
  '--spec-draft-type-v, -ctvd, --cache-type-v-draft TYPE (env: LLAMA_ARG_SPEC_DRAFT_CACHE_TYPE_V)',

  // ### Sampling params
  '--samplers SAMPLERS',
  '-s, --seed SEED',
  '--sampler-seq, --sampling-seq SEQUENCE',
  '--ignore-eos',
  '--temp, --temperature N (env: LLAMA_ARG_TEMPERATURE)',
  '--top-k N (env: LLAMA_ARG_TOP_K)',
  '--top-p N (env: LLAMA_ARG_TOP_P)',
  '--min-p N (env: LLAMA_ARG_MIN_P)',
  '--top-nsigma, --top-n-sigma N',
  '--xtc-probability N',
  '--xtc-threshold N',
  '--typical, --typical-p N',
  '--repeat-last-n N',
  '--repeat-penalty N (env: LLAMA_ARG_REPEAT_PENALTY)',
  '--presence-penalty N (env: LLAMA_ARG_PRESENCE_PENALTY)',
  '--frequency-penalty N (env: LLAMA_ARG_FREQUENCY_PENALTY)',
  '--dry-multiplier N',
  '--dry-base N',
  '--dry-allowed-length N',
  '--dry-penalty-last-n N',
  '--dry-sequence-breaker STRING',
  '--adaptive-target N',
  '--adaptive-decay N',
  '--dynatemp-range N',
  '--dynatemp-exp N',
  '--mirostat N',
  '--mirostat-lr N',
  '--mirostat-ent N',
  '-l, --logit-bias TOKEN_ID(+/-)BIAS',
  '--grammar GRAMMAR',
  '--grammar-file FNAME',
  '-j, --json-schema SCHEMA',
  '-jf, --json-schema-file FILE',
  '-bs, --backend-sampling (env: LLAMA_ARG_BACKEND_SAMPLING)',

  // ### Server-specific params
  '-lcs, --lookup-cache-static FNAME',
  '-lcd, --lookup-cache-dynamic FNAME',
  '--kv-unified-per-slot N (env: LLAMA_ARG_KV_UNIFIED_PER_SLOT)',
  '-ctxcp, --ctx-checkpoints, --swa-checkpoints N (env: LLAMA_ARG_CTX_CHECKPOINTS)',
  '-cms, --checkpoint-min-step N (env: LLAMA_ARG_CHECKPOINT_MIN_SPACING_NT)',
  '-cram, --cache-ram N (env: LLAMA_ARG_CACHE_RAM)',
  '-kvu, --kv-unified, -no-kvu, --no-kv-unified (env: LLAMA_ARG_KV_UNIFIED)',
  '--cache-idle-slots, --no-cache-idle-slots (env: LLAMA_ARG_CACHE_IDLE_SLOTS)',
  '--context-shift, --no-context-shift (env: LLAMA_ARG_CONTEXT_SHIFT)',
  '-r, --reverse-prompt PROMPT',
  '-sp, --special',
  '--warmup, --no-warmup',
  '--spm-infill',
  '--pooling {none,mean,cls,last,rank} (env: LLAMA_ARG_POOLING)',
  '-np, --parallel N (env: LLAMA_ARG_N_PARALLEL)',
  '-cb, --cont-batching, -nocb, --no-cont-batching (env: LLAMA_ARG_CONT_BATCHING)',
  '-mm, --mmproj FILE (env: LLAMA_ARG_MMPROJ)',
  '-mmu, --mmproj-url URL (env: LLAMA_ARG_MMPROJ_URL)',
  '--mmproj-auto, --no-mmproj, --no-mmproj-auto (env: LLAMA_ARG_MMPROJ_AUTO)',
  '--mmproj-offload, --no-mmproj-offload (env: LLAMA_ARG_MMPROJ_OFFLOAD)',
  '-mmdev, --mmproj-device DEVICE (env: MTMD_BACKEND_DEVICE)',
  '--image-min-tokens N (env: LLAMA_ARG_IMAGE_MIN_TOKENS)',
  '--image-max-tokens N (env: LLAMA_ARG_IMAGE_MAX_TOKENS)',
  '--mtmd-batch-max-tokens N (env: LLAMA_ARG_MTMD_BATCH_MAX_TOKENS)',
  '--video-fps N (env: LLAMA_ARG_VIDEO_FPS)',
  '--video-timestamp-interval N (env: LLAMA_ARG_VIDEO_TIMESTAMP_INTERVAL)',
  '--video-ffmpeg-dir DIR (env: LLAMA_ARG_VIDEO_FFMPEG_DIR)',
  '-a, --alias STRING (env: LLAMA_ARG_ALIAS)',
  '--tags STRING (env: LLAMA_ARG_TAGS)',
  '--embd-normalize N',
  '--host HOST (env: LLAMA_ARG_HOST)',
  '--port PORT (env: LLAMA_ARG_PORT)',
  '--reuse-port (env: LLAMA_ARG_REUSE_PORT)',
  '--path PATH (env: LLAMA_ARG_STATIC_PATH)',
  '--cors-origins ORIGINS (env: LLAMA_ARG_CORS_ORIGINS)',
  '--cors-methods METHODS (env: LLAMA_ARG_CORS_METHODS)',
  '--cors-headers HEADERS (env: LLAMA_ARG_CORS_HEADERS)',
  '--cors-credentials, --no-cors-credentials (env: LLAMA_ARG_CORS_CREDENTIALS)',
  '--api-prefix PREFIX (env: LLAMA_ARG_API_PREFIX)',
  '--ui-config, --webui-config JSON (env: LLAMA_ARG_UI_CONFIG)',
  '--ui-config-file, --webui-config-file PATH (env: LLAMA_ARG_UI_CONFIG_FILE)',
  '--ui-mcp-proxy, --webui-mcp-proxy, --no-ui-mcp-proxy, --no-webui-mcp-proxy (env: LLAMA_ARG_UI_MCP_PROXY)',
  '--tools TOOL1,TOOL2,... (env: LLAMA_ARG_TOOLS)',
  '--tools-runtime OPTION (env: LLAMA_ARG_TOOLS_RUNTIME)',
  '--mcp-servers-config PATH (env: LLAMA_ARG_MCP_SERVERS_CONFIG)',
  '--mcp-servers-json JSON (env: LLAMA_ARG_MCP_SERVERS_JSON)',
  '-ag, --agent, -no-ag, --no-agent (env: LLAMA_ARG_AGENT)',
  '--ui, --webui, --no-ui, --no-webui (env: LLAMA_ARG_UI)',
  '--embedding, --embeddings (env: LLAMA_ARG_EMBEDDINGS)',
  '--rerank, --reranking (env: LLAMA_ARG_RERANKING)',
  '--api-key KEY (env: LLAMA_API_KEY)',
  '--api-key-file FNAME (env: LLAMA_ARG_API_KEY_FILE)',
  '--ssl-key-file FNAME (env: LLAMA_ARG_SSL_KEY_FILE)',
  '--ssl-cert-file FNAME (env: LLAMA_ARG_SSL_CERT_FILE)',
  '--chat-template-kwargs STRING (env: LLAMA_ARG_CHAT_TEMPLATE_KWARGS)',
  '-to, --timeout N (env: LLAMA_ARG_TIMEOUT)',
  '--sse-ping-interval N (env: LLAMA_ARG_SSE_PING_INTERVAL)',
  '--threads-http N (env: LLAMA_ARG_THREADS_HTTP)',
  '--cache-prompt, --no-cache-prompt (env: LLAMA_ARG_CACHE_PROMPT)',
  '--cache-reuse N (env: LLAMA_ARG_CACHE_REUSE)',
  '--metrics (env: LLAMA_ARG_ENDPOINT_METRICS)',
  '--props (env: LLAMA_ARG_ENDPOINT_PROPS)',
  '--slots, --no-slots (env: LLAMA_ARG_ENDPOINT_SLOTS)',
  '--slot-save-path PATH (env: LLAMA_ARG_SLOT_SAVE_PATH)',
  '--media-path PATH',
  '--models-dir PATH (env: LLAMA_ARG_MODELS_DIR)',
  '--models-preset PATH (env: LLAMA_ARG_MODELS_PRESET)',
  '--models-max N (env: LLAMA_ARG_MODELS_MAX)',
  '--models-autoload, --no-models-autoload (env: LLAMA_ARG_MODELS_AUTOLOAD)',
  '--jinja, --no-jinja (env: LLAMA_ARG_JINJA)',
  '--reasoning-format FORMAT (env: LLAMA_ARG_THINK)',
  '-rea, --reasoning [on|off|auto] (env: LLAMA_ARG_REASONING)',
  '--reasoning-effort LEVEL (env: LLAMA_ARG_REASONING_EFFORT)',
  '--reasoning-budget N (env: LLAMA_ARG_THINK_BUDGET)',
  '--reasoning-budget-message MESSAGE (env: LLAMA_ARG_THINK_BUDGET_MESSAGE)',
  '--reasoning-preserve, --no-reasoning-preserve (env: LLAMA_ARG_REASONING_PRESERVE)',
  '--chat-template JINJA_TEMPLATE (env: LLAMA_ARG_CHAT_TEMPLATE)',
  '--chat-template-file JINJA_TEMPLATE_FILE (env: LLAMA_ARG_CHAT_TEMPLATE_FILE)',
  '--skip-chat-parsing, --no-skip-chat-parsing (env: LLAMA_ARG_SKIP_CHAT_PARSING)',
  '--prefill-assistant, --no-prefill-assistant (env: LLAMA_ARG_PREFILL_ASSISTANT)',
  '-sps, --slot-prompt-similarity SIMILARITY',
  '--lora-init-without-apply',
  '--sleep-idle-seconds SECONDS',
  '--log-prompts-dir PATH',
  '--spec-draft-hf, -hfd, -hfrd, --hf-repo-draft <user>/<model>[:quant] (env: LLAMA_ARG_SPEC_DRAFT_HF_REPO)',
  '--spec-draft-threads, -td, --threads-draft N',
  '--spec-draft-threads-batch, -tbd, --threads-batch-draft N',
  '--spec-draft-cpu-mask, -Cd, --cpu-mask-draft M',
  '--spec-draft-cpu-range, -Crd, --cpu-range-draft lo-hi',
  '--spec-draft-cpu-strict, --cpu-strict-draft <0|1>',
  '--spec-draft-prio, --prio-draft N',
  '--spec-draft-poll, --poll-draft <0|1>',
  '--spec-draft-cpu-mask-batch, -Cbd, --cpu-mask-batch-draft M',
  '--spec-draft-cpu-strict-batch, --cpu-strict-batch-draft <0|1>',
  '--spec-draft-prio-batch, --prio-batch-draft N',
  '--spec-draft-poll-batch, --poll-batch-draft <0|1>',
  '--spec-draft-override-tensor, -otd, --override-tensor-draft <tensor name pattern>=<buffer type>,...',
  '--spec-draft-cpu-moe, -cmoed, --cpu-moe-draft (env: LLAMA_ARG_SPEC_DRAFT_CPU_MOE)',
  '--spec-draft-n-cpu-moe, --spec-draft-ncmoe, -ncmoed, --n-cpu-moe-draft N (env: LLAMA_ARG_SPEC_DRAFT_N_CPU_MOE)',
  '--spec-draft-n-max N (env: LLAMA_ARG_SPEC_DRAFT_N_MAX)',
  '--spec-draft-n-min N (env: LLAMA_ARG_SPEC_DRAFT_N_MIN)',
  '--spec-synth-len L (env: LLAMA_ARG_SPEC_SYNTH_LEN)',
  '--spec-synth-rates P0,P1,... (env: LLAMA_ARG_SPEC_SYNTH_RATES)',
  '--spec-draft-p-split, --draft-p-split P (env: LLAMA_ARG_SPEC_DRAFT_P_SPLIT)',
  '--spec-draft-p-min, --draft-p-min P (env: LLAMA_ARG_SPEC_DRAFT_P_MIN)',
  '--spec-draft-backend-sampling, --no-spec-draft-backend-sampling (env: LLAMA_ARG_SPEC_DRAFT_BACKEND_SAMPLING)',
  '--spec-draft-sampling {greedy,probabilistic} (env: LLAMA_ARG_SPEC_DRAFT_SAMPLING)',
  '--spec-draft-device, -devd, --device-draft <dev1,dev2,..>',
  '--spec-draft-ngl, -ngld, --gpu-layers-draft, --n-gpu-layers-draft N (env: LLAMA_ARG_N_GPU_LAYERS_DRAFT)',
  '--spec-draft-model, -md, --model-draft FNAME (env: LLAMA_ARG_SPEC_DRAFT_MODEL)',
  '--spec-type none,draft-simple,draft-eagle3,draft-mtp,draft-dflash,draft-dspark,ngram-simple,ngram-map-k,ngram-map-k4v,ngram-mod,ngram-cache (env: LLAMA_ARG_SPEC_TYPE)',
  '--spec-ngram-mod-n-min N',
  '--spec-ngram-mod-n-max N',
  '--spec-ngram-mod-n-match N',
  '--spec-ngram-simple-size-n N',
  '--spec-ngram-simple-size-m N',
  '--spec-ngram-simple-min-hits N',
  '--spec-ngram-map-k-size-n N',
  '--spec-ngram-map-k-size-m N',
  '--spec-ngram-map-k-min-hits N',
  '--spec-ngram-map-k4v-size-n N',
  '--spec-ngram-map-k4v-size-m N',
  '--spec-ngram-map-k4v-min-hits N',
  // Marked "removed" in this README, still taken by the builds most people run.
  '--draft, --draft-n, --draft-max N (env: LLAMA_ARG_DRAFT_MAX)',
  '--draft-min, --draft-n-min N (env: LLAMA_ARG_DRAFT_MIN)',
  '--spec-ngram-size-n N',
  '--spec-ngram-size-m N',
  '--spec-ngram-min-hits N',
  '--embd-gemma-default',
  '--fim-qwen-1.5b-default',
  '--fim-qwen-3b-default',
  '--fim-qwen-7b-default',
  '--fim-qwen-7b-spec',
  '--fim-qwen-14b-spec',
  '--fim-qwen-30b-default',
  '--gpt-oss-20b-default',
  '--gpt-oss-120b-default',
  '--vision-gemma-4b-default',
  '--vision-gemma-12b-default',
  '--spec-default',
];

/**
 * Rows from llama-server READMEs of early 2026 (the router mode's first releases) that the newer one replaced
 * with `--load-mode`; presets written for those builds use them (`no-mmap = true`, `mlock = true`).
 */
const LEGACY_ROWS = [
  '--mlock (env: LLAMA_ARG_MLOCK)',
  '--mmap, --no-mmap (env: LLAMA_ARG_MMAP)',
  '-dio, --direct-io, -ndio, --no-direct-io (env: LLAMA_ARG_DIO)',
];

/**
 * Where llama.cpp's "last name" rule would render a spelling older builds reject, use the older one.
 * `--temperature` was added beside `--temp` recently; every build takes `--temp`.
 */
const PREFERRED_NAME: Record<string, string> = { temperature: 'temp' };

const NAME_TOKEN = /^(-{1,2}[A-Za-z0-9][A-Za-z0-9_.-]*)(, |\s+|$)/;

/** Parses one row (`-c, --ctx-size N (env: LLAMA_ARG_CTX_SIZE)`); exported for tests. */
export function parseFlagRow(row: string): LlamaFlag {
  let rest = row.trim();
  const env: string[] = [];
  const envMatch = /\s*\(env: ([A-Za-z0-9_]+)\)$/.exec(rest);
  if (envMatch) {
    env.push(envMatch[1]!);
    rest = rest.slice(0, envMatch.index);
  }
  const args: string[] = [];
  for (;;) {
    const m = NAME_TOKEN.exec(rest);
    if (!m) break;
    args.push(m[1]!);
    rest = rest.slice(m[0].length);
    if (m[2] !== ', ') break;
  }
  if (args.length === 0) throw new Error(`llama-flags: no flag name in row "${row}"`);
  const hint = rest.trim();
  // Bracketed groups are one token each, so `<tensor name pattern>=<buffer type>` counts once.
  const bare = hint.replace(/<[^>]*>|\[[^\]]*\]|\{[^}]*\}/g, 'X');
  const words = bare.split(/\s+/).filter(Boolean).length;
  const arity = (hint === '' ? 0 : Math.min(Math.max(words, 1), 2)) as 0 | 1 | 2;

  const bare_ = args.map((a) => a.replace(/^-+/, ''));
  let split = args.length;
  if (arity === 0) {
    const lastPosLong = args.findLastIndex((a, i) => a.startsWith('--') && !a.startsWith('--no-') && args.slice(i + 1).some((b) => b.startsWith('--no-')));
    if (lastPosLong >= 0) split = lastPosLong + 1;
  }
  // `-fit, --fit`: the same spelling with one or two dashes is one name.
  const names = [...new Set(bare_.slice(0, split))];
  const negNames = [...new Set(bare_.slice(split))];
  const last = names[names.length - 1]!;
  return {
    name: PREFERRED_NAME[last] ?? last,
    names,
    negNames,
    env,
    arity,
    hint,
    onOff: /^\[on\|off(\|auto)?\]$/.test(hint),
  };
}

/** Every llama-server option this router knows. */
export const LLAMA_FLAGS: readonly LlamaFlag[] = [...ROWS, ...LEGACY_ROWS].map(parseFlagRow);

/** A preset key resolved against the table. */
export interface FlagLookup {
  flag: LlamaFlag;
  /** The key was a negative spelling (`no-mmap`): a boolean value means the opposite. */
  negated: boolean;
}

const BY_KEY = new Map<string, FlagLookup>();
for (const flag of LLAMA_FLAGS) {
  // First row wins on a clash, as a later row is the less current spelling.
  const add = (key: string, negated: boolean) => {
    if (!BY_KEY.has(key)) BY_KEY.set(key, { flag, negated });
  };
  for (const n of flag.names) add(n, false);
  if (PREFERRED_NAME[flag.names[flag.names.length - 1]!]) add(flag.name, false);
  for (const n of flag.negNames) add(n, true);
  for (const e of flag.env) add(e, false);
}

/**
 * Finds the option a preset key or command-line flag names: `ctx-size`, `c`, `LLAMA_ARG_CTX_SIZE`, `no-mmap`,
 * or with dashes (`--ctx-size`, `-c`). Case-sensitive, as llama-server is (`-C` is not `-c`).
 */
export function lookupFlag(key: string): FlagLookup | undefined {
  return BY_KEY.get(key.replace(/^-{1,2}(?=[A-Za-z0-9])/, ''));
}
