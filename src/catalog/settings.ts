/**
 * One preset key = one Setting: the key resolved to what it means (a llama-server option, a router key, or a
 * child environment variable), its value, and where it was written (for error messages).
 */

import { lookupFlag, type LlamaFlag } from './llama-flags.js';
import { CatalogError, type HttpRoute } from './model-spec.js';
import {
  ValueError,
  isBoolWord,
  parseBackendUrl,
  parseBool,
  parseInteger,
  parseMemory,
  parseNonEmpty,
  parseNonNegativeInteger,
  parseNumber,
  parsePositiveInteger,
  parseRoute,
  parseSeconds,
} from './values.js';

/** Which level of the precedence a setting came from, lowest first. */
export type Layer = 'models-dir' | 'global' | 'model' | 'cli';

export interface Origin {
  file?: string;
  section?: string;
  /** The key as written: `c`, `LLAMA_ARG_CTX_SIZE`, or on the command line `--ctx-size`. */
  key: string;
  line?: number;
  layer: Layer;
  /** Folder for relative paths (the preset file's folder). */
  baseDir?: string;
}

export type Setting =
  | { kind: 'flag'; id: string; flag: LlamaFlag; value: string | boolean; origin: Origin }
  | { kind: 'router'; id: RouterKey; value: string; origin: Origin }
  | { kind: 'env'; id: string; name: string; value: string; origin: Origin };

/** Keys the router reads itself; they never reach the child's argv. */
export const ROUTER_KEYS = [
  'model',
  'mmproj',
  'alias',
  'load-on-startup',
  'stop-timeout',
  'ttl',
  'priority',
  'pin',
  'exclusive-group',
  'memory',
  'probe',
  'cmd',
  'health-path',
  'concurrency',
  'gpu-lock',
  'ctx-min',
  'ctx-max',
  'url',
  'load',
  'unload',
  // llama-server preset-only key for its HF cache listing; this router has no cache source: accepted, no effect.
  'dedup-cache-models',
] as const;
export type RouterKey = (typeof ROUTER_KEYS)[number];

const ROUTER_KEY_SET = new Set<string>(ROUTER_KEYS);

/** llama-server options the router itself sets for every child (or that only make sense for a router). */
const RESERVED = new Set([
  'host',
  'port',
  'api-key',
  'api-key-file',
  'ssl-key-file',
  'ssl-cert-file',
  'models-dir',
  'models-preset',
  'models-max',
  'models-autoload',
]);

/** llama-server options whose preset keys are router keys here (the router passes them its own way). */
const FLAG_AS_ROUTER_KEY = new Set<string>(['model', 'mmproj', 'alias']);

/** Keys that describe one model and make no sense in [*] (every model would get the same one). */
export const PER_MODEL_ONLY = new Set<string>(['model', 'mmproj', 'alias', 'url']);

/** Options with which llama-server downloads its model itself; the router does not (it needs the file). */
export const DOWNLOAD_SOURCES = new Set(['hf-repo', 'model-url', 'docker-repo']);

export function fail(origin: Pick<Origin, 'file' | 'section' | 'key' | 'line'>, message: string): never {
  const where = origin.line ? ` (line ${origin.line})` : origin.file || origin.section ? '' : ' (router command line)';
  throw new CatalogError(message + where, origin.file, origin.section, origin.key);
}

/** Runs a value parser, turning its ValueError into a CatalogError at `origin`. */
export function at<T>(origin: Origin, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof ValueError) fail(origin, err.message);
    throw err;
  }
}

/** Resolves one `key = value` to a Setting; throws CatalogError for an unknown or reserved key or a bad boolean. */
export function toSetting(key: string, value: string, origin: Origin): Setting | undefined {
  if (key === 'version') return undefined; // llama-server's reserved "version = 1"
  if (key.startsWith('env.')) {
    const name = key.slice(4);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) fail(origin, `"${name}" is not an environment variable name`);
    return { kind: 'env', id: key, name, value, origin };
  }
  if (ROUTER_KEY_SET.has(key)) {
    const setting: Setting = { kind: 'router', id: key as RouterKey, value, origin };
    checkRouterValue(setting);
    return setting;
  }
  const found = lookupFlag(key);
  if (!found) fail(origin, `unknown key (not a llama-server option, nor a router key)`);
  const { flag, negated } = found;
  if (RESERVED.has(flag.name)) fail(origin, `--${flag.name} is chosen by the router for each child; remove it`);
  if (FLAG_AS_ROUTER_KEY.has(flag.name)) {
    const setting: Setting = { kind: 'router', id: flag.name as RouterKey, value, origin };
    checkRouterValue(setting);
    return setting;
  }
  if (flag.arity === 0) {
    const on = at(origin, () => parseBool(value));
    return { kind: 'flag', id: flag.name, flag, value: negated ? !on : on, origin };
  }
  const setting: Setting = { kind: 'flag', id: flag.name, flag, value, origin };
  checkFlagValue(setting);
  return setting;
}

/** Options documented as "a number, 'auto' or 'all'". */
const NUMBER_OR_WORD: Record<string, string[]> = {
  'n-gpu-layers': ['auto', 'all'],
  'n-gpu-layers-draft': ['auto', 'all'],
};

/** Checks what can be checked of a llama-server value without knowing the llama-server build. */
export function checkFlagValue(s: Extract<Setting, { kind: 'flag' }>): void {
  const v = s.value as string;
  const { flag, origin } = s;
  if (v === '') fail(origin, `needs a value (${flag.hint})`);
  if (flag.name === 'ctx-size') {
    if (v !== 'auto') at(origin, () => parseNonNegativeInteger(v));
    return;
  }
  if (flag.arity === 2 && v.split(/\s+/).length !== 2) fail(origin, `needs two values separated by a space (${flag.hint})`);
  if (flag.hint === 'N' && !NUMBER_OR_WORD[flag.name]?.includes(v.toLowerCase())) {
    at(origin, () => parseNumber(v));
  }
}

/** A router key's parsed value. */
export interface RouterValues {
  model: string;
  mmproj: string;
  alias: string[];
  'load-on-startup': boolean;
  'stop-timeout': number;
  ttl: number;
  priority: number;
  pin: boolean;
  'exclusive-group': string;
  memory: Record<string, number>;
  probe: string;
  cmd: string;
  'health-path': string;
  concurrency: number;
  'gpu-lock': boolean;
  'ctx-min': number;
  'ctx-max': number;
  url: string;
  load: HttpRoute;
  unload: HttpRoute;
  'dedup-cache-models': boolean;
}

const ROUTER_PARSERS: { [K in RouterKey]: (v: string) => RouterValues[K] } = {
  model: (v) => parseNonEmpty(v, 'a path to the model file'),
  mmproj: (v) => parseNonEmpty(v, 'a path to the projector file'),
  alias: (v) => {
    const names = v.split(',').map((a) => a.trim()).filter(Boolean);
    if (names.length === 0) throw new ValueError('needs at least one name');
    return [...new Set(names)];
  },
  'load-on-startup': parseBool,
  'stop-timeout': parseSeconds,
  ttl: parseSeconds,
  priority: parseInteger,
  pin: parseBool,
  'exclusive-group': (v) => parseNonEmpty(v, 'a group name'),
  memory: parseMemory,
  probe: (v) => parseNonEmpty(v, 'a command'),
  cmd: (v) => {
    const cmd = parseNonEmpty(v, 'a command');
    if (!cmd.includes('${PORT}')) throw new ValueError('must contain ${PORT}, the port the router gives the child');
    return cmd;
  },
  'health-path': (v) => {
    const p = v.trim();
    if (!p.startsWith('/')) throw new ValueError(`"${v}" must start with /`);
    return p;
  },
  concurrency: parsePositiveInteger,
  'gpu-lock': parseBool,
  'ctx-min': parsePositiveInteger,
  'ctx-max': parsePositiveInteger,
  url: parseBackendUrl,
  load: parseRoute,
  unload: parseRoute,
  'dedup-cache-models': parseBool,
};

export function routerValue<K extends RouterKey>(s: Extract<Setting, { kind: 'router' }> & { id: K }): RouterValues[K] {
  return at(s.origin, () => (ROUTER_PARSERS[s.id] as (v: string) => RouterValues[K])(s.value));
}

function checkRouterValue(s: Extract<Setting, { kind: 'router' }>): void {
  routerValue(s);
}

/** Converts preset entries of one section to settings; throws the first CatalogError. */
export function sectionSettings(
  entries: { key: string; value: string; line: number }[],
  base: Omit<Origin, 'key' | 'line'>,
): Setting[] {
  const out: Setting[] = [];
  for (const e of entries) {
    const s = toSetting(e.key, e.value, { ...base, key: e.key, line: e.line });
    if (s) out.push(s);
  }
  return out;
}

/** Applies layers lowest first: a later setting of the same option replaces an earlier one. */
export function mergeLayers(layers: Setting[][]): Map<string, Setting> {
  const merged = new Map<string, Setting>();
  for (const layer of layers) {
    const ids = new Set(layer.map((s) => s.id));
    // `cmd` and `url` both say how the model runs: a level that sets one overrides the other inherited one,
    // so `[*] cmd = ...` does not clash with one model's `url = ...`.
    if (ids.has('cmd') && !ids.has('url')) merged.delete('url');
    if (ids.has('url') && !ids.has('cmd')) merged.delete('cmd');
    for (const s of layer) merged.set(s.id, s);
  }
  return merged;
}

/** Renders one llama-server option to argv, llama.cpp's way (common_preset::to_args). */
export function renderFlag(flag: LlamaFlag, value: string | boolean): string[] {
  if (flag.arity === 0) {
    if (value === true) return [`--${flag.name}`];
    const neg = flag.negNames[flag.negNames.length - 1];
    return neg ? [`--${neg}`] : [];
  }
  let v = String(value);
  if (flag.onOff && isBoolWord(v)) v = parseBool(v) ? 'on' : 'off';
  return flag.arity === 2 ? [`--${flag.name}`, ...v.split(/\s+/)] : [`--${flag.name}`, v];
}
