/**
 * POST /v1/chat/completions and /v1/completions, streaming and not. Both take the same path: validate, build the
 * prompt (so a too-long prompt is a 400 before it waits in the queue), wait for a slot, generate, release the slot
 * exactly once whatever happens.
 */
import type { Request, Response } from 'express';
import { abortOnClientGone } from './client-gone.js';
import { contextExceeded } from './errors.js';
import type { GenerationResult } from './generate.js';
import {
  chatChunk,
  chatCompletion,
  chatUsageChunk,
  newId,
  now,
  textChunk,
  textCompletion,
  textUsageChunk,
  type ResponseHead,
} from './openai-format.js';
import { parseChatRequest, parseCompletionRequest, type SamplingParams } from './request.js';
import type { PreparedPrompt } from './runtime.js';
import { SlotTrace } from './slot-trace.js';
import { endEventStream, sendEvent, startEventStream } from './sse.js';
import type { EngineState } from './state.js';

interface Job {
  prompt: PreparedPrompt;
  sampling: SamplingParams;
  stream: boolean;
  includeUsage: boolean;
}

/** How one endpoint renders its stream and its final body. */
interface Renderer {
  prefix: 'chatcmpl' | 'cmpl';
  /** Sent before any content (the chat role chunk). */
  opening?: (head: ResponseHead) => unknown;
  delta: (head: ResponseHead, text: string) => unknown;
  finish: (head: ResponseHead, result: GenerationResult) => unknown;
  usage: (head: ResponseHead, result: GenerationResult) => unknown;
  body: (head: ResponseHead, result: GenerationResult) => unknown;
}

export function chatCompletionsHandler(state: EngineState) {
  return (req: Request, res: Response) => {
    const runtime = state.ready();
    const parsed = parseChatRequest(req.body);
    const job: Job = { ...parsed, prompt: runtime.chatPrompt(parsed.messages) };
    return run(state, job, req, res, {
      prefix: 'chatcmpl',
      opening: (head) => chatChunk(head, { role: 'assistant', content: '' }, null),
      delta: (head, text) => chatChunk(head, { content: text }, null),
      // llama-server's last chunk carries its timings, asked for or not (the router's /metrics reads them).
      finish: (head, result) => ({ ...chatChunk(head, {}, result.finishReason), timings: result.timings }),
      usage: chatUsageChunk,
      body: chatCompletion,
    });
  };
}

export function completionsHandler(state: EngineState) {
  return (req: Request, res: Response) => {
    const runtime = state.ready();
    const parsed = parseCompletionRequest(req.body);
    const job: Job = { ...parsed, prompt: runtime.completionPrompt(parsed.prompt) };
    const echo = parsed.echo ? parsed.prompt : '';
    return run(state, job, req, res, {
      prefix: 'cmpl',
      opening: echo ? (head) => textChunk(head, echo, null) : undefined,
      delta: (head, text) => textChunk(head, text, null),
      finish: (head, result) => ({ ...textChunk(head, '', result.finishReason), timings: result.timings }),
      usage: textUsageChunk,
      body: (head, result) => textCompletion(head, echo + result.text, result),
    });
  };
}

async function run(state: EngineState, job: Job, _req: Request, res: Response, render: Renderer): Promise<void> {
  const runtime = state.ready();
  // Refuse what can never fit before it takes a place in the queue.
  if (job.prompt.tokens.length >= runtime.ctxSize) throw contextExceeded(job.prompt.tokens.length, runtime.ctxSize);

  const signal = AbortSignal.any([abortOnClientGone(res), state.stopping.signal, runtime.retired.signal]);
  const slot = await runtime.pool.acquire(signal);
  const trace = new SlotTrace(runtime.pool, slot);
  try {
    const head: ResponseHead = { id: newId(render.prefix), created: now(), model: runtime.id };
    if (!job.stream) {
      const result = await runtime.generate(slot, job.prompt, job.sampling, signal);
      trace.end();
      res.json(render.body(head, result));
      return;
    }
    startEventStream(res);
    const opening = render.opening?.(head);
    if (opening) sendEvent(res, opening);
    const result = await runtime.generate(slot, job.prompt, job.sampling, signal, (text) => sendEvent(res, render.delta(head, text)));
    sendEvent(res, render.finish(head, result));
    if (job.includeUsage) sendEvent(res, render.usage(head, result));
    trace.end();
    endEventStream(res);
  } finally {
    trace.end();
    runtime.pool.release(slot);
  }
}
