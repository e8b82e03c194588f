/** What the benchmarks ran on: the figures only mean something next to this. */
import { cpus, loadavg, totalmem } from 'node:os';

export interface Machine {
  cpu: string;
  cores: number;
  ramGiB: number;
  node: string;
  loadAvg: number[];
}

export function machine(): Machine {
  const c = cpus();
  return {
    cpu: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    ramGiB: totalmem() / 2 ** 30,
    node: process.version,
    loadAvg: loadavg(),
  };
}
