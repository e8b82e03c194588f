/**
 * The node-llama-cpp runtime, set up the way this engine needs it everywhere (serving and --dry-run alike):
 * no build at run time (a missing binary must fail in milliseconds, not compile llama.cpp for minutes), threads
 * bounded by the real core count (its CPU default of >= 4 threads is ~100x slower on 2 cores), and llama.cpp's
 * log lines on stderr (stdout belongs to --dry-run).
 */
import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp';
import { log } from './log.js';

export async function openLlama({ threads, gpu }: { threads: number; gpu: boolean }): Promise<Llama> {
  return getLlama({
    build: 'never',
    gpu: gpu ? 'auto' : false,
    maxThreads: threads,
    progressLogs: false,
    logLevel: LlamaLogLevel.warn,
    logger: (level, message) => {
      const text = message.trimEnd();
      if (text && (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal || level === LlamaLogLevel.warn)) {
        log(`llama.cpp ${level}: ${text}`);
      }
    },
  });
}

/** llama-server's device names, so a router reads one vocabulary whichever engine answered. */
export function gpuDeviceName(llama: Llama): string | undefined {
  switch (llama.gpu) {
    case 'cuda':
      return 'CUDA0';
    case 'vulkan':
      return 'Vulkan0';
    case 'metal':
      return 'Metal';
    default:
      return undefined;
  }
}
