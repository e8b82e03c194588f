/**
 * A server's own base (its code, heap, threads: what it holds beside llama.cpp's buffers for the model),
 * learned from a measured child and kept in the ledger beside the measured figures, as an entry of its
 * own kind: key `base|<server command>`, devices `{CPU: bytes}`.
 *
 * learned = measured CPU - (weights + KV cache + compute buffers the estimate or probe counted for that
 * child), never below 0. Every measurement of a child of that server raises it (the ledger keeps the
 * maximum), so the first child measured after a long prompt sets it; a measurement right after load
 * (compute buffers not yet touched) gives a lower figure, which a later one replaces.
 *
 * Used for a `cmd` we know nothing about, whose base is otherwise a guess; for llama-server and the
 * bundled engine it can only raise their known base (a GPU build of llama-server maps more code).
 */
import type { MemoryLedger } from './ledger.js';

const PREFIX = 'base|';

export function serverBaseKey(server: string): string {
  return PREFIX + server;
}

export function isServerBaseKey(key: string): boolean {
  return key.startsWith(PREFIX);
}

/** The learned CPU base of a server, or undefined when none of its children was measured yet. */
export function learnedBase(ledger: MemoryLedger, server: string): number | undefined {
  const b = ledger.get(serverBaseKey(server))?.CPU;
  return b !== undefined && b > 0 ? b : undefined;
}

/**
 * Learn from one measurement: `measuredCpu` bytes of RSS for a child whose model part on the CPU (weights,
 * KV cache, compute, without any base) was `modelCpu`. Returns the base this measurement shows.
 */
export function learnBase(ledger: MemoryLedger, server: string, measuredCpu: number, modelCpu: number): number {
  const base = Math.max(0, Math.round(measuredCpu - modelCpu));
  // A base of 0 is not recorded (the ledger drops zeros); it would mean the estimate was above the measurement.
  if (base > 0) ledger.record(serverBaseKey(server), { CPU: base });
  return base;
}
