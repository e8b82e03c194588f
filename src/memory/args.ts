/**
 * The child arguments that change how much memory a model takes, normalised so that `-c 4096`,
 * `--ctx-size 4096` and `--ctx-size=4096` are one setting. Everything else (threads, host, port, alias,
 * sampling defaults, ...) is ignored: it must not split the measured ledger into needless entries.
 *
 * Names follow llama-server (and our engine, which takes the same flags). Later occurrences win, as
 * in llama.cpp; repeatable flags (--override-tensor, --lora) accumulate in order.
 */

interface Flag {
  /** Canonical name: llama-server's long flag without dashes. */
  name: string;
  /** 'value': takes one argument; 'flag': none; 'optional': takes one if it looks like a value. */
  arity: 'value' | 'flag' | 'optional' | 2;
  repeat?: boolean;
  /** For a 'flag': the value it sets (default '1'); lets `--mmap` undo `--no-mmap`. */
  sets?: string;
  /** How values are compared: numbers by value, enums case-insensitively, others verbatim. */
  kind?: 'number' | 'enum' | 'list' | 'text';
}

const FLAGS: Array<[string[], Flag]> = [
  [['-c', '--ctx-size'], { name: 'ctx-size', arity: 'value', kind: 'number' }],
  [['-np', '--parallel'], { name: 'parallel', arity: 'value', kind: 'number' }],
  [['-ngl', '--gpu-layers', '--n-gpu-layers'], { name: 'n-gpu-layers', arity: 'value', kind: 'enum' }],
  [['-ctk', '--cache-type-k'], { name: 'cache-type-k', arity: 'value', kind: 'enum' }],
  [['-ctv', '--cache-type-v'], { name: 'cache-type-v', arity: 'value', kind: 'enum' }],
  [['-ts', '--tensor-split'], { name: 'tensor-split', arity: 'value', kind: 'list' }],
  [['-sm', '--split-mode'], { name: 'split-mode', arity: 'value', kind: 'enum' }],
  [['-mg', '--main-gpu'], { name: 'main-gpu', arity: 'value', kind: 'number' }],
  [['-dev', '--device'], { name: 'device', arity: 'value', kind: 'text' }],
  [['-b', '--batch-size'], { name: 'batch-size', arity: 'value', kind: 'number' }],
  [['-ub', '--ubatch-size'], { name: 'ubatch-size', arity: 'value', kind: 'number' }],
  [['-fa', '--flash-attn'], { name: 'flash-attn', arity: 'optional', kind: 'enum' }],
  [['--no-mmap'], { name: 'no-mmap', arity: 'flag' }],
  [['--mmap'], { name: 'no-mmap', arity: 'flag', sets: '0' }],
  [['--mlock'], { name: 'mlock', arity: 'flag' }],
  [['-nkvo', '--no-kv-offload'], { name: 'no-kv-offload', arity: 'flag' }],
  [['-kvo', '--kv-offload'], { name: 'no-kv-offload', arity: 'flag', sets: '0' }],
  [['-kvu', '--kv-unified'], { name: 'kv-unified', arity: 'flag' }],
  [['--swa-full'], { name: 'swa-full', arity: 'flag' }],
  [['-cram', '--cache-ram'], { name: 'cache-ram', arity: 'value', kind: 'number' }],
  [['-ot', '--override-tensor'], { name: 'override-tensor', arity: 'value', repeat: true, kind: 'text' }],
  [['-cmoe', '--cpu-moe'], { name: 'cpu-moe', arity: 'flag' }],
  [['-ncmoe', '--n-cpu-moe'], { name: 'n-cpu-moe', arity: 'value', kind: 'number' }],
  [['-mm', '--mmproj'], { name: 'mmproj', arity: 'value', kind: 'text' }],
  [['--no-mmproj-offload'], { name: 'no-mmproj-offload', arity: 'flag' }],
  [['--mmproj-offload'], { name: 'no-mmproj-offload', arity: 'flag', sets: '0' }],
  [['-md', '--model-draft'], { name: 'model-draft', arity: 'value', kind: 'text' }],
  [['-cd', '--ctx-size-draft'], { name: 'ctx-size-draft', arity: 'value', kind: 'number' }],
  [['-ngld', '--gpu-layers-draft', '--n-gpu-layers-draft'], { name: 'n-gpu-layers-draft', arity: 'value', kind: 'enum' }],
  [['-ctkd', '--cache-type-k-draft'], { name: 'cache-type-k-draft', arity: 'value', kind: 'enum' }],
  [['-ctvd', '--cache-type-v-draft'], { name: 'cache-type-v-draft', arity: 'value', kind: 'enum' }],
  [['-devd', '--device-draft'], { name: 'device-draft', arity: 'value', kind: 'text' }],
  [['--lora'], { name: 'lora', arity: 'value', repeat: true, kind: 'text' }],
  [['--lora-scaled'], { name: 'lora-scaled', arity: 2, repeat: true, kind: 'text' }],
  [['-fit', '--fit'], { name: 'fit', arity: 'value', kind: 'enum' }],
  [['-fitt', '--fit-target'], { name: 'fit-target', arity: 'value', kind: 'text' }],
  [['-fitc', '--fit-ctx'], { name: 'fit-ctx', arity: 'value', kind: 'number' }],
];

const BY_SPELLING = new Map<string, Flag>();
for (const [spellings, flag] of FLAGS) for (const s of spellings) BY_SPELLING.set(s, flag);

/** llama-server also reads its settings from LLAMA_ARG_* variables (arguments win over them). */
const ENV: Record<string, string> = {
  LLAMA_ARG_CTX_SIZE: 'ctx-size',
  LLAMA_ARG_N_PARALLEL: 'parallel',
  LLAMA_ARG_N_GPU_LAYERS: 'n-gpu-layers',
  LLAMA_ARG_CACHE_TYPE_K: 'cache-type-k',
  LLAMA_ARG_CACHE_TYPE_V: 'cache-type-v',
  LLAMA_ARG_TENSOR_SPLIT: 'tensor-split',
  LLAMA_ARG_SPLIT_MODE: 'split-mode',
  LLAMA_ARG_MAIN_GPU: 'main-gpu',
  LLAMA_ARG_BATCH: 'batch-size',
  LLAMA_ARG_UBATCH: 'ubatch-size',
  LLAMA_ARG_FLASH_ATTN: 'flash-attn',
  LLAMA_ARG_NO_MMAP: 'no-mmap',
  LLAMA_ARG_MLOCK: 'mlock',
  LLAMA_ARG_NO_KV_OFFLOAD: 'no-kv-offload',
  LLAMA_ARG_KV_UNIFIED: 'kv-unified',
  LLAMA_ARG_CACHE_RAM: 'cache-ram',
  LLAMA_ARG_N_CPU_MOE: 'n-cpu-moe',
  LLAMA_ARG_CPU_MOE: 'cpu-moe',
  LLAMA_ARG_MMPROJ: 'mmproj',
  LLAMA_ARG_DEVICE: 'device',
};

const FA_VALUES = new Set(['on', 'off', 'auto', 'true', 'false', '1', '0', 'enabled', 'disabled']);

function normalise(flag: Flag, value: string): string {
  const v = value.trim();
  switch (flag.kind) {
    case 'number': {
      const n = Number(v);
      return v !== '' && Number.isFinite(n) ? String(n) : v;
    }
    case 'enum': {
      const l = v.toLowerCase();
      if (flag.name === 'flash-attn') return { true: 'on', '1': 'on', enabled: 'on', false: 'off', '0': 'off', disabled: 'off' }[l] ?? l;
      if (/^-?\d+(\.\d+)?$/.test(l)) return String(Number(l));
      return l;
    }
    case 'list':
      // llama.cpp splits --tensor-split on ',' or '/'.
      return v
        .split(/[,/]/)
        .map((x) => (Number.isFinite(Number(x)) && x.trim() !== '' ? String(Number(x)) : x.trim()))
        .join(',');
    default:
      return v;
  }
}

/**
 * Canonical memory-relevant settings from child arguments (and, optionally, the child's environment).
 * `{'ctx-size': '4096', 'flash-attn': 'on', 'override-tensor': 'exps=CPU;blk\\.1=CUDA0'}`; boolean flags
 * map to '1' (or '0' for their opposites, `--mmap` after `--no-mmap`); repeated flags join their values with ';'.
 */
export function memoryArgs(args: readonly string[], env?: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  if (env) {
    for (const [varName, name] of Object.entries(ENV)) {
      const v = env[varName];
      if (v === undefined) continue;
      const flag = [...BY_SPELLING.values()].find((f) => f.name === name && f.sets === undefined)!;
      out[name] = flag.arity === 'flag' ? (/^(0|false|off|)$/i.test(v.trim()) ? '0' : '1') : normalise(flag, v);
    }
  }
  const repeated = new Map<string, string[]>();
  for (let i = 0; i < args.length; i++) {
    const token = args[i]!;
    const eq = token.startsWith('--') ? token.indexOf('=') : -1;
    const spelling = eq > 0 ? token.slice(0, eq) : token;
    const flag = BY_SPELLING.get(spelling);
    if (!flag) continue; // not a memory setting (or a value of one we do not know): skip it
    let value: string;
    if (flag.arity === 'flag') {
      value = flag.sets ?? '1';
    } else if (eq > 0) {
      value = token.slice(eq + 1);
    } else if (flag.arity === 'optional') {
      const next = args[i + 1];
      if (next !== undefined && FA_VALUES.has(next.toLowerCase())) {
        value = next;
        i++;
      } else {
        value = 'on';
      }
    } else if (flag.arity === 2) {
      value = `${args[i + 1] ?? ''} ${args[i + 2] ?? ''}`;
      i += 2;
    } else {
      value = args[i + 1] ?? '';
      i++;
    }
    const v = flag.arity === 'flag' ? value : normalise(flag, value);
    if (flag.repeat) {
      const list = repeated.get(flag.name) ?? [];
      list.push(v);
      repeated.set(flag.name, list);
    } else {
      out[flag.name] = v;
    }
  }
  for (const [name, list] of repeated) out[name] = list.join(';');
  return out;
}
