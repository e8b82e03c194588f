/**
 * Cold starts that swap models, side by side with llama.cpp's own router: two models in a folder, room for one
 * (--models-max 1), real llama-server children; requests alternate between the two models, so each one stops the
 * other's child and starts its own. Timed to the end of a 1-token chat answer, through our router and through
 * `llama-server --models-dir` (router mode), in alternating runs. Needs LLAMA_SERVER.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstByte } from './first-byte.js';
import { startCommand, startRouter, untilHealthy, type Started } from './processes.js';
import { median } from './stats.js';

export interface ColdSwapResult {
  swaps: number;
  /** Medians, ms: request sent -> the answer's first byte (a 1-token answer: about its end). */
  ours: number;
  llamaCpp: number;
  oursAll: number[];
  llamaCppAll: number[];
}

const CHILD_ARGS = ['-c', '512', '-np', '1', '-t', '1'];

export async function coldSwap(opts: { swaps: number; modelPath: string; llamaServer: string }, log: (s: string) => void): Promise<ColdSwapResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-swap-'));
  const models = join(dir, 'models');
  mkdirSync(models);
  // Two distinct files, so neither side can share anything between the two models.
  copyFileSync(opts.modelPath, join(models, 'swap-a.gguf'));
  copyFileSync(opts.modelPath, join(models, 'swap-b.gguf'));
  const started: Started[] = [];
  try {
    const ours = await startRouter(['--models-dir', models, '--server-bin', opts.llamaServer, '--models-max', '1', '--', ...CHILD_ARGS]);
    started.push(ours);
    const peer = await startCommand(opts.llamaServer, ['--models-dir', models, '--models-max', '1', '--host', '127.0.0.1', '--port', '${PORT}', '--no-webui', ...CHILD_ARGS]);
    started.push(peer);
    await untilHealthy(peer, 30_000);
    const sides: [string, Started, number[]][] = [
      ['ours', ours, []],
      ['llama.cpp', peer, []],
    ];
    // One warm-up swap pair each (first load of each file, page cache), not recorded.
    for (const [, s] of sides) for (const m of ['swap-a', 'swap-b']) await request(s, m);
    for (let i = 0; i < opts.swaps; i++) {
      const model = i % 2 === 0 ? 'swap-a' : 'swap-b';
      log(`cold swap: ${i + 1}/${opts.swaps} (${model})`);
      for (let k = 0; k < sides.length; k++) {
        const [, s, times] = sides[(i + k) % sides.length]!;
        times.push(await request(s, model));
      }
    }
    return { swaps: opts.swaps, ours: median(sides[0]![2]), llamaCpp: median(sides[1]![2]), oursAll: sides[0]![2], llamaCppAll: sides[1]![2] };
  } finally {
    await Promise.all(started.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A 1-token chat, non-streamed, on a fresh connection. */
function request(s: Started, model: string): Promise<number> {
  return firstByte(s.url, model, { stream: false });
}
