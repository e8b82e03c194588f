/**
 * A model's backend from the scheduler's `start` effect to its `stop`: a child (its file still there, pinned to the
 * GPUs its load was planned on, its context sized, its command and key) or an external backend (its load route and
 * health), made by the backend factory; started, watched for a crash, stopped. Every outcome goes back to the
 * scheduler as an event (ready, loadFailed, exited), and to the router's listeners.
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { ModelSpec } from '../catalog/model-spec.js';
import type { Effect, StopReason } from '../scheduler/types.js';
import type { ExitInfo } from '../supervisor/types.js';
import { defaultBackends } from './backends.js';
import { childCommand } from './child-command.js';
import type { RouterCore } from './core.js';
import { sizeForLoad } from './ctx-auto.js';
import { externalOptions, type ExternalFailure } from './external.js';
import type { ModelRecord, Run } from './model-record.js';

type StartEffect = Extract<Effect, { type: 'start' }>;
type LoadFailure = 'timeout' | 'exited' | 'spawn';

export async function startBackend(core: RouterCore, start: StartEffect): Promise<void> {
  const record = core.models.get(start.model);
  const spec = record?.spec;
  if (!record || !spec) {
    // Removed by a reload between the decision and now.
    loadFailed(core, start.model, 'spawn', `model '${start.model}' was removed`);
    return;
  }
  if (spec.url) return startExternal(core, record, spec);
  const prepared = await prepareChild(core, record, spec, start);
  if (prepared) await startChild(core, record, spec, prepared);
}

/** Stop the model's backend (if it has one) for the scheduler's reason; the scheduler hears 'exited' when it is gone. */
export async function stopBackend(core: RouterCore, model: string, reason: StopReason, detail: string): Promise<void> {
  const record = core.models.any(model);
  const run = record?.run;
  core.emitEvent({ type: reason === 'unload' || reason === 'shutdown' ? 'unload' : 'eviction', model, reason, detail });
  if (run) await run.backend.stop();
  if (record && record.run === run) record.run = undefined;
  core.handle({ type: 'exited', model, expected: true, now: Date.now() });
}

interface Prepared {
  /** Placement: the environment that pins the child to its GPUs. */
  env?: Record<string, string>;
  /** ctx-size = auto: `--ctx-size N`. */
  extraArgs?: string[];
}

/** What must hold before a child is spawned; undefined: the load has failed (and the scheduler was told). */
async function prepareChild(core: RouterCore, record: ModelRecord, spec: ModelSpec, start: StartEffect): Promise<Prepared | undefined> {
  const { model, devices, room } = start;
  const logger = core.opts.logger;
  const hooks = core.opts.memory;
  // A file deleted or moved since the catalogue was read: say so, rather than spawn a child that fails to open it.
  const gone = await missingFile(spec);
  if (gone) {
    const message = `model '${model}' cannot start: ${gone} is gone (deleted or moved since the catalogue was read); put it back or reload the catalogue`;
    logger.error({ model, path: gone }, message);
    core.emitEvent({ type: 'failure', model, reason: 'spawn', detail: message });
    loadFailed(core, model, 'spawn', message);
    return undefined;
  }
  // Placement (docs/memory.md): pin the child to the GPUs the scheduler planned this load on.
  let env: Record<string, string> | undefined;
  if (devices?.length && hooks?.placementEnv) {
    try {
      env = await hooks.placementEnv(spec, devices);
    } catch (err) {
      const message = `model '${model}' cannot be placed on ${devices.join(', ')}: ${(err as Error).message}`;
      logger.error({ model, devices }, message);
      loadFailed(core, model, 'spawn', message);
      return undefined;
    }
    if (env) logger.info({ model, devices, env }, `${model}: placed on ${devices.join(', ')}`);
  }
  // ctx-size = auto: the largest context the room this load was given holds; the scheduler learns what it keeps.
  record.ctx = undefined;
  const sizing = await sizeForLoad(spec, { room, devices, marginBytes: core.opts.scheduler.marginBytes }, hooks);
  if (sizing.kind === 'failed') {
    logger.error({ model, room }, sizing.message);
    core.emitEvent({ type: 'failure', model, reason: 'spawn', detail: sizing.message });
    loadFailed(core, model, 'spawn', sizing.message);
    return undefined;
  }
  if (sizing.kind === 'fixed') return { env };
  record.ctx = sizing.ctx;
  logger.info({ model, ctx: sizing.ctx.size, need: sizing.devices }, `${model}: ctx-size ${sizing.ctx.size}, ${sizing.ctx.reason}`);
  core.handle({ type: 'sized', model, devices: sizing.devices, now: Date.now() });
  return { env, extraArgs: sizing.extraArgs };
}

async function startChild(core: RouterCore, record: ModelRecord, spec: ModelSpec, prepared: Prepared): Promise<void> {
  const { opts, host } = core;
  const model = spec.name;
  // The child's own key: only the router can talk to it (child-command.ts: in its environment, not its argv).
  const apiKey = randomBytes(24).toString('hex');
  const cmd = childCommand(spec, { server: opts.server, host, apiKey, extraArgs: prepared.extraArgs });
  const child = (opts.backends ?? defaultBackends)({
    kind: 'child',
    spec,
    options: {
      name: model,
      command: cmd.command,
      args: cmd.args,
      env: prepared.env ? { ...cmd.env, ...prepared.env } : cmd.env,
      host,
      healthPath: cmd.healthPath,
      healthHeaders: { authorization: `Bearer ${apiKey}` },
      loadTimeoutMs: opts.loadTimeoutMs,
      stopTimeoutMs: stopTimeoutMs(core, spec),
      logLines: 50,
      onLog: logSink(core, record, model),
    },
  });
  const run: Run = { backend: child, key: apiKey, measuredAfterUse: false, healthChecking: false };
  record.run = run;
  let ready = false;
  child.once('exit', (info: ExitInfo) => {
    record.exitCode = info.code;
    if (record.run === run) record.run = undefined;
    if (ready && !info.expected) {
      const message = `model '${model}' exited unexpectedly (${info.signal ?? `exit code ${info.code}`})`;
      opts.logger.error({ model, code: info.code, signal: info.signal, lastLines: info.lastLines }, message);
      core.emitEvent({ type: 'failure', model, reason: 'crash', detail: info.lastLines.slice(-5).join('\n') });
      core.handle({ type: 'exited', model, expected: false, message, now: Date.now() });
    }
  });
  const started = Date.now();
  core.emitEvent({ type: 'load', model, detail: `${cmd.command} ${cmd.args(0).join(' ')}` });
  try {
    await child.start();
  } catch (err) {
    const e = err as { reason?: string; exitCode?: number | null; lastLines?: string[]; message: string };
    if (record.run === run) record.run = undefined;
    record.exitCode = e.exitCode ?? null;
    const reason = e.reason === 'timeout' ? 'timeout' : e.reason === 'spawn' ? 'spawn' : 'exited';
    const tail = (e.lastLines ?? []).slice(-5).join(' | ');
    const message =
      reason === 'timeout'
        ? `model '${model}' was not ready after ${Math.round(opts.loadTimeoutMs / 1000)} s`
        : `model '${model}' failed to start: ${e.message}${tail ? ` (last output: ${tail})` : ''}`;
    opts.logger.error({ model, reason, lastLines: e.lastLines }, message);
    core.emitEvent({ type: 'failure', model, reason, detail: message });
    loadFailed(core, model, reason, message);
    return;
  }
  ready = true;
  opts.logger.info({ model, ms: Date.now() - started, port: child.port, pid: child.pid }, `${model} ready`);
  core.emitEvent({ type: 'ready', model, detail: `${Date.now() - started} ms` });
  core.handle({ type: 'ready', model, now: Date.now() });
  // After the waiting requests are on their way: a device reading may spawn vendor tools, blocking the loop.
  const figures = core.figures;
  if (figures && child.pid) setImmediate(() => void figures.measure(spec, record, run));
}

/**
 * Load an external backend: its load route, then its health. No process, so nothing to measure (its memory is the
 * preset's `memory =`, or unknown) and no crash to watch: it leaves only through stopBackend.
 */
async function startExternal(core: RouterCore, record: ModelRecord, spec: ModelSpec): Promise<void> {
  const { opts } = core;
  const model = spec.name;
  const options = externalOptions(spec, { loadTimeoutMs: opts.loadTimeoutMs, stopTimeoutMs: stopTimeoutMs(core, spec), onLog: logSink(core, record, model) });
  const backend = (opts.backends ?? defaultBackends)({ kind: 'external', spec, options });
  const run: Run = { backend, external: { url: options.url, headers: options.headers }, measuredAfterUse: false, healthChecking: false };
  record.run = run;
  record.externalFailure = undefined;
  const started = Date.now();
  core.emitEvent({ type: 'load', model, detail: `external ${spec.url}${spec.loadRoute ? ` (${spec.loadRoute.method} ${spec.loadRoute.path})` : ''}` });
  try {
    await backend.start();
  } catch (err) {
    if (record.run === run) record.run = undefined;
    const e = err as Error & { reason?: ExternalFailure };
    if (e.reason) record.externalFailure = e.reason;
    const message = `external backend '${model}' failed to load: ${e.message}`;
    opts.logger.error({ model, url: spec.url, reason: e.reason }, message);
    core.emitEvent({ type: 'failure', model, reason: e.reason ?? 'load', detail: message });
    loadFailed(core, model, e.reason === 'timeout' ? 'timeout' : 'exited', message);
    return;
  }
  opts.logger.info({ model, ms: Date.now() - started, url: spec.url }, `${model} ready (external)`);
  core.emitEvent({ type: 'ready', model, detail: `${Date.now() - started} ms` });
  core.handle({ type: 'ready', model, now: Date.now() });
}

function loadFailed(core: RouterCore, model: string, reason: LoadFailure, message: string): void {
  core.handle({ type: 'loadFailed', model, reason, message, now: Date.now() });
}

/** The preset's stop timeout, else the router's. */
function stopTimeoutMs(core: RouterCore, spec: ModelSpec): number {
  return (spec.stopTimeoutS ?? core.opts.stopTimeoutMs / 1000) * 1000;
}

/** Where a model's output lines go: its ring buffer, `GET /logs/:model?follow=1` listeners, the debug log. */
function logSink(core: RouterCore, record: ModelRecord, model: string): (line: string) => void {
  const log = record.log;
  // A ready child's lines come in batches (src/supervisor/spawn.ts): one date string per millisecond, not per line.
  let ms = -1;
  let iso = '';
  return (raw) => {
    // Every kept line says when it was read (ISO 8601, UTC; within 100 ms of its printing): the ring outlives the child.
    const now = Date.now();
    if (now !== ms) iso = new Date((ms = now)).toISOString();
    const line = `${iso} ${raw}`;
    log.push(line);
    core.emitLog({ model, line });
    core.opts.logger.debug({ model }, `[${model}] ${raw}`);
  };
}

/** The model's file or projector, if either no longer exists. */
async function missingFile(spec: ModelSpec): Promise<string | undefined> {
  for (const path of [spec.modelPath, spec.mmprojPath]) {
    if (path === undefined) continue;
    try {
      await stat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return path;
    }
  }
  return undefined;
}
