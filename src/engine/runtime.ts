/**
 * The loaded model and everything requests need from it: N context sequences behind a slot pool, the chat
 * template, tokenization, and a lazily created embedding context. Routes know nothing of node-llama-cpp beyond
 * this file and generate.ts.
 */
import path from 'node:path';
import {
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  LlamaGrammarEvaluationState,
  type LlamaGrammar,
  type LlamaEmbeddingContext,
  type LlamaModel,
  type Token,
} from 'node-llama-cpp';
import { badRequest, contextExceeded } from './errors.js';
import type { EngineOptions } from './flags.js';
import { generate, type GenerationResult } from './generate.js';
import { readModelInfo } from './model-file.js';
import type { ChatMessage, SamplingParams } from './request.js';
import { SlotPool, type Slot } from './slots.js';

export interface PreparedPrompt {
  tokens: Token[];
  /** Template end-of-turn tokens that end generation, besides the model's own EOG tokens. */
  stopTokens: ReadonlySet<Token>;
  /** Template end-of-turn strings that end generation when they appear as plain text. */
  stopStrings: readonly string[];
}

export class ModelRuntime {
  readonly id: string;
  readonly pool: SlotPool<LlamaContextSequence>;
  /** Aborted when the model is unloaded (`POST /models/unload`): generations in progress end at their next token. */
  readonly retired = new AbortController();
  private embeddingContext?: Promise<LlamaEmbeddingContext>;
  private embeddingQueue: Promise<unknown> = Promise.resolve();
  private eogTokenList?: Token[];
  private readonly chatWrapper: ChatWrapper;

  private constructor(
    readonly llama: Llama,
    readonly model: LlamaModel,
    readonly context: LlamaContext,
    private readonly options: EngineOptions,
  ) {
    this.id = options.alias ?? path.basename(options.model);
    this.pool = new SlotPool(Array.from({ length: options.parallel }, () => context.getSequence()));
    this.chatWrapper = resolveChatWrapper(model);
  }

  static async load(llama: Llama, options: EngineOptions, signal: AbortSignal): Promise<ModelRuntime> {
    const { insights } = await readModelInfo(options.model, llama);
    const gpuLayers = resolveGpuLayers(llama, options, insights.totalLayers);
    const model = await llama.loadModel({ modelPath: options.model, gpuLayers, loadSignal: signal });
    try {
      const context = await model.createContext({
        contextSize: resolveContextSize(options.ctxSize, model.trainContextSize),
        sequences: options.parallel,
        threads: options.threads,
        createSignal: signal,
      });
      return new ModelRuntime(llama, model, context, options);
    } catch (err) {
      await model.dispose();
      throw err;
    }
  }

  get ctxSize(): number {
    return this.context.contextSize;
  }

  get chatTemplateName(): string {
    return this.chatWrapper.wrapperName;
  }

  chatPrompt(messages: readonly ChatMessage[]): PreparedPrompt {
    const history: ChatHistoryItem[] = messages.map((m) =>
      m.role === 'assistant' ? { type: 'model', response: [m.content] } : { type: m.role, text: m.content },
    );
    // The reply is generated into an open model turn, as LlamaChat does it.
    if (history.at(-1)?.type !== 'model') history.push({ type: 'model', response: [] });
    const { contextText, stopGenerationTriggers } = this.chatWrapper.generateContextState({ chatHistory: history });
    const tokens = contextText.tokenize(this.model.tokenizer);
    const stopTokens = new Set<Token>();
    const stopStrings: string[] = [];
    for (const trigger of stopGenerationTriggers) {
      const plain = trigger.values.every((v) => typeof v === 'string');
      if (plain) {
        const s = trigger.values.join('');
        if (s) stopStrings.push(s);
        continue;
      }
      const triggerTokens = trigger.tokenize(this.model.tokenizer);
      if (triggerTokens.length === 1) stopTokens.add(triggerTokens[0]!);
    }
    return { tokens, stopTokens, stopStrings };
  }

  completionPrompt(prompt: string): PreparedPrompt {
    // llama-server parses special tokens in raw prompts; so do we.
    const tokens = this.model.tokenize(prompt, true);
    const bos = this.model.tokens.bos;
    if (this.model.tokens.shouldPrependBosToken && bos != null && tokens[0] !== bos) tokens.unshift(bos);
    return { tokens, stopTokens: new Set(), stopStrings: [] };
  }

  async generate(
    slot: Slot<LlamaContextSequence>,
    prompt: PreparedPrompt,
    sampling: SamplingParams,
    signal: AbortSignal,
    onText?: (text: string) => void,
  ): Promise<GenerationResult> {
    if (prompt.tokens.length === 0) throw badRequest('the prompt is empty', 'prompt');
    if (prompt.tokens.length >= this.ctxSize) throw contextExceeded(prompt.tokens.length, this.ctxSize);
    return generate({
      grammar: await this.grammarFor(sampling),
      sequence: slot.value,
      promptTokens: prompt.tokens,
      sampling: { ...sampling, stop: [...sampling.stop, ...prompt.stopStrings] },
      stopTokens: prompt.stopTokens,
      eogTokens: () => [...this.eogTokens(), ...prompt.stopTokens],
      signal,
      onText,
    });
  }

  /** response_format json_object / json_schema as a grammar state for one generation (a schema it cannot express: 400). */
  private async grammarFor(sampling: SamplingParams): Promise<LlamaGrammarEvaluationState | undefined> {
    const f = sampling.format;
    if (!f) return undefined;
    let grammar: LlamaGrammar;
    try {
      grammar =
        f.kind === 'json'
          ? await this.llama.getGrammarFor('json')
          : await this.llama.createGrammarForJsonSchema(f.schema as Parameters<Llama['createGrammarForJsonSchema']>[0]);
    } catch (err) {
      throw badRequest(`"response_format": the schema cannot be used: ${(err as Error).message}`, 'response_format');
    }
    return new LlamaGrammarEvaluationState({ model: this.model, grammar });
  }

  /** Embeddings run one at a time on their own context, created on first use (most models never need it). */
  embed(inputs: readonly string[], signal: AbortSignal): Promise<{ vectors: number[][]; promptTokens: number }> {
    const run = this.embeddingQueue.then(async () => {
      this.embeddingContext ??= this.model.createEmbeddingContext({
        contextSize: this.ctxSize,
        threads: this.options.threads,
      });
      const ctx = await this.embeddingContext;
      const vectors: number[][] = [];
      let promptTokens = 0;
      for (const [i, input] of inputs.entries()) {
        if (signal.aborted) throw signal.reason;
        const tokens = this.model.tokenize(input, false);
        const n = ctx.calculateInputLength(tokens);
        if (n === 0) throw badRequest(`input[${i}] is empty`, 'input');
        if (n > this.ctxSize) throw contextExceeded(n, this.ctxSize);
        promptTokens += n;
        vectors.push([...(await ctx.getEmbeddingFor(tokens)).vector]);
      }
      return { vectors, promptTokens };
    });
    this.embeddingQueue = run.catch(() => undefined);
    return run;
  }

  tokenCount(text: string): number {
    return this.model.tokenize(text, false).length;
  }

  /**
   * Stop serving before dispose(): requests waiting for a slot fail with `err`, generations in progress end at their
   * next token; resolves when no slot is busy (the contexts may then be freed).
   */
  async retire(err: unknown): Promise<void> {
    this.retired.abort(err);
    this.pool.close(err);
    while (this.pool.stats().in_flight > 0) await new Promise((r) => setTimeout(r, 10));
  }

  async dispose(): Promise<void> {
    const embedding = this.embeddingContext;
    this.embeddingContext = undefined;
    if (embedding) await (await embedding.catch(() => undefined))?.dispose();
    await this.context.dispose();
    await this.model.dispose();
  }

  /** Every end-of-generation token of the vocabulary, found once (ignore_eos forbids them all). */
  private eogTokens(): Token[] {
    if (this.eogTokenList) return this.eogTokenList;
    const found = new Set<Token>();
    for (const t of [this.model.tokens.eos, this.model.tokens.eot]) if (t != null) found.add(t);
    const vocab = (this.model.fileInfo.metadata as unknown as { tokenizer?: { ggml?: { tokens?: unknown[] } } }).tokenizer?.ggml?.tokens;
    const n = Array.isArray(vocab) ? vocab.length : 0;
    for (let t = 0; t < n; t++) if (this.model.isEogToken(t as Token)) found.add(t as Token);
    this.eogTokenList = [...found];
    return this.eogTokenList;
  }
}

export function resolveContextSize(ctxSize: number, trainContextSize: number | undefined): number {
  if (ctxSize > 0) return ctxSize;
  return trainContextSize && trainContextSize > 0 ? trainContextSize : 4096;
}

/** -ngl as llama.cpp reads it; without a GPU everything stays on the CPU whatever was asked. */
export function resolveGpuLayers(llama: Llama, options: EngineOptions, totalLayers: number): number {
  if (llama.gpu === false) return 0;
  const wanted = options.gpuLayers;
  if (wanted === undefined || wanted === 'auto' || wanted === 'all') return totalLayers;
  return Math.min(wanted, totalLayers);
}
