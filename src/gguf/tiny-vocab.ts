/**
 * The tiny model's vocabulary: SentencePiece ("llama") with byte fallback. Five special tokens, the U+2581 space
 * marker (so spaces round-trip; with add_space_prefix = false), then the 256 byte tokens <0x00>..<0xFF>.
 * Any text tokenizes to bytes; no merges are needed.
 */
import { gv, type GgufValue } from './values.js';

/** llama_token_type values. */
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const BYTE = 6;

export const TOKENS = {
  unk: 0,
  bos: 1,
  eos: 2,
  imStart: 3,
  imEnd: 4,
  space: 5,
  /** Token id of byte b is firstByte + b. */
  firstByte: 6,
} as const;

export const VOCAB_SIZE = 6 + 256;

/** ChatML, the template llama.cpp and node-llama-cpp both recognise (node-llama-cpp picks its ChatML wrapper). */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/**
 * End of generation is <|im_end|>: it ends an assistant turn in ChatML and is the EOS token, so llama.cpp,
 * llama-server and node-llama-cpp all stop on the same token. </s> exists (SentencePiece convention) but is never
 * produced.
 */
export const EOS_TOKEN = TOKENS.imEnd;

/** Tokens whose appearance marks a turn boundary: the model's "timer" starts at the last one (see tiny-weights.ts). */
export function isTurnMarker(token: number): boolean {
  return token === TOKENS.bos || token === TOKENS.imStart || token === TOKENS.imEnd;
}

/** The only tokens the model may produce: printable ASCII bytes and EOS. */
export function isPrintableByteToken(token: number): boolean {
  const b = token - TOKENS.firstByte;
  return b >= 0x20 && b <= 0x7e;
}

export function tokenizerMetadata(): [string, GgufValue][] {
  const tokens = ['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>', '\u2581'];
  const types = [UNKNOWN, CONTROL, CONTROL, CONTROL, CONTROL, NORMAL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(BYTE);
  }
  return [
    ['tokenizer.ggml.model', gv.str('llama')],
    ['tokenizer.ggml.tokens', gv.strs(tokens)],
    ['tokenizer.ggml.scores', gv.f32s(tokens.map(() => 0))],
    ['tokenizer.ggml.token_type', gv.i32s(types)],
    ['tokenizer.ggml.bos_token_id', gv.u32(TOKENS.bos)],
    ['tokenizer.ggml.eos_token_id', gv.u32(EOS_TOKEN)],
    ['tokenizer.ggml.unknown_token_id', gv.u32(TOKENS.unk)],
    ['tokenizer.ggml.add_bos_token', gv.bool(true)],
    ['tokenizer.ggml.add_eos_token', gv.bool(false)],
    ['tokenizer.ggml.add_space_prefix', gv.bool(false)],
    ['tokenizer.chat_template', gv.str(CHATML_TEMPLATE)],
  ];
}
