/**
 * `ctx-size = auto` at load time: the scheduler started the model with the room it may take (its `start`
 * effect); the memory hooks turn that room into a context (src/memory/ctx-auto.ts); the child gets it as
 * `--ctx-size N` and the scheduler is told what the model will hold (`sized`).
 */
import type { ModelSpec } from '../catalog/model-spec.js';
import { DEFAULT_CTX_MIN } from '../memory/ctx-auto.js';
import type { DeviceBytes, Room } from '../scheduler/types.js';

export interface ChosenCtx {
  size: number;
  reason: string;
}

export interface CtxSizer {
  sizeContext?(
    spec: ModelSpec,
    start: { room?: Record<string, Room>; devices?: string[]; marginBytes?: number | null },
  ): Promise<{ ctx: number; devices: DeviceBytes; reason: string }>;
}

export type Sizing =
  /** Not a ctx-size = auto model: nothing to add. */
  | { kind: 'fixed' }
  | { kind: 'sized'; ctx: ChosenCtx; extraArgs: string[]; devices: DeviceBytes }
  /** Cannot size it (even ctx-min does not fit, or no header): the load fails with this message. */
  | { kind: 'failed'; message: string };

export async function sizeForLoad(
  spec: ModelSpec,
  start: { room?: Record<string, Room>; devices?: string[]; marginBytes?: number | null },
  sizer: CtxSizer | undefined,
): Promise<Sizing> {
  if (!spec.ctxAuto) return { kind: 'fixed' };
  if (!sizer?.sizeContext) return { kind: 'failed', message: `model '${spec.name}' has ctx-size = auto, which needs the router's memory hooks` };
  try {
    const r = await sizer.sizeContext(spec, start);
    return { kind: 'sized', ctx: { size: r.ctx, reason: r.reason }, extraArgs: ['--ctx-size', String(r.ctx)], devices: r.devices };
  } catch (err) {
    return { kind: 'failed', message: `model '${spec.name}' cannot load: ${(err as Error).message}` };
  }
}

/**
 * A too_large rejection of a ctx-size = auto model was judged at its smallest context: say so, or the operator
 * reads "needs 3 GiB" and wonders why a model sized to memory does not size itself smaller.
 */
export function explainTooLarge(spec: ModelSpec | undefined, message: string): string {
  if (!spec?.ctxAuto) return message;
  const min = spec.ctxAuto.min ?? DEFAULT_CTX_MIN;
  return `${message}, even at its smallest context (ctx-size = auto, ctx-min ${min}${spec.ctxAuto.min === undefined ? ' by default' : ''})`;
}
