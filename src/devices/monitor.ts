import { readCpuDevice, readRss, withDescendants, type HostPaths } from './host.js';
import { APPS_QUERY, GPU_QUERY, NVIDIA_SMI, nameCudaDevices, parseAppsCsv, parseGpuCsv, type NvidiaApp } from './nvidia.js';
import { ROCM_SMI, VRAM_QUERY, kfdVramByGpuOrdinal, nameRocmDevices, parseRocmVramJson, type RocmCard } from './rocm.js';
import { ToolError, runTool } from './run-tool.js';
import type { DeviceBytes, DeviceReading, Logger } from './types.js';

export interface DeviceMonitorOptions {
  /** How long a reading is reused, ms. Default 500: the scheduler may ask many times per event. */
  cacheMs?: number;
  /** Environment for the vendor tools and for *_VISIBLE_DEVICES; default process.env. */
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** Where "tool not found" goes (an info line: a CPU-only machine is normal, not a warning); default `logger`. */
  info?: Logger;
  /** Per tool call; default 3000 ms. */
  timeoutMs?: number;
  /**
   * How long a tool found missing (not on PATH) is not looked for again, ms. Default 10 minutes: looking
   * costs a process spawn (tens of ms of blocked event loop on a busy machine) on every reading, and a
   * vendor tool rarely appears while the router runs.
   */
  missingRetryMs?: number;
  /** Where /proc, the cgroup tree and /sys are (tests point these at fixtures). */
  paths?: HostPaths & { sysRoot?: string };
}

interface Snapshot {
  at: number;
  readings: DeviceReading[];
  rocmCards: RocmCard[];
}

/**
 * What memory each device has and what given processes use of it.
 *
 * A missing or failing vendor tool means "no GPUs of that kind": it is logged once per tool and
 * reason and never thrown, so a CPU-only machine and a machine with a wedged driver both keep working.
 * A missing tool is remembered (`missingRetryMs`) rather than looked for on every reading.
 * Concurrent callers share one tool run; answers are cached for `cacheMs`.
 */
export class DeviceMonitor {
  private readonly cacheMs: number;
  private readonly env: NodeJS.ProcessEnv;
  private readonly log: Logger;
  private readonly info: Logger;
  private readonly timeoutMs: number;
  private readonly paths: HostPaths & { sysRoot?: string };
  private snapshot?: Snapshot;
  private inflight?: Promise<Snapshot>;
  /**
   * Bumped by invalidate(): a poll started before it may predate what the caller wants to see (a child's exit), so
   * callers after it do not join that poll, and its answer is not cached.
   */
  private generation = 0;
  private inflightGeneration = -1;
  private apps?: { at: number; apps: NvidiaApp[] };
  private appsInflight?: Promise<NvidiaApp[]>;
  private readonly logged = new Set<string>();
  private readonly missingRetryMs: number;
  /** Tool -> when to look for it again, after it was found missing. */
  private readonly missingUntil = new Map<string, number>();

  constructor(opts: DeviceMonitorOptions = {}) {
    this.cacheMs = opts.cacheMs ?? 500;
    this.env = opts.env ?? process.env;
    this.log = opts.logger ?? (() => {});
    this.info = opts.info ?? this.log;
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.paths = opts.paths ?? {};
    this.missingRetryMs = opts.missingRetryMs ?? 10 * 60_000;
  }

  /** Every device now: GPUs first (CUDA0.., ROCm0..), then CPU. */
  async read(): Promise<DeviceReading[]> {
    return (await this.snap()).readings.map((r) => ({ ...r }));
  }

  /**
   * Bytes per device used by these processes and their descendants. CPU is the sum of resident set
   * sizes; CUDAn is nvidia-smi's per-process used_memory; ROCmn comes from the KFD's per-process files.
   * Every device of the current reading appears, 0 when unused.
   *
   * Inside a container nvidia-smi reports host pids, which will not match ours: GPU usage then reads 0.
   */
  async usageByPids(pids: number[]): Promise<DeviceBytes> {
    const snap = await this.snap();
    const out: DeviceBytes = {};
    for (const r of snap.readings) out[r.name] = 0;
    const all = await withDescendants(pids, this.paths);
    const rss = await Promise.all(all.map((p) => readRss(p, this.paths)));
    out.CPU = rss.reduce((a, b) => a + b, 0);

    const cuda = snap.readings.filter((r) => r.kind === 'cuda');
    if (cuda.length > 0) {
      const byUuid = new Map(cuda.map((r) => [r.uuid, r.name]));
      const wanted = new Set(all);
      for (const app of await this.computeApps()) {
        const name = byUuid.get(app.uuid);
        if (name && wanted.has(app.pid) && app.used !== undefined) out[name] = (out[name] ?? 0) + app.used;
      }
    }

    const rocm = snap.readings.filter((r) => r.kind === 'rocm');
    if (rocm.length > 0) {
      for (const pid of all) {
        for (const [ordinal, bytes] of await kfdVramByGpuOrdinal(pid, this.paths.sysRoot)) {
          const card = snap.rocmCards[ordinal];
          const reading = card && rocm.find((r) => r.index === card.index);
          if (reading) out[reading.name] = (out[reading.name] ?? 0) + bytes;
        }
      }
    }
    return out;
  }

  /** Forget the cached reading (e.g. right after a child exits, to see the memory it gave back). */
  invalidate(): void {
    this.snapshot = undefined;
    this.apps = undefined;
    this.generation++;
  }

  private async snap(): Promise<Snapshot> {
    if (this.snapshot && Date.now() - this.snapshot.at < this.cacheMs) return this.snapshot;
    if (!this.inflight || this.inflightGeneration !== this.generation) {
      const generation = this.generation;
      const poll: Promise<Snapshot> = this.take(generation).finally(() => {
        if (this.inflight === poll) this.inflight = undefined;
      });
      this.inflight = poll;
      this.inflightGeneration = generation;
    }
    return this.inflight;
  }

  private async take(generation: number): Promise<Snapshot> {
    const [cuda, rocm, cpu] = await Promise.all([this.readCuda(), this.readRocm(), readCpuDevice(this.paths)]);
    const snapshot = { at: Date.now(), readings: [...cuda, ...rocm.readings, cpu], rocmCards: rocm.cards };
    if (generation === this.generation) this.snapshot = snapshot;
    return snapshot;
  }

  private async readCuda(): Promise<DeviceReading[]> {
    const out = await this.tool(NVIDIA_SMI, GPU_QUERY, 'CUDA');
    if (out === undefined) return [];
    const { gpus, skipped } = parseGpuCsv(out);
    for (const line of skipped) this.once(`nvidia-smi:skip:${line}`, `nvidia-smi: ignoring a GPU without a memory figure: "${line.trim()}"`);
    const { readings, orderWarning } = nameCudaDevices(gpus, this.env);
    if (orderWarning) this.once('nvidia-smi:order', orderWarning);
    return readings;
  }

  private async readRocm(): Promise<{ readings: DeviceReading[]; cards: RocmCard[] }> {
    const out = await this.tool(ROCM_SMI, VRAM_QUERY, 'ROCm');
    if (out === undefined) return { readings: [], cards: [] };
    try {
      const cards = parseRocmVramJson(out);
      return { readings: nameRocmDevices(cards, this.env), cards };
    } catch (err) {
      this.once('rocm-smi:parse', `rocm-smi: could not read its JSON (${(err as Error).message}); no ROCm devices`);
      return { readings: [], cards: [] };
    }
  }

  private async computeApps(): Promise<NvidiaApp[]> {
    if (this.apps && Date.now() - this.apps.at < this.cacheMs) return this.apps.apps;
    if (!this.appsInflight) {
      this.appsInflight = (async () => {
        const out = await this.tool(NVIDIA_SMI, APPS_QUERY, 'CUDA per-process');
        const apps = out === undefined ? [] : parseAppsCsv(out);
        this.apps = { at: Date.now(), apps };
        return apps;
      })().finally(() => {
        this.appsInflight = undefined;
      });
    }
    return this.appsInflight;
  }

  /** stdout, or undefined after logging (once per tool and reason) why there is none. */
  private async tool(tool: string, args: string[], what: string): Promise<string | undefined> {
    if ((this.missingUntil.get(tool) ?? 0) > Date.now()) return undefined;
    try {
      return await runTool(tool, args, { env: this.env, timeoutMs: this.timeoutMs });
    } catch (err) {
      const reason = err instanceof ToolError ? err.reason : 'failed';
      if (reason === 'missing') this.missingUntil.set(tool, Date.now() + this.missingRetryMs);
      // A missing tool is the normal state of a machine without that vendor's GPUs: say it plainly.
      const msg =
        reason === 'missing'
          ? `${tool} not found: no ${what} devices`
          : `${(err as Error).message}; no ${what} devices until it answers`;
      this.once(`${tool}:${reason}`, msg, reason === 'missing' ? this.info : this.log);
      return undefined;
    }
  }

  private once(key: string, msg: string, log: Logger = this.log): void {
    if (this.logged.has(key)) return;
    this.logged.add(key);
    log(msg);
  }
}
