/** Router-owned model routes, shaped like llama-server's router mode (`/models`, load, unload). */
import type { Request, Response } from 'express';
import type { ModelInfo, Router } from '../router/router.js';
import type { ModelSpec } from '../catalog/model-spec.js';
import { parseJsonBody } from './body.js';
import { RouterError, sendError } from './errors.js';

/** llama-server's `created`: when the listing was made; one time per process so a snapshot only changes with state. */
const createdAt = Math.floor(Date.now() / 1000);

/** llama-server's `status.preset`: the model's effective settings as an INI section (`[name]` then `key = value`). */
export function presetText(s: ModelSpec): string {
  const lines = [`[${s.name}]`];
  if (s.modelPath) lines.push(`model = ${s.modelPath}`);
  if (s.mmprojPath) lines.push(`mmproj = ${s.mmprojPath}`);
  if (s.aliases.length > 0) lines.push(`alias = ${s.aliases.join(',')}`);
  if (s.cmd) lines.push(`cmd = ${s.cmd}`);
  if (s.url) lines.push(`url = ${s.url}`);
  for (let i = 0; i < s.args.length; i++) {
    const key = s.args[i]!.replace(/^-+/, '');
    const next = s.args[i + 1];
    // A value never starts with `--` (negative numbers have one dash): a flag followed by a flag is a switch.
    if (next !== undefined && !next.startsWith('--')) {
      lines.push(`${key} = ${next}`);
      i++;
    } else {
      lines.push(`${key} = true`);
    }
  }
  return lines.join('\n') + '\n\n';
}

/** The fields llama-server's router mode puts on every /models entry (beside ours). */
function llamaServerFields(s: ModelSpec | undefined) {
  return {
    tags: [] as string[],
    in_cache: false,
    source: s?.source?.section !== undefined ? 'preset' : 'models_dir',
    can_remove: false,
  };
}

export function modelEntry(info: ModelInfo) {
  const failed = info.status === 'failed';
  const s = info.spec;
  return {
    id: s.name,
    object: 'model',
    owned_by: 'router',
    created: createdAt,
    aliases: s.aliases,
    ...llamaServerFields(s),
    path: s.modelPath,
    status: {
      // llama-server's values; a failed model is unloaded with `failed: true`.
      value: failed ? 'unloaded' : info.status,
      args: s.args,
      preset: presetText(s),
      failed,
      exit_code: info.exitCode ?? null,
      ...(info.lastError ? { error: info.lastError } : {}),
    },
    ...(info.pid ? { pid: info.pid } : {}),
    in_flight: info.refs,
    queued: info.queued,
    last_used: info.lastUsed || null,
    ...(info.waitingFor ? { waiting_for: info.waitingFor } : {}),
    ...(info.memory ? { memory: info.memory } : {}),
    // ctx-size = auto: the context its child was given, and why (`{size: 12288, reason: "largest multiple of 256 ..."}`).
    ...(info.ctx ? { ctx: info.ctx } : {}),
    priority: s.priority,
    pin: s.pin,
    ...(s.exclusiveGroup ? { exclusive_group: s.exclusiveGroup } : {}),
    ...(s.concurrency !== undefined ? { concurrency: s.concurrency } : {}),
    ...(s.gpuLock ? { gpu_lock: true } : {}),
  };
}

export function listModels(router: Router) {
  return (_req: Request, res: Response) => {
    const invalid = router.invalidModels().map((m) => ({
      id: m.name,
      object: 'model',
      owned_by: 'router',
      created: createdAt,
      aliases: [],
      ...llamaServerFields(undefined),
      source: 'preset',
      status: { value: 'unloaded', args: [], failed: true, invalid: true, exit_code: null, error: m.error },
    }));
    res.json({ object: 'list', data: [...router.list().map(modelEntry), ...invalid] });
  };
}

function modelFromBody(body: Buffer): string {
  const parsed = body.length === 0 ? {} : parseJsonBody(body);
  const model = (parsed as { model?: unknown } | null)?.model;
  if (typeof model !== 'string' || !model) throw new RouterError('invalid_model', "missing or non-string 'model'");
  return model;
}

export function loadModel(router: Router) {
  return async (req: Request, res: Response) => {
    const ac = new AbortController();
    res.once('close', () => ac.abort());
    try {
      const name = modelFromBody(req.body as Buffer);
      const spec = router.require(name);
      await router.load(spec.name, ac.signal);
      res.json({ success: true, model: spec.name });
    } catch (err) {
      if (!res.writableEnded && !ac.signal.aborted) sendError(res, err);
    }
  };
}

export function unloadModel(router: Router) {
  return async (req: Request, res: Response) => {
    try {
      const name = modelFromBody(req.body as Buffer);
      const spec = router.require(name);
      await router.unload(spec.name);
      res.json({ success: true, model: spec.name });
    } catch (err) {
      sendError(res, err);
    }
  };
}
