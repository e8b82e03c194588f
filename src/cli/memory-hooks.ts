/**
 * Wires the memory and devices rooms into the router: what a model needs (override,
 * measured ledger, probe, estimate), fresh device readings, and what a child really uses.
 *
 * Placement (docs/memory.md): on a machine with GPUs, a model whose preset does not choose its own
 * devices gets its need for ONE GPU, under the generic name `GPU` ({CPU, GPU}); the scheduler picks
 * the GPU(s) when it plans the load, and `placementEnv` pins the child to them.
 */
import { stat } from 'node:fs/promises';
import { parseCommandString } from 'execa';
import type { Logger } from 'pino';
import type { ModelSpec } from '../catalog/model-spec.js';
import { DeviceMonitor } from '../devices/monitor.js';
import type { DeviceReading } from '../devices/types.js';
import { readGgufHeader } from '../gguf/reader.js';
import {
  DEFAULT_GPU_BASE,
  MemoryLedger,
  ctxBounds,
  defaultCpuBase,
  engineEstimateOptions,
  engineKind,
  estimateFromGguf,
  findFitParams,
  fitContext,
  learnBase,
  learnedBase,
  memoryArgs,
  resolveNeed,
  runFitParams,
  runProbe,
  shapeFromGguf,
  type DevicePart,
  type EngineKind,
  type ModelShape,
  type Need,
  type ProbeSource,
} from '../memory/index.js';
import type { ServerBin } from '../router/child-command.js';
import type { MemoryHooks } from '../router/router.js';
import { ANY_GPU } from '../scheduler/placement.js';

type DeviceBytes = Record<string, number>;

/** Variables that choose a child's GPUs; a preset setting one places its model itself. */
const VISIBLE_VARS = ['CUDA_VISIBLE_DEVICES', 'HIP_VISIBLE_DEVICES', 'ROCR_VISIBLE_DEVICES', 'GPU_DEVICE_ORDINAL'];

/**
 * Does the preset choose its GPUs itself (-dev/--device, -ts/--tensor-split, -mg/--main-gpu, in its
 * arguments, its `cmd` or LLAMA_ARG_* env, or a *_VISIBLE_DEVICES variable)? Then the router neither
 * places it nor touches its environment, and its need is taken as it is.
 */
export function namesDevices(spec: Pick<ModelSpec, 'args' | 'cmd' | 'env'>): boolean {
  const tokens = [...spec.args, ...(spec.cmd ? parseCommandString(spec.cmd) : [])];
  const a = memoryArgs(tokens, spec.env);
  if (a.device !== undefined || a['tensor-split'] !== undefined || a['main-gpu'] !== undefined) return true;
  return VISIBLE_VARS.some((v) => spec.env[v] !== undefined);
}

type Parts = Record<string, DevicePart>;

/** generalise() for the parts of a figure: every GPU's parts summed under `GPU`. */
export function generaliseParts(parts: Parts): Parts {
  const out: Parts = {};
  for (const [d, p] of Object.entries(parts)) {
    const to = d === 'CPU' ? 'CPU' : ANY_GPU;
    const o = (out[to] ??= { weights: 0, kv: 0, compute: 0, base: 0 });
    o.weights += p.weights;
    o.kv += p.kv;
    o.compute += p.compute;
    o.base += p.base;
    if (p.repack) o.repack = (o.repack ?? 0) + p.repack;
  }
  return out;
}

/**
 * The server a model's children run, as memory sees it: its engine (engine.ts), the program (for
 * llama-fit-params beside it), the identity its learned base is kept under, and the child's flags
 * (a `cmd` carries its own).
 */
export function serverOf(spec: Pick<ModelSpec, 'args' | 'cmd'>, server: ServerBin, bundled: boolean): { kind: EngineKind; program: string; id: string; tokens: string[] } {
  if (spec.cmd) {
    const tokens = parseCommandString(spec.cmd);
    const program = tokens[0] ?? '';
    return { kind: engineKind(program, false), program, id: program, tokens: [...tokens.slice(1), ...spec.args] };
  }
  return { kind: engineKind(server.command, bundled), program: server.command, id: [server.command, ...server.prefix].join(' '), tokens: [...spec.args] };
}

/** {CPU, CUDA0, CUDA1} -> {CPU, GPU}: every GPU's bytes as the need on one GPU the scheduler picks. */
export function generalise(devices: DeviceBytes): DeviceBytes {
  const out: DeviceBytes = {};
  let gpu = 0;
  for (const [d, b] of Object.entries(devices)) {
    if (d === 'CPU') out.CPU = b;
    else gpu += b;
  }
  if (gpu > 0) out[ANY_GPU] = gpu;
  return out;
}

/**
 * The environment that shows a child exactly these GPUs (named as the monitor names them).
 * CUDA by UUID, so the choice holds whatever order CUDA numbers the GPUs in (CUDA_DEVICE_ORDER);
 * ROCm by HIP index, which counts the GPUs ROCR_VISIBLE_DEVICES (inherited) leaves visible.
 */
export function visibleDevicesEnv(names: readonly string[], readings: readonly DeviceReading[], env: NodeJS.ProcessEnv): Record<string, string> {
  const cuda: string[] = [];
  const hip: string[] = [];
  const routerHip = env.HIP_VISIBLE_DEVICES?.split(',').map((t) => t.trim());
  for (const name of names) {
    const r = readings.find((x) => x.name === name);
    if (!r) throw new Error(`no GPU ${name} in the last device reading`);
    if (r.kind === 'cuda') cuda.push(r.uuid ?? String(r.index));
    else if (r.kind === 'rocm') {
      const i = Number(name.slice('ROCm'.length));
      hip.push(routerHip?.[i] ?? String(i));
    } else throw new Error(`${name} is not a GPU`);
  }
  const out: Record<string, string> = {};
  if (cuda.length > 0) out.CUDA_VISIBLE_DEVICES = cuda.join(',');
  if (hip.length > 0) out.HIP_VISIBLE_DEVICES = hip.join(',');
  return out;
}

export interface MemoryWiring {
  hooks: MemoryHooks;
  monitor: DeviceMonitor;
  ledger: MemoryLedger;
}

/**
 * Can `devices` fit each device when it is empty (its total less the margin)? GPU figures are held against the
 * largest GPU: a placed model may go to any of them. A --models-memory-max cap is not counted: a figure over the
 * operator's cap but within the machine is plausible, and its 507 comes at once, as it should.
 */
export function fitsEmpty(devices: DeviceBytes, readings: readonly DeviceReading[], room: { marginBytes?: number | null }): boolean {
  const largestGpu = Math.max(0, ...readings.filter((r) => r.name !== 'CPU').map((r) => r.total));
  for (const [d, b] of Object.entries(devices)) {
    const total = d === 'CPU' ? readings.find((r) => r.name === 'CPU')?.total : largestGpu || undefined;
    if (total !== undefined && b > total - (room.marginBytes ?? 0)) return false;
  }
  return true;
}

export function memoryHooks(opts: {
  stateDir: string;
  server: ServerBin;
  bundled: boolean;
  logger: Logger;
  /** What the scheduler keeps free on an empty device (--models-memory-margin). */
  marginBytes?: number | null;
  /** --fit-params-bin: llama-fit-params for llama-server children (else beside the server binary, else PATH). */
  fitParamsBin?: string;
  /** How long a GPU tool answer is reused (the hidden --device-cache; undefined: the monitor's default). */
  deviceCacheMs?: number;
}): MemoryWiring {
  const log = (msg: string) => opts.logger.warn(msg);
  const monitor = new DeviceMonitor({ logger: log, info: (msg: string) => opts.logger.info(msg), cacheMs: opts.deviceCacheMs });
  const ledger = new MemoryLedger(opts.stateDir, { logger: log });
  const probeCache: NonNullable<Parameters<typeof resolveNeed>[0]['probeCache']> = new Map();
  const fitParamsByProgram = new Map<string, string | undefined>();
  const fitParamsFor = (program: string) => {
    if (!fitParamsByProgram.has(program)) fitParamsByProgram.set(program, findFitParams({ flag: opts.fitParamsBin, serverBin: program }));
    return fitParamsByProgram.get(program);
  };
  /**
   * The server's own base on the CPU: llama-server's or the bundled engine's known figure, raised by what its
   * children were measured to hold beyond their model (server-base.ts); for any other `cmd` the learned base
   * alone, the bundled engine's until one of its children was measured.
   */
  const baseOf = (srv: { kind: EngineKind; id: string }) => {
    const learned = learnedBase(ledger, srv.id);
    if (srv.kind === 'other') return learned ?? defaultCpuBase('other');
    return Math.max(defaultCpuBase(srv.kind), learned ?? 0);
  };
  /** llama-fit-params as the probe of a llama-server child: its breakdown, plus the server's base and each GPU's. */
  const fitParamsProbe = (bin: string, modelPath: string, tokens: string[], env: Record<string, string | undefined>, cpuBase: number): ProbeSource => ({
    key: JSON.stringify(['llama-fit-params', bin, modelPath, tokens, cpuBase]),
    async run(o) {
      const r = await runFitParams(bin, modelPath, tokens, { ...o, childEnv: env });
      const devices: DeviceBytes = {};
      const parts: Parts = {};
      for (const [d, bytes] of Object.entries(r.devices)) {
        const base = d === 'CPU' ? cpuBase : DEFAULT_GPU_BASE;
        devices[d] = bytes + base;
        parts[d] = { ...r.parts[d]!, base };
      }
      return { devices, parts };
    },
  });

  const ledgerKey = async (spec: ModelSpec, args: readonly string[] = spec.args): Promise<string | undefined> => {
    if (!spec.modelPath) return undefined;
    try {
      const s = await stat(spec.modelPath);
      return ledger.key({ path: spec.modelPath, size: s.size, mtimeMs: s.mtimeMs }, [...args], { env: spec.env, backend: spec.cmd ?? opts.server.command });
    } catch {
      return undefined;
    }
  };

  // Probes start processes: one at a time, in the background.
  let probeChain: Promise<unknown> = Promise.resolve();
  // Shutdown cancels the probe that is running (it would outlive the router by seconds otherwise).
  const probes = new AbortController();

  /** The need last answered per model (for `measured`: what it was expected to hold), and its source. */
  const lastNeed = new Map<string, DeviceBytes>();
  const lastSource = new Map<string, string>();
  /** Its parts on the CPU without the base (weights, KV cache, compute), to learn the server's base from a measurement. */
  const lastModelCpu = new Map<string, number>();
  /**
   * ctx-size = auto: the context each model's current child was given. Its args carry it for everything keyed
   * by memory settings (ledger, probe): a figure measured at 12288 is never taken for a load at ctx-min.
   */
  const chosenCtx = new Map<string, number>();
  const shapeOf = async (path: string): Promise<ModelShape> => shapeFromGguf(await readGgufHeader(path, { skipStringArrays: true }));
  /** The child's args as the memory room sees them: with `--ctx-size` made explicit for ctx-size = auto. */
  const argsAt = (spec: ModelSpec, ctx: number | undefined) => (spec.ctxAuto && ctx !== undefined ? [...spec.args, '--ctx-size', String(ctx)] : spec.args);
  /** ctx-size = auto is admitted at its smallest context (its bounds need the training context). */
  const ctxMinOf = async (spec: ModelSpec): Promise<number | undefined> => {
    if (!spec.ctxAuto) return undefined;
    const shape = spec.modelPath ? await shapeOf(spec.modelPath).catch(() => ({ contextLength: undefined })) : { contextLength: undefined };
    return ctxBounds(shape, spec.ctxAuto.min, spec.ctxAuto.max).min;
  };
  const warnedUnmeasured = new Set<string>();

  const hooks: MemoryHooks = {
    close() {
      probes.abort();
    },
    async need(spec, refine) {
      // An external backend's memory is not ours to probe or measure (it may not even be on this machine): what its
      // preset says, as written, or unknown (then it counts only towards --models-max).
      if (spec.url) return spec.memory ? { devices: { ...spec.memory }, source: 'override' } : undefined;
      const args = argsAt(spec, await ctxMinOf(spec));
      const readings = await monitor.read();
      // Figures for a device this machine lacks, or beyond its size, were not measured here (a shared home).
      ledger.dropImplausible(readings);
      const gpuReadings = readings.filter((d) => d.name !== 'CPU');
      // Placement: with GPUs, and a preset that does not choose its own, the need is for one GPU.
      const placed = gpuReadings.length > 0 && !namesDevices(spec);
      const gpus = placed ? [ANY_GPU] : gpuReadings.map((d) => d.name);
      // The probe (bundled engine --dry-run) sees only the largest GPU, so it answers for one GPU.
      const largest = [...gpuReadings].sort((a, b) => b.total - a.total)[0];
      const probeEnv = placed && largest ? { ...process.env, ...visibleDevicesEnv([largest.name], readings, process.env) } : undefined;
      const srv = serverOf({ args, cmd: spec.cmd }, opts.server, opts.bundled);
      const cpuBase = baseOf(srv);
      // The bundled engine can say what it would take without loading weights (its --dry-run); for llama-server,
      // llama-fit-params can, with the child's flags.
      const fitBin = srv.kind === 'llama-server' && spec.modelPath && !spec.probe ? fitParamsFor(srv.program) : undefined;
      const estimate = engineEstimateOptions(srv.kind, srv.tokens, { devices: gpus, env: spec.env, cpuBaseBytes: cpuBase });
      const dryRun = opts.bundled && spec.modelPath && !spec.cmd ? [opts.server.command, ...opts.server.prefix, '--model', spec.modelPath, ...args, '--dry-run'] : undefined;
      const probe =
        spec.probe ??
        (dryRun
          ? dryRun
          : fitBin
            ? fitParamsProbe(fitBin, spec.modelPath!, srv.tokens, spec.env, cpuBase)
            : undefined);
      const request = {
        override: spec.memory,
        ledger,
        ledgerKey: await ledgerKey(spec, args),
        probeCache,
        probeEnv,
        probeSignal: probes.signal,
        gguf: spec.modelPath,
        // Per engine: llama-server shares -c across its -np slots and has flash attention on; the bundled engine
        // gives each slot -c; each has its own base (engine.ts).
        estimate,
        logger: (msg: string) => opts.logger.warn({ model: spec.name }, msg),
      };
      // What the router is told: for one GPU when placed (an override naming its GPUs stays as written:
      // the child is pinned to them), with what each GPU pays again if the model is split.
      const answer = (n: Need) => {
        const fixed = n.source === 'override' && Object.keys(n.devices).some((d) => d !== 'CPU' && d !== ANY_GPU);
        const devices = placed && !fixed ? generalise(n.devices) : n.devices;
        const parts = n.parts && (placed ? generaliseParts(n.parts) : n.parts);
        lastNeed.set(spec.name, devices);
        lastSource.set(spec.name, n.source);
        const cpu = n.parts?.CPU;
        if (cpu) lastModelCpu.set(spec.name, cpu.weights + cpu.kv + cpu.compute + (cpu.repack ?? 0));
        else lastModelCpu.delete(spec.name);
        return { devices, source: n.source, ...(parts ? { parts } : {}), ...(placed && ANY_GPU in devices ? { perGpuBytes: DEFAULT_GPU_BASE } : {}) };
      };
      // The fast answer first (override, measured, or the header estimate, in milliseconds) ...
      let quick = await resolveNeed(request);
      // A measured figure that cannot fit even an empty device would make every request a 507, and the model would
      // never load to be measured again: check it by a probe (else the estimate) first.
      if (quick.source === 'measured' && !fitsEmpty(quick.devices, readings, opts)) {
        const fresh = await resolveNeed({ ...request, ledger: undefined, probe });
        if ((fresh.source === 'probe' || fresh.source === 'estimate') && fitsEmpty(fresh.devices, readings, opts)) {
          opts.logger.warn(
            { model: spec.name, measured: quick.devices, [fresh.source]: fresh.devices, file: ledger.file },
            `memory ledger: the measured figure for model ${spec.modelPath} cannot fit an empty device; the ${fresh.source} says it fits: dropping the figure (it is measured again on load)`,
          );
          if (request.ledgerKey) ledger.forget(request.ledgerKey);
          quick = fresh;
        }
      }
      // ... then the probe, when it would be more trusted than what we have.
      if (probe && (quick.source === 'estimate' || quick.source === 'unknown')) {
        const probed = probeChain.then(() => resolveNeed({ ...request, probe }));
        probeChain = probed.catch(() => undefined);
        const slow = () => probed.then((n) => (n.source === 'probe' ? answer(n) : undefined));
        // No refine (`router probe`): wait for the probe, and fall back to the estimate if it fails.
        if (quick.source === 'unknown' || !refine) return (await slow()) ?? (quick.source === 'unknown' ? undefined : answer(quick));
        void slow().then((n) => n && refine(n));
      }
      if (quick.source === 'unknown') return undefined;
      return answer(quick);
    },
    async readDevices() {
      monitor.invalidate();
      // A GPU's label ("NVIDIA GeForce RTX 4090") rides along for /devices, the dashboard and `router status`.
      return (await monitor.read()).map((d) => ({
        name: d.name,
        total: d.total,
        free: d.free,
        ...(d.label && d.kind !== 'cpu' ? { label: d.label } : {}),
      }));
    },
    async usage(_spec, pid) {
      const used = await monitor.usageByPids([pid]);
      // Devices the child does not touch read 0; keep only what it holds.
      return Object.fromEntries(Object.entries(used).filter(([, b]) => b > 0));
    },
    measured(spec, devices) {
      // A GPU model measured without any GPU figure (nvidia-smi in a container reports host pids) would
      // teach the ledger that it needs no GPU: keep the need instead.
      const expected = lastNeed.get(spec.name) ?? {};
      const expectsGpu = Object.entries(expected).some(([d, b]) => d !== 'CPU' && b > 0);
      const sawGpu = Object.entries(devices).some(([d, b]) => d !== 'CPU' && b > 0);
      if (expectsGpu && !sawGpu) {
        if (!warnedUnmeasured.has(spec.name)) {
          warnedUnmeasured.add(spec.name);
          opts.logger.warn({ model: spec.name }, 'per-process GPU memory is not visible (nvidia-smi in a container?): not recording a measured figure');
        }
        return;
      }
      void ledgerKey(spec, argsAt(spec, chosenCtx.get(spec.name))).then((key) => key && ledger.record(key, devices));
      // The server's own base, from a child whose model part was added up (estimate or llama-fit-params).
      const modelCpu = lastModelCpu.get(spec.name);
      if (modelCpu !== undefined && devices.CPU && !spec.url) learnBase(ledger, serverOf(spec, opts.server, opts.bundled).id, devices.CPU, modelCpu);
    },
    async sizeContext(spec, start) {
      if (!spec.ctxAuto || !spec.modelPath) throw new Error(`model '${spec.name}' does not have ctx-size = auto and a model file`);
      const shape = await shapeOf(spec.modelPath);
      // The GPUs the load was planned on, else (a preset naming its own) every GPU, as its need was estimated.
      const gpus = start.devices?.length ? start.devices : (await monitor.read()).filter((d) => d.name !== 'CPU').map((d) => d.name);
      const room = start.room ?? {};
      const deviceFree = Object.fromEntries(gpus.filter((g) => room[g]).map((g) => [g, room[g]!.bytes]));
      const srv = serverOf(spec, opts.server, opts.bundled);
      const estimate = engineEstimateOptions(srv.kind, srv.tokens, { devices: gpus, env: spec.env, deviceFree, cpuBaseBytes: baseOf(srv) });
      // A more trusted need at ctx-min (measured, probe, override) anchors the estimate's growth; its one-GPU
      // figure is the chosen GPU's (a split has no per-GPU figure: the estimate alone).
      let anchor: DeviceBytes | undefined;
      const admitted = lastNeed.get(spec.name);
      if (admitted && lastSource.get(spec.name) !== 'estimate') {
        anchor = { ...admitted };
        if (ANY_GPU in anchor) {
          if (gpus.length === 1) anchor[gpus[0]!] = anchor[ANY_GPU]!;
          delete anchor[ANY_GPU];
        }
      }
      const r = fitContext({ shape, estimate, room, min: spec.ctxAuto.min, max: spec.ctxAuto.max, anchor, marginBytes: start.marginBytes });
      if (!r.ok) throw new Error(r.message);
      chosenCtx.set(spec.name, r.ctx);
      return { ctx: r.ctx, devices: r.need, reason: r.reason };
    },
    async placementEnv(spec, devices) {
      if (spec.url || namesDevices(spec)) return undefined;
      return visibleDevicesEnv(devices, await monitor.read(), process.env);
    },
  };
  return { hooks, monitor, ledger };
}
