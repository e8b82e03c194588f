/**
 * One generation on one context sequence, token by token, on node-llama-cpp's lowest public loop
 * (`sequence.evaluate`). Owning the loop gives what the OpenAI API promises and the higher-level helpers blur:
 * an exact completion token count (ignore_eos must yield exactly max_tokens), stop strings that never leak into a
 * stream, a finish reason, and an abort that takes effect at the next token.
 */
import type { LlamaContextSequence, LlamaGrammarEvaluationState, LlamaModel, Token } from 'node-llama-cpp';
import { TokenBias } from 'node-llama-cpp';
import type { SamplingParams } from './request.js';
import { MAX_HELD_TOKENS, REPLACEMENT_CHAR, StopStringFilter } from './text-stream.js';

export type FinishReason = 'stop' | 'length';

export interface GenerationResult {
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** llama-server's `timings` block, so clients and benchmarks can read speed the same way. */
  timings: {
    prompt_n: number;
    prompt_ms: number;
    prompt_per_second: number;
    predicted_n: number;
    predicted_ms: number;
    predicted_per_second: number;
  };
}

export interface GenerationInput {
  sequence: LlamaContextSequence;
  /** Full prompt, BOS included when the model wants one. */
  promptTokens: Token[];
  sampling: SamplingParams;
  /** Extra tokens that end generation (the chat template's end-of-turn), besides the model's EOG tokens. */
  stopTokens?: ReadonlySet<Token>;
  /** Tokens to forbid under ignore_eos: every EOG token plus stopTokens. */
  eogTokens: () => readonly Token[];
  signal: AbortSignal;
  /** Called with each piece of visible text as soon as it is final. */
  onText?: (text: string) => void;
  /** response_format JSON: only tokens the grammar allows are sampled. */
  grammar?: LlamaGrammarEvaluationState;
}

/** How many tokens of the generated text to give detokenize as context (for SentencePiece's leading spaces). */
const DETOKENIZE_CONTEXT = 8;

export async function generate(input: GenerationInput): Promise<GenerationResult> {
  const { sequence, promptTokens, sampling, signal, onText } = input;
  const model: LlamaModel = sequence.model;
  const stopTokens = input.stopTokens ?? new Set<Token>();
  const started = performance.now();

  // Reuse the longest prefix the sequence already holds (the previous turn of the same chat, usually). At least
  // one prompt token must be evaluated to get logits for the first new token.
  const keep = promptTokens.slice(0, -1);
  await sequence.adaptStateToTokens(keep, false);
  const toEvaluate = promptTokens.slice(Math.min(sequence.nextTokenIndex, promptTokens.length - 1));
  throwIfAborted(signal);

  // Never let the sequence fill up: node-llama-cpp would shift the context (drop the prompt's beginning), which
  // llama-server reports as a truncated generation; we stop with "length" instead.
  const room = sequence.contextSize - promptTokens.length;
  const budget = Math.min(sampling.maxTokens ?? Number.POSITIVE_INFINITY, room);

  const tokenBias = sampling.ignoreEos ? biasAgainst(model, input.eogTokens()) : undefined;
  const generated: Token[] = [];
  const held: Token[] = [];
  const filter = new StopStringFilter(sampling.stop);
  let text = '';
  let finishReason: FinishReason = 'length';
  let firstTokenAt: number | undefined;

  const emit = (piece: string): void => {
    if (!piece) return;
    text += piece;
    onText?.(piece);
  };

  const iterator = sequence.evaluate(toEvaluate, {
    temperature: sampling.temperature,
    topK: sampling.topK,
    topP: sampling.topP,
    minP: sampling.minP,
    seed: sampling.seed,
    tokenBias,
    grammarEvaluationState: input.grammar,
    repeatPenalty: penaltyOf(sampling, generated),
    yieldEogToken: true,
  });

  let count = 0;
  if (budget > 0) {
    try {
      for await (const token of iterator) {
        firstTokenAt ??= performance.now();
        if (signal.aborted) break;
        count++;
        if (!sampling.ignoreEos && (model.isEogToken(token) || stopTokens.has(token))) {
          finishReason = 'stop';
          break;
        }
        held.push(token);
        const piece = model.detokenize(held, false, generated.slice(-DETOKENIZE_CONTEXT));
        // Part of a multi-token UTF-8 character: wait for the rest (bounded, in case the bytes are invalid).
        if (!(piece.endsWith(REPLACEMENT_CHAR) && held.length < MAX_HELD_TOKENS)) {
          generated.push(...held);
          held.length = 0;
          emit(filter.push(piece));
          if (filter.hasStopped) {
            finishReason = 'stop';
            break;
          }
        }
        if (count >= budget) break;
      }
    } finally {
      // Leaving the loop early (stop, abort, budget) must end the native evaluation too.
      await iterator.return();
    }
  }
  throwIfAborted(signal);

  if (finishReason === 'length') {
    if (held.length > 0) emit(filter.push(model.detokenize(held, false, generated.slice(-DETOKENIZE_CONTEXT))));
    emit(filter.flush());
    if (filter.hasStopped) finishReason = 'stop';
  }

  const ended = performance.now();
  const promptDone = firstTokenAt ?? ended;
  const promptMs = promptDone - started;
  const predictedMs = ended - promptDone;
  return {
    text,
    finishReason,
    promptTokens: promptTokens.length,
    completionTokens: count,
    timings: {
      prompt_n: toEvaluate.length,
      prompt_ms: round(promptMs),
      prompt_per_second: round(promptMs > 0 ? (toEvaluate.length * 1000) / promptMs : 0),
      predicted_n: count,
      predicted_ms: round(predictedMs),
      predicted_per_second: round(predictedMs > 0 ? (Math.max(0, count - 1) * 1000) / predictedMs : 0),
    },
  };
}

function biasAgainst(model: LlamaModel, tokens: readonly Token[]): TokenBias {
  const bias = new TokenBias(model.tokenizer);
  for (const token of tokens) bias.set(token, 'never');
  return bias;
}

function penaltyOf(sampling: SamplingParams, generated: Token[]) {
  const { repeatPenalty, presencePenalty, frequencyPenalty } = sampling;
  if (!repeatPenalty && !presencePenalty && !frequencyPenalty) return undefined;
  return {
    // llama-server's repeat_last_n default.
    punishTokens: () => generated.slice(-64),
    maxPunishTokens: 64,
    penalty: repeatPenalty,
    presencePenalty,
    frequencyPenalty,
  };
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason ?? new Error('aborted');
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
