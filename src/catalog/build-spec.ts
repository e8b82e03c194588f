/**
 * Turns one model's merged settings into its ModelSpec, checking what involves several keys or the disk.
 */

import os from 'node:os';
import path from 'node:path';

import type { ModelSpec } from './model-spec.js';
import {
  DOWNLOAD_SOURCES,
  fail,
  renderFlag,
  routerValue,
  type Origin,
  type RouterKey,
  type RouterValues,
  type Setting,
} from './settings.js';

export type PathKind = 'file' | 'dir' | undefined;

type RouterSetting = Extract<Setting, { kind: 'router' }>;

function expandPath(p: string, baseDir: string | undefined): string {
  const home = p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
  return path.resolve(baseDir ?? process.cwd(), home);
}

/**
 * Builds the spec of model `name` from its merged settings.
 * `source` names where it was defined; `statPath` says whether a path is a file, a folder or missing.
 */
export function buildSpec(
  name: string,
  merged: Map<string, Setting>,
  source: ModelSpec['source'],
  statPath: (p: string) => PathKind,
): ModelSpec {
  const router = new Map<RouterKey, RouterSetting>();
  const flags: Extract<Setting, { kind: 'flag' }>[] = [];
  const env: Record<string, string> = {};
  for (const s of merged.values()) {
    if (s.kind === 'router') router.set(s.id, s);
    else if (s.kind === 'flag') flags.push(s);
    else env[s.name] = s.value;
  }
  const get = <K extends RouterKey>(key: K): RouterValues[K] | undefined => {
    const s = router.get(key);
    return s ? routerValue(s as RouterSetting & { id: K }) : undefined;
  };
  const origin = (key: RouterKey): Origin => router.get(key)!.origin;

  // How the model runs: llama-server (default), a command (`cmd`, whose ${MODEL} is the model file, else the
  // model's name, e.g. a Hugging Face id for vLLM), or an external server (`url`).
  const cmd = get('cmd');
  const url = get('url');
  if (cmd !== undefined && url !== undefined) {
    const o = origin('url');
    fail(o, `a model is either started (cmd = ${JSON.stringify(cmd)}) or external (url): not both`);
  }

  // The model file: a path from the preset (relative to the preset's folder) or from models-dir.
  let modelPath: string | undefined;
  if (router.has('model')) {
    const o = origin('model');
    modelPath = o.layer === 'models-dir' ? get('model') : expandPath(get('model')!, o.baseDir);
    const kind = statPath(modelPath!);
    // A started command may take a folder (vLLM reads a directory of safetensors); llama-server needs a file.
    const ok = url !== undefined || kind === 'file' || (cmd !== undefined && kind === 'dir');
    if (!ok) fail(o, kind === 'dir' ? `${modelPath} is a folder, not a model file` : `model file not found: ${modelPath}`);
  }
  let mmprojPath: string | undefined;
  if (router.has('mmproj')) {
    const o = origin('mmproj');
    mmprojPath = o.layer === 'models-dir' ? get('mmproj') : expandPath(get('mmproj')!, o.baseDir);
    if (statPath(mmprojPath!) !== 'file') fail(o, `projector file not found: ${mmprojPath}`);
  }

  // llama-server options belong to llama-server children. For a cmd or url model, inherited ones ([*], command
  // line) do not apply, and ones written in the model's own section would be silently dead: refuse those.
  const spawnsLlamaServer = cmd === undefined && url === undefined;
  if (!spawnsLlamaServer) {
    const own = flags.find((f) => f.origin.layer === 'model');
    const kind = cmd !== undefined ? 'cmd' : 'url';
    if (own) fail(own.origin, `llama-server option --${own.flag.name} has no effect on a ${kind} model; put it in cmd`);
  }

  if (spawnsLlamaServer && modelPath === undefined) {
    // llama-server could download (hf-repo, model-url), but the router needs the file: to estimate its memory and
    // to pass --model itself.
    const download = flags.find((f) => DOWNLOAD_SOURCES.has(f.id));
    const hint = download ? ` (--${download.flag.name} downloads are not fetched by the router: download the file)` : '';
    fail(
      { file: source.file, section: source.section, key: 'model' },
      `model ${name} has no model file: set model = /path/to/file.gguf, or cmd, or url${hint}`,
    );
  }
  // ctx-size = auto: the router picks the context at load time, within ctx-min/ctx-max. Bounds inherited from [*]
  // by a model with a fixed ctx-size are ignored; bounds in its own section are a mistake.
  const ctxFlag = flags.find((f) => f.id === 'ctx-size');
  const ctxIsAuto = spawnsLlamaServer && ctxFlag?.value === 'auto';
  let ctxAuto: ModelSpec['ctxAuto'];
  if (ctxIsAuto) {
    const min = get('ctx-min');
    const max = get('ctx-max');
    if (min !== undefined && max !== undefined && min > max) fail(origin('ctx-max'), `is below ctx-min (${min})`);
    ctxAuto = { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) };
  } else {
    for (const key of ['ctx-min', 'ctx-max'] as const) {
      const s = router.get(key);
      if (s?.origin.layer === 'model') fail(s.origin, 'only applies with ctx-size = auto');
    }
  }

  const rendered = flags.filter((f) => !(ctxIsAuto && f.id === 'ctx-size'));
  const args = spawnsLlamaServer ? rendered.flatMap((f) => renderFlag(f.flag, f.value)) : [];
  // `no-mmproj = true` turns off a projector models-dir found.
  if (spawnsLlamaServer && flags.some((f) => f.id === 'mmproj-auto' && f.value === false)) mmprojPath = undefined;

  const aliases = (get('alias') ?? []).filter((a) => a !== name);
  const spec: ModelSpec = {
    name,
    aliases,
    args,
    env,
    healthPath: get('health-path') ?? '/health',
    loadOnStartup: get('load-on-startup') ?? false,
    priority: get('priority') ?? 0,
    pin: get('pin') ?? false,
    gpuLock: get('gpu-lock') ?? false,
    source,
  };
  const optional: Partial<ModelSpec> = {
    modelPath,
    mmprojPath,
    cmd,
    url,
    stopTimeoutS: get('stop-timeout'),
    ttlS: get('ttl'),
    exclusiveGroup: get('exclusive-group'),
    memory: get('memory'),
    probe: get('probe'),
    concurrency: get('concurrency'),
    ctxAuto,
    loadRoute: get('load'),
    unloadRoute: get('unload'),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (spec as unknown as Record<string, unknown>)[k] = v;
  return spec;
}

