/**
 * `ctx-size = auto`: the largest context that fits the room a load was given. Pure: the room comes from
 * the scheduler (its `start` effect), the shape from the GGUF header, the options from the child's args.
 *
 * A context's need is the header estimate at that context (estimate-core.ts: weights, KV cache of
 * ctx × parallel cells (or ctx shared by the slots), compute buffer, which grows with the context too).
 * When the need at ctx-min came from a more trusted source (measured, probe, override), that figure is the
 * anchor and the estimate only says how much more a larger context takes:
 *     need(ctx) = anchor + estimate(ctx) - estimate(ctx-min)
 * so a load the scheduler admitted at its ctx-min need always fits at ctx-min.
 */
import { estimateFromShape, type EstimateOptions, type ModelShape } from './estimate-core.js';
import { KV_PAD } from './kv.js';

type DeviceBytes = Record<string, number>;

/** The smallest context `ctx-size = auto` falls back to without a ctx-min: one KV block. */
export const DEFAULT_CTX_MIN = KV_PAD;
/** The largest when the GGUF does not say its training context and the preset gives no ctx-max. */
export const DEFAULT_CTX_MAX = 4096;

export interface RoomLimit {
  bytes: number;
  /** What bounds it: free memory after the margin, or the `--models-memory-max` cap. */
  limit: 'free' | 'cap';
}

export interface CtxAutoInput {
  shape: ModelShape;
  /** From the child's args (devices, parallel, cache types, -ngl, ...); ctxSize is ignored. */
  estimate: EstimateOptions;
  /** What this load may take per device; a device without an entry has no limit. */
  room: Record<string, RoomLimit>;
  min?: number;
  max?: number;
  /** The admission need at ctx-min from a more trusted source than the estimate. */
  anchor?: DeviceBytes;
  /** For the reason: the margin kept free (bytes), when free memory bounds the room. */
  marginBytes?: number | null;
}

export type CtxAutoResult =
  | { ok: true; ctx: number; need: DeviceBytes; reason: string }
  | { ok: false; ctxMin: number; need: DeviceBytes; message: string };

/** The bounds: [ctx-min, min(ctx-max, training context)]; an explicit ctx-min above that upper bound wins. */
export function ctxBounds(shape: Pick<ModelShape, 'contextLength'>, min?: number, max?: number): { min: number; max: number; by: string } {
  const lo = Math.max(1, Math.floor(min ?? DEFAULT_CTX_MIN));
  const training = shape.contextLength && shape.contextLength > 0 ? shape.contextLength : undefined;
  let hi: number;
  let by: string;
  if (max !== undefined && (training === undefined || max <= training)) {
    hi = Math.floor(max);
    by = `ctx-max ${hi}`;
  } else if (training !== undefined) {
    hi = training;
    by = `the model's training context ${training}`;
  } else {
    hi = DEFAULT_CTX_MAX;
    by = `${DEFAULT_CTX_MAX} (the model does not say its training context)`;
  }
  if (hi < lo) return { min: lo, max: lo, by: `ctx-min ${lo}` };
  return { min: Math.min(lo, hi), max: hi, by };
}

export function fitContext(input: CtxAutoInput): CtxAutoResult {
  const bounds = ctxBounds(input.shape, input.min, input.max);
  const at = (ctx: number) => estimateFromShape(input.shape, { ...input.estimate, ctxSize: ctx }).devices;
  const base = at(bounds.min);
  const needAt = (ctx: number): DeviceBytes => {
    const est = ctx === bounds.min ? base : at(ctx);
    if (!input.anchor) return est;
    const out: DeviceBytes = {};
    for (const [d, b] of Object.entries(est)) {
      const a = input.anchor[d];
      out[d] = a === undefined ? b : Math.max(0, a + b - (base[d] ?? 0));
    }
    return out;
  };
  /** The first device the need does not fit on, if any. */
  const overflow = (need: DeviceBytes) => Object.keys(input.room).find((d) => (need[d] ?? 0) > input.room[d]!.bytes);

  const minNeed = needAt(bounds.min);
  const short = overflow(minNeed);
  if (short !== undefined) {
    return {
      ok: false,
      ctxMin: bounds.min,
      need: minNeed,
      message: `ctx-size = auto: even ctx-min ${bounds.min} needs ${mib(minNeed[short]!)} on ${short}, more than the ${describeRoom(short, input)}`,
    };
  }
  const maxNeed = needAt(bounds.max);
  if (overflow(maxNeed) === undefined) {
    const bounded = Object.keys(input.room).filter((d) => (maxNeed[d] ?? 0) > 0);
    const fits = bounded.length
      ? `; needs ${bounded.map((d) => `${mib(maxNeed[d]!)} of the ${describeRoom(d, input)}`).join(', ')}`
      : ' (no memory limit applies)';
    return { ok: true, ctx: bounds.max, need: maxNeed, reason: `${bounds.by}${fits}` };
  }
  // Binary search over multiples of KV_PAD in (min, max): fits(lo) holds, fits(hi) does not.
  let lo = Math.floor(bounds.min / KV_PAD);
  let hi = Math.ceil(bounds.max / KV_PAD);
  const fitsK = (k: number) => k * KV_PAD <= bounds.min || (k * KV_PAD < bounds.max && overflow(needAt(k * KV_PAD)) === undefined);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fitsK(mid)) lo = mid;
    else hi = mid;
  }
  const ctx = Math.max(bounds.min, lo * KV_PAD);
  const need = needAt(ctx);
  // The device that stops the next step up names the reason.
  const next = needAt(Math.min(bounds.max, (Math.floor(ctx / KV_PAD) + 1) * KV_PAD));
  const binding = overflow(next) ?? Object.keys(input.room)[0]!;
  const reason =
    ctx === bounds.min
      ? `ctx-min ${bounds.min}: a larger context does not fit the ${describeRoom(binding, input)}`
      : `largest multiple of ${KV_PAD} fitting the ${describeRoom(binding, input)}`;
  return { ok: true, ctx, need, reason };
}

function describeRoom(device: string, input: CtxAutoInput): string {
  const r = input.room[device]!;
  if (r.limit === 'cap') return `${mib(r.bytes)} left on ${device} under --models-memory-max`;
  const margin = input.marginBytes ? ` after the ${mib(input.marginBytes)} margin` : '';
  return `${mib(r.bytes)} free on ${device}${margin}`;
}

function mib(bytes: number): string {
  const g = bytes / 2 ** 30;
  return g >= 1 ? `${g.toFixed(2)} GiB` : `${Math.round(bytes / 2 ** 20)} MiB`;
}
