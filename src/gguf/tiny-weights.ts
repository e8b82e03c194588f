/**
 * Deterministic weights for the tiny model, generated row by row (never a whole matrix in memory).
 *
 * Random weights make random bytes; three reserved residual dimensions make the output readable and finite:
 * - dim 0 is a constant 1 in every token embedding, and no layer writes it, so column 0 of output.weight acts as
 *   a per-token logit bias: non-printable bytes and control tokens get a large negative bias and never appear.
 * - dim 2 flags turn markers (<s>, <|im_start|>, <|im_end|>).
 * - dim 1 is a timer. In layer 0, head 0 attends by position only: its query and key read the constant dim 0 into
 *   two low RoPE frequencies, so its score is A (cos θ1 Δ + cos θ2 Δ), a window of the last ~30 tokens. Its value is
 *   the turn-marker flag, and its output is written into dim 1. So dim 1 is high right after
 *   `<|im_start|>assistant\n` and fades as the reply grows. EOS gets a positive bias minus a multiple of dim 1:
 *   suppressed at the start of a reply, then increasingly likely, then certain, even for greedy decoding. Replies
 *   stop on their own after a few dozen tokens; with EOS banned (ignore_eos), generation goes on as long as asked.
 * All other weights are uniform random, with reads of dims 0-2 and writes to them zeroed.
 */
import { f32ToF16Bits } from './f16.js';
import { deriveSeed, xorshift32, uniform, type Rng } from './prng.js';
import { GgmlType } from './types.js';
import { HEAD_DIM, type TensorShape, type TinyShape } from './tiny-shape.js';
import { EOS_TOKEN, isPrintableByteToken, isTurnMarker } from './tiny-vocab.js';

/** The knobs of the readable-output trick, in logit units where they say so. Changing one changes every file. */
export const TUNING = {
  /** RoPE frequencies of the timer head's two pairs (with freq_base 10000: pairs 16 and 22 of a 64-wide head). */
  timerThetas: [0.01, 0.00178],
  /** Score amplitude per pair: the window is ~exp(-A Σθ² Δ² / 2). */
  timerAmplitude: 25,
  /** Value weight on the marker flag, and output weight into dim 1. */
  timerValue: 3,
  timerOut: 3,
  /** Logit bias of EOS once the timer has faded, and how much a full timer takes off it. */
  eosBias: 6,
  eosTimer: 12,
  /** Logit bias of every token that must never appear. */
  forbiddenBias: -40,
  /** Standard deviation of the random part of printable tokens' logits. */
  logitStd: 1,
  /** Residual contributions of each block's attention and FFN (divided by sqrt(layers)). */
  attnGain: 0.3,
  ffnGain: 0.5,
};

export const ROPE_FREQ_BASE = 10000;
const RESERVED = 3;
/** x_norm of dim 0 for an embedding row with rms 1/sqrt(3) per random dim: about sqrt(3). */
const DIM0_NORM = Math.sqrt(3);

export type RowFiller = (row: number, out: Buffer) => void;

/** The row producer for one tensor of the tiny model. */
export function rowFiller(t: TensorShape, s: TinyShape, seed: number): RowFiller {
  const rng = xorshift32(deriveSeed(seed, t.name));
  const w = new RowWriter(t.dims[0]!, t.type);
  const n = s.embd;
  const invSqrtL = 1 / Math.sqrt(s.layers);
  const layer = /^blk\.(\d+)\.(.+)\.weight$/.exec(t.name);

  if (t.name === 'token_embd.weight') return (row, out) => w.emit(out, embeddingRow(rng, n, row));
  if (t.name === 'output.weight') return (row, out) => w.emit(out, outputRow(rng, n, row));
  if (t.name.endsWith('norm.weight')) return (_row, out) => w.emit(out, new Float32Array(n).fill(1));
  if (!layer) throw new Error(`no weights for ${t.name}`);

  const l = Number(layer[1]);
  const kind = layer[2]!;
  const groupHeads = s.heads / s.headsKv;
  const timer = l === 0;
  const pairs = TUNING.timerThetas.map((theta) => Math.round((Math.log(1 / theta) / Math.log(ROPE_FREQ_BASE)) * (HEAD_DIM / 2)));
  // Score per pair = a_q a_k x0^2 / sqrt(head_dim) = A, with equal q and k weights.
  const timerWeight = Math.sqrt((TUNING.timerAmplitude * Math.sqrt(HEAD_DIM)) / (DIM0_NORM * DIM0_NORM));

  const fanIn = t.dims[0]!;
  const std = (() => {
    switch (kind) {
      case 'attn_output':
        return (TUNING.attnGain * invSqrtL) / Math.sqrt(fanIn);
      case 'ffn_down':
        return (TUNING.ffnGain * invSqrtL) / Math.sqrt(fanIn);
      default:
        return 1 / Math.sqrt(fanIn);
    }
  })();
  const random = w.randomRow(rng, std);

  switch (kind) {
    case 'attn_q':
    case 'attn_k':
      return (row, out) => {
        if (timer && row < HEAD_DIM) {
          // Timer head (query head 0 / KV head 0): only the two RoPE pairs, reading the constant dim 0.
          const v = new Float32Array(fanIn);
          if (pairs.some((i) => row === 2 * i)) v[0] = timerWeight;
          return w.emit(out, v);
        }
        random(out, RESERVED);
      };
    case 'attn_v':
    case 'ffn_gate':
    case 'ffn_up':
      return (row, out) => {
        if (kind === 'attn_v' && timer && row < HEAD_DIM) {
          const v = new Float32Array(fanIn);
          if (row === 0) v[2] = TUNING.timerValue;
          return w.emit(out, v);
        }
        random(out, RESERVED);
      };
    case 'attn_output':
      return (row, out) => {
        if (row < RESERVED) {
          const v = new Float32Array(fanIn);
          if (timer && row === 1) v[0] = TUNING.timerOut;
          return w.emit(out, v);
        }
        // Heads of KV group 0 in layer 0 are the timer's: their outputs go nowhere else.
        random(out, timer ? groupHeads * HEAD_DIM : 0);
      };
    case 'ffn_down':
      return (row, out) => {
        if (row < RESERVED) return; // out is zeroed: nothing writes the reserved dims
        random(out, 0);
      };
    default:
      throw new Error(`no weights for ${t.name}`);
  }
}

function embeddingRow(rng: Rng, n: number, token: number): Float32Array {
  const v = new Float32Array(n);
  let sq = 0;
  for (let i = RESERVED; i < n; i++) {
    v[i] = uniform(rng);
    sq += v[i]! * v[i]!;
  }
  // Every row gets the same mean square (1/3 per random dim), so dim 0's share of the norm is the same for all.
  const scale = Math.sqrt((n - RESERVED) / 3 / sq);
  for (let i = RESERVED; i < n; i++) v[i]! *= scale;
  v[0] = 1;
  v[2] = isTurnMarker(token) ? 1 : 0;
  return v;
}

function outputRow(rng: Rng, n: number, token: number): Float32Array {
  const v = new Float32Array(n);
  if (isPrintableByteToken(token)) {
    const a = TUNING.logitStd * Math.sqrt(3 / (n - RESERVED));
    for (let i = RESERVED; i < n; i++) v[i] = a * uniform(rng);
  } else if (token === EOS_TOKEN) {
    v[0] = TUNING.eosBias / DIM0_NORM;
    v[1] = -TUNING.eosTimer;
  } else {
    v[0] = TUNING.forbiddenBias / DIM0_NORM;
  }
  return v;
}

/**
 * Encodes rows in F16 or F32. Random rows come from a 4096-entry table of pre-encoded uniform values indexed by
 * 12 random bits (two values per PRNG call): this is what makes 500 MB take seconds, not minutes.
 */
class RowWriter {
  private readonly f16: Uint16Array | undefined;
  private readonly f32: Float32Array | undefined;
  private readonly bytes: Uint8Array;

  constructor(
    private readonly length: number,
    private readonly type: number,
  ) {
    if (type === GgmlType.F16) this.f16 = new Uint16Array(length + 1);
    else if (type === GgmlType.F32) this.f32 = new Float32Array(length + 1);
    else throw new Error(`tiny model rows are F16 or F32, not type ${type}`);
    const arr = (this.f16 ?? this.f32)!;
    this.bytes = new Uint8Array(arr.buffer, 0, length * arr.BYTES_PER_ELEMENT);
  }

  emit(out: Buffer, values: Float32Array): void {
    if (this.f16) for (let i = 0; i < this.length; i++) this.f16[i] = f32ToF16Bits(values[i]!);
    else this.f32!.set(values);
    out.set(this.bytes);
  }

  /** A filler of uniform values with this standard deviation; the first `zeroUpTo` elements are 0. */
  randomRow(rng: Rng, std: number): (out: Buffer, zeroUpTo: number) => void {
    const half = std * Math.sqrt(3);
    const table = this.f16 ? new Uint16Array(4096) : new Float32Array(4096);
    for (let k = 0; k < 4096; k++) {
      const x = ((k + 0.5) / 4096) * 2 * half - half;
      table[k] = this.f16 ? f32ToF16Bits(x) : x;
    }
    const target = (this.f16 ?? this.f32)!;
    const n = this.length;
    return (out, zeroUpTo) => {
      for (let i = 0; i < n; i += 2) {
        const r = rng();
        target[i] = table[r & 4095]!;
        target[i + 1] = table[(r >>> 16) & 4095]!;
      }
      target.fill(0, 0, zeroUpTo);
      out.set(this.bytes);
    };
  }
}
