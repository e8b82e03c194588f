/** What one device has right now. Bytes throughout. */
export interface DeviceReading {
  /** llama.cpp's name for the device: `CUDA0`, `CUDA1`, `ROCm0`, `CPU`. */
  name: string;
  kind: 'cuda' | 'rocm' | 'cpu';
  /** Index as the vendor tool reports it (nvidia-smi `index`, rocm-smi `cardN`). */
  index?: number;
  uuid?: string;
  /** Human name, e.g. "NVIDIA GeForce RTX 4090". */
  label?: string;
  total: number;
  free: number;
}

/** One line of text for the operator; the monitor never throws for a missing tool, it says so here once. */
export type Logger = (msg: string) => void;

/** Bytes per device name. */
export type DeviceBytes = Record<string, number>;

export const MiB = 1024 * 1024;
