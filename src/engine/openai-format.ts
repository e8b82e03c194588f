/**
 * Response bodies in OpenAI's shapes (as llama-server emits them), kept apart from the routes so every shape is
 * visible in one place.
 */
import { randomUUID } from 'node:crypto';
import type { FinishReason, GenerationResult } from './generate.js';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function usageOf(result: Pick<GenerationResult, 'promptTokens' | 'completionTokens'>): Usage {
  return {
    prompt_tokens: result.promptTokens,
    completion_tokens: result.completionTokens,
    total_tokens: result.promptTokens + result.completionTokens,
  };
}

export function newId(prefix: 'chatcmpl' | 'cmpl'): string {
  return `${prefix}-${randomUUID().replaceAll('-', '')}`;
}

export const now = (): number => Math.floor(Date.now() / 1000);

/** Fields every response object of one request shares. */
export interface ResponseHead {
  id: string;
  created: number;
  model: string;
}

export function chatCompletion(head: ResponseHead, result: GenerationResult) {
  return {
    id: head.id,
    object: 'chat.completion',
    created: head.created,
    model: head.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: result.text },
        logprobs: null,
        finish_reason: result.finishReason,
      },
    ],
    usage: usageOf(result),
    timings: result.timings,
  };
}

export function chatChunk(head: ResponseHead, delta: { role?: 'assistant'; content?: string }, finishReason: FinishReason | null) {
  return {
    id: head.id,
    object: 'chat.completion.chunk',
    created: head.created,
    model: head.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  };
}

export function chatUsageChunk(head: ResponseHead, result: GenerationResult) {
  return {
    id: head.id,
    object: 'chat.completion.chunk',
    created: head.created,
    model: head.model,
    choices: [],
    usage: usageOf(result),
    timings: result.timings,
  };
}

export function textCompletion(head: ResponseHead, text: string, result: GenerationResult) {
  return {
    id: head.id,
    object: 'text_completion',
    created: head.created,
    model: head.model,
    choices: [{ index: 0, text, logprobs: null, finish_reason: result.finishReason }],
    usage: usageOf(result),
    timings: result.timings,
  };
}

export function textChunk(head: ResponseHead, text: string, finishReason: FinishReason | null) {
  return {
    id: head.id,
    object: 'text_completion',
    created: head.created,
    model: head.model,
    choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason }],
  };
}

export function textUsageChunk(head: ResponseHead, result: GenerationResult) {
  return {
    id: head.id,
    object: 'text_completion',
    created: head.created,
    model: head.model,
    choices: [],
    usage: usageOf(result),
    timings: result.timings,
  };
}

export function embeddingList(model: string, vectors: number[][], promptTokens: number, format: 'float' | 'base64') {
  return {
    object: 'list',
    model,
    data: vectors.map((v, index) => ({
      object: 'embedding',
      index,
      // base64 is little-endian float32, what the official clients request by default and decode.
      embedding: format === 'base64' ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v,
    })),
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}
