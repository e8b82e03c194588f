/**
 * Validation of OpenAI request bodies into the engine's own shapes. Every rejection is a 400 naming the field,
 * so a client learns what it got wrong instead of receiving a 500 from deep inside generation.
 */
import { randomInt } from 'node:crypto';
import { badRequest } from './errors.js';

export interface SamplingParams {
  /** undefined = generate until end of generation or the slot's context is full. */
  maxTokens?: number;
  temperature: number;
  topP: number;
  topK: number;
  minP: number;
  seed: number;
  stop: string[];
  /** llama-server extension: never stop on an end-of-generation token; produce exactly maxTokens tokens. */
  ignoreEos: boolean;
  presencePenalty?: number;
  frequencyPenalty?: number;
  repeatPenalty?: number;
  /** `response_format` json_object / json_schema: generation is constrained by a grammar (runtime.ts). */
  format?: { kind: 'json' } | { kind: 'schema'; schema: Record<string, unknown> };
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatRequest {
  messages: ChatMessage[];
  sampling: SamplingParams;
  stream: boolean;
  includeUsage: boolean;
}

export interface CompletionRequest {
  prompt: string;
  sampling: SamplingParams;
  stream: boolean;
  includeUsage: boolean;
  echo: boolean;
}

export interface EmbeddingRequest {
  inputs: string[];
  encodingFormat: 'float' | 'base64';
}

// llama-server's sampling defaults, so answers look alike whichever engine serves them.
const DEFAULTS = { temperature: 0.8, topP: 0.95, topK: 40, minP: 0.05 };

type Body = Record<string, unknown>;

export function asObject(body: unknown): Body {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('Request body must be a JSON object');
  }
  return body as Body;
}

function optionalNumber(body: Body, key: string, { min, max, integer }: { min?: number; max?: number; integer?: boolean } = {}): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest(`"${key}" must be a number`, key);
  if (integer && !Number.isInteger(v)) throw badRequest(`"${key}" must be an integer`, key);
  if (min !== undefined && v < min) throw badRequest(`"${key}" must be >= ${min}`, key);
  if (max !== undefined && v > max) throw badRequest(`"${key}" must be <= ${max}`, key);
  return v;
}

function optionalBoolean(body: Body, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badRequest(`"${key}" must be a boolean`, key);
  return v;
}

function parseStop(body: Body): string[] {
  const v = body.stop;
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return v === '' ? [] : [v];
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return (v as string[]).filter((s) => s !== '');
  throw badRequest('"stop" must be a string or an array of strings', 'stop');
}

/**
 * Fields this engine cannot honour. Answering them with plain text (200) would look like success to a client
 * that relies on them (a tool call, valid JSON, log-probabilities), so each is a 400 naming the field.
 * A value that asks for nothing (`tools: []`, `tool_choice: "none"`, `logprobs: false`) is accepted.
 * (`response_format` is honoured: parseFormat.)
 */
export function refuseUnsupported(body: Body): void {
  const tools = body.tools ?? body.functions;
  if (tools !== undefined && tools !== null && !(Array.isArray(tools) && tools.length === 0)) {
    const key = body.tools !== undefined ? 'tools' : 'functions';
    throw badRequest(`"${key}" is not supported by the bundled engine (no function calling); use llama-server (--server-bin) with --jinja`, key);
  }
  const choice = body.tool_choice;
  if (choice !== undefined && choice !== null && choice !== 'none' && choice !== 'auto') {
    throw badRequest('"tool_choice" is not supported by the bundled engine (no function calling)', 'tool_choice');
  }
  for (const key of ['logprobs', 'top_logprobs', 'n_probs']) {
    const v = body[key];
    if (v === undefined || v === null || v === false || v === 0) continue;
    throw badRequest(`"${key}" is not supported by the bundled engine (no log-probabilities)`, key);
  }
  for (const key of ['grammar', 'json_schema']) {
    if (body[key] !== undefined && body[key] !== null) throw badRequest(`"${key}" is not supported by the bundled engine`, key);
  }
}

/**
 * `response_format`: text (nothing to do), json_object (any JSON) or json_schema (JSON matching the schema). Both
 * JSON kinds are honoured with node-llama-cpp's grammars (a schema it cannot turn into a grammar is a 400 then).
 */
function parseFormat(body: Body): SamplingParams['format'] {
  const rf = body.response_format;
  if (rf === undefined || rf === null) return undefined;
  if (typeof rf !== 'object' || Array.isArray(rf)) throw badRequest('"response_format" must be an object', 'response_format');
  const type = (rf as Body).type;
  if (type === 'text') return undefined;
  if (type === 'json_object') {
    // llama-server's extension: json_object with a "schema" constrains to it.
    const schema = (rf as Body).schema;
    return schema && typeof schema === 'object' ? { kind: 'schema', schema: schema as Record<string, unknown> } : { kind: 'json' };
  }
  if (type === 'json_schema') {
    const js = (rf as Body).json_schema;
    const schema = js && typeof js === 'object' ? (js as Body).schema : undefined;
    if (!schema || typeof schema !== 'object' || Array.isArray(schema)) {
      throw badRequest('"response_format.json_schema.schema" must be a JSON schema object', 'response_format');
    }
    return { kind: 'schema', schema: schema as Record<string, unknown> };
  }
  throw badRequest(`"response_format" type must be "text", "json_object" or "json_schema"`, 'response_format');
}

export function parseSampling(body: Body): SamplingParams {
  // The three spellings of the token budget: OpenAI's old and new names, and llama-server's own.
  let maxTokens: number | undefined;
  for (const key of ['max_completion_tokens', 'max_tokens', 'n_predict']) {
    const n = optionalNumber(body, key, { integer: true });
    if (n !== undefined && maxTokens === undefined) maxTokens = n;
  }
  // llama-server reads n_predict = -1 as "no limit"; 0 would produce nothing, which OpenAI rejects.
  if (maxTokens !== undefined && maxTokens < 0) maxTokens = undefined;
  if (maxTokens === 0) throw badRequest('"max_tokens" must be at least 1', 'max_tokens');

  const n = optionalNumber(body, 'n', { integer: true, min: 1 });
  if (n !== undefined && n > 1) throw badRequest('"n" > 1 is not supported by the bundled engine (one choice per request)', 'n');
  refuseUnsupported(body);

  const seed = optionalNumber(body, 'seed', { integer: true });
  const ignoreEos = optionalBoolean(body, 'ignore_eos') ?? false;
  return {
    maxTokens,
    temperature: optionalNumber(body, 'temperature', { min: 0, max: 2 }) ?? DEFAULTS.temperature,
    topP: optionalNumber(body, 'top_p', { min: 0, max: 1 }) ?? DEFAULTS.topP,
    topK: optionalNumber(body, 'top_k', { integer: true, min: 0 }) ?? DEFAULTS.topK,
    minP: optionalNumber(body, 'min_p', { min: 0, max: 1 }) ?? DEFAULTS.minP,
    // A negative or missing seed means "random" in llama-server (-1 is its default). node-llama-cpp would reuse
    // one fixed seed, making every unseeded answer the same.
    seed: seed !== undefined && seed >= 0 ? seed : randomInt(0x7fffffff),
    stop: parseStop(body),
    ignoreEos,
    presencePenalty: optionalNumber(body, 'presence_penalty', { min: -2, max: 2 }),
    frequencyPenalty: optionalNumber(body, 'frequency_penalty', { min: -2, max: 2 }),
    repeatPenalty: optionalNumber(body, 'repeat_penalty', { min: 0 }),
    format: parseFormat(body),
  };
}

function parseStreamFlags(body: Body): { stream: boolean; includeUsage: boolean } {
  const stream = optionalBoolean(body, 'stream') ?? false;
  const so = body.stream_options;
  let includeUsage = false;
  if (so !== undefined && so !== null) {
    if (typeof so !== 'object' || Array.isArray(so)) throw badRequest('"stream_options" must be an object', 'stream_options');
    includeUsage = optionalBoolean(so as Body, 'include_usage') ?? false;
  }
  return { stream, includeUsage };
}

function messageContent(content: unknown, index: number): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  if (Array.isArray(content)) {
    // Content parts: text only; this engine has no vision or audio.
    return content
      .map((part, j) => {
        if (part && typeof part === 'object' && (part as Body).type === 'text' && typeof (part as Body).text === 'string') {
          return (part as Body).text as string;
        }
        const type = part && typeof part === 'object' ? String((part as Body).type) : typeof part;
        throw badRequest(`messages[${index}].content[${j}]: unsupported content part "${type}" (text only)`, 'messages');
      })
      .join('');
  }
  throw badRequest(`messages[${index}].content must be a string or an array of content parts`, 'messages');
}

export function parseChatRequest(raw: unknown): ChatRequest {
  const body = asObject(raw);
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw badRequest('"messages" must be a non-empty array', 'messages');
  }
  const parsed: ChatMessage[] = messages.map((m, i) => {
    if (!m || typeof m !== 'object' || Array.isArray(m)) throw badRequest(`messages[${i}] must be an object`, 'messages');
    const role = (m as Body).role;
    const content = messageContent((m as Body).content, i);
    switch (role) {
      case 'system':
      case 'developer':
        return { role: 'system', content };
      case 'user':
        return { role: 'user', content };
      case 'assistant':
        return { role: 'assistant', content };
      case 'tool':
      case 'function':
        // No tool calling here; keep the result visible to the model as user text rather than refusing.
        return { role: 'user', content };
      default:
        throw badRequest(`messages[${i}].role must be one of system, developer, user, assistant, tool`, 'messages');
    }
  });
  return { messages: parsed, sampling: parseSampling(body), ...parseStreamFlags(body) };
}

export function parseCompletionRequest(raw: unknown): CompletionRequest {
  const body = asObject(raw);
  let prompt = body.prompt;
  // OpenAI allows a one-element array of strings; more would mean several choices, which we do not serve.
  if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') prompt = prompt[0];
  if (typeof prompt !== 'string') throw badRequest('"prompt" must be a string', 'prompt');
  return {
    prompt,
    sampling: parseSampling(body),
    ...parseStreamFlags(body),
    echo: optionalBoolean(body, 'echo') ?? false,
  };
}

export function parseEmbeddingRequest(raw: unknown): EmbeddingRequest {
  const body = asObject(raw);
  // llama-server also reads "content"; accept it as a fallback.
  const input = body.input ?? body.content;
  let inputs: string[];
  if (typeof input === 'string') inputs = [input];
  else if (Array.isArray(input) && input.length > 0 && input.every((s) => typeof s === 'string')) inputs = input as string[];
  else throw badRequest('"input" must be a string or a non-empty array of strings', 'input');
  const fmt = body.encoding_format ?? 'float';
  if (fmt !== 'float' && fmt !== 'base64') throw badRequest('"encoding_format" must be "float" or "base64"', 'encoding_format');
  return { inputs, encodingFormat: fmt };
}
