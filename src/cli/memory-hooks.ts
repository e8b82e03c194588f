/**
 * Wires the memory and devices rooms into the router: what a model needs (override,
 * measured ledger, probe, estimate), fresh device readings, and what a child really uses.
 */
import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { ModelSpec } from '../catalog/model-spec.js';
import { DeviceMonitor } from '../devices/monitor.js';
import { MemoryLedger, estimateOptionsFromArgs, resolveNeed } from '../memory/index.js';
import type { ServerBin } from '../router/child-command.js';
import type { MemoryHooks } from '../router/router.js';

export interface MemoryWiring {
  hooks: MemoryHooks;
  monitor: DeviceMonitor;
  ledger: MemoryLedger;
}

export function memoryHooks(opts: { stateDir: string; server: ServerBin; bundled: boolean; logger: Logger }): MemoryWiring {
  const log = (msg: string) => opts.logger.warn(msg);
  const monitor = new DeviceMonitor({ logger: log });
  const ledger = new MemoryLedger(opts.stateDir, { logger: log });
  const probeCache = new Map<string, Record<string, number>>();

  const ledgerKey = async (spec: ModelSpec): Promise<string | undefined> => {
    if (!spec.modelPath) return undefined;
    try {
      const s = await stat(spec.modelPath);
      return ledger.key({ path: spec.modelPath, size: s.size, mtimeMs: s.mtimeMs }, spec.args, { env: spec.env, backend: spec.cmd ?? opts.server.command });
    } catch {
      return undefined;
    }
  };

  // Probes start processes: one at a time, in the background.
  let probeChain: Promise<unknown> = Promise.resolve();

  const hooks: MemoryHooks = {
    async need(spec, refine) {
      const gpus = (await monitor.read()).filter((d) => d.name !== 'CPU').map((d) => d.name);
      // The bundled engine can say what it would take without loading weights (its --dry-run).
      const probe =
        spec.probe ??
        (opts.bundled && spec.modelPath && !spec.cmd
          ? [opts.server.command, ...opts.server.prefix, '--model', spec.modelPath, ...spec.args, '--dry-run']
          : undefined);
      const request = {
        override: spec.memory,
        ledger,
        ledgerKey: await ledgerKey(spec),
        probeCache,
        gguf: spec.modelPath,
        // llama-server shares -c across its -np slots; the bundled engine gives each slot -c.
        estimate: estimateOptionsFromArgs(spec.args, { devices: gpus, ctxScope: opts.bundled ? 'per-sequence' : 'total' }),
        logger: (msg: string) => opts.logger.warn({ model: spec.name }, msg),
      };
      // The fast answer first (override, measured, or the header estimate, in milliseconds) ...
      const quick = await resolveNeed(request);
      // ... then the probe, when it would be more trusted than what we have.
      if (probe && (quick.source === 'estimate' || quick.source === 'unknown')) {
        const probed = probeChain.then(() => resolveNeed({ ...request, probe }));
        probeChain = probed.catch(() => undefined);
        const slow = () =>
          probed.then((n) => (n.source === 'probe' ? { devices: n.devices, source: n.source } : undefined));
        if (quick.source === 'unknown' || !refine) return slow();
        void slow().then((n) => n && refine(n));
      }
      if (quick.source === 'unknown') return undefined;
      return { devices: quick.devices, source: quick.source };
    },
    async readDevices() {
      monitor.invalidate();
      return (await monitor.read()).map((d) => ({ name: d.name, total: d.total, free: d.free }));
    },
    async usage(_spec, pid) {
      const used = await monitor.usageByPids([pid]);
      // Devices the child does not touch read 0; keep only what it holds.
      return Object.fromEntries(Object.entries(used).filter(([, b]) => b > 0));
    },
    measured(spec, devices) {
      void ledgerKey(spec).then((key) => key && ledger.record(key, devices));
    },
  };
  return { hooks, monitor, ledger };
}
