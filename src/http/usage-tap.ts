/**
 * Token counts from a child's answer, for /metrics and the dashboard's history, without buffering or
 * re-parsing the answer. The tap keeps references to the first chunk and the last few chunks only (no copy,
 * no decoding, no parsing per chunk); once the answer is over, `readUsage` parses the little text it kept.
 *
 * Where the figures are: a JSON answer's `usage` (OpenAI: prompt_tokens/completion_tokens; Anthropic and
 * Responses: input_tokens/output_tokens) and llama-server's `timings` (prompt_n, cache_n, predicted_n,
 * predicted_per_second), both at its end; in an SSE stream, the final chunks (`usage` when the client asked
 * for stream_options.include_usage, `timings` on llama-server's last chunk). llama-server puts an embeddings
 * answer's `usage` before its (possibly large) data, hence the first chunk too.
 */
import type { IncomingMessage } from 'node:http';

/** How many of the last chunks are kept: the usage chunk, `data: [DONE]`, and a spare for a split chunk. */
const TAIL = 3;
/** At most this much text is searched at each end (a JSON answer's usage sits in its last few hundred bytes). */
const SEARCH_BYTES = 16 * 1024;

export interface UsageTap {
  /** performance.now() when the first body byte came from the child. */
  firstByteAt?: number;
  /** Chunks seen. */
  n: number;
  first?: Buffer;
  /** The last TAIL chunks, as a ring indexed by n. */
  tail: (Buffer | undefined)[];
  sse: boolean;
}

export interface Usage {
  promptTokens?: number;
  completionTokens?: number;
  /** Generation speed as the child measured it (llama-server's timings.predicted_per_second). */
  tokensPerSecond?: number;
}

/** A new, empty tap for one answer (`sse`: the answer is an event stream). */
export function newTap(sse: boolean): UsageTap {
  return { n: 0, tail: new Array<Buffer | undefined>(TAIL), sse };
}

/**
 * Keep one chunk of the answer: the only per-chunk work is storing a reference (the proxy calls it from its
 * one 'data' handler, which also writes the chunk to the client).
 */
export function tapChunk(tap: UsageTap, chunk: Buffer): void {
  if (tap.n === 0) {
    tap.firstByteAt = performance.now();
    tap.first = chunk;
  }
  tap.tail[tap.n++ % TAIL] = chunk;
}

/**
 * Start keeping the chunks of `from` (a child's response) in `locals.usageTap`, with a 'data' listener of its
 * own. Call it before the body flows. (The proxy feeds its tap from its own 'data' handler instead: tapChunk.)
 */
export function tapUsage(from: IncomingMessage, locals: Record<string, unknown>, sse?: boolean): void {
  const tap = newTap(sse ?? String(from.headers['content-type'] ?? '').includes('text/event-stream'));
  locals.usageTap = tap;
  from.on('data', (chunk: Buffer) => tapChunk(tap, chunk));
}

/** What the kept chunks say about tokens (undefined: nothing found). Parses at most 2 x SEARCH_BYTES, once. */
export function readUsage(tap: UsageTap): Usage | undefined {
  if (tap.n === 0) return undefined;
  const kept = Math.min(tap.n, TAIL);
  let tailBuf: Buffer;
  if (kept === 1) {
    // A JSON answer usually comes in one chunk: no copy.
    tailBuf = tap.tail[(tap.n - 1) % TAIL]!;
  } else {
    const chunks: Buffer[] = [];
    for (let i = tap.n - kept; i < tap.n; i++) chunks.push(tap.tail[i % TAIL]!);
    tailBuf = Buffer.concat(chunks);
  }
  const end = tailBuf.subarray(Math.max(0, tailBuf.length - SEARCH_BYTES)).toString('utf8');
  // The first chunk is in the tail already when the answer had TAIL chunks or fewer.
  const start = tap.n > TAIL && tap.first ? tap.first.subarray(0, SEARCH_BYTES).toString('utf8') : '';
  const usage = (lastObject(end, 'usage') ?? lastObject(start, 'usage')) as Record<string, unknown> | undefined;
  const timings = (lastObject(end, 'timings') ?? lastObject(start, 'timings')) as Record<string, unknown> | undefined;
  if (!usage && !timings) return undefined;
  const out: Usage = {};
  const prompt = num(usage?.prompt_tokens) ?? num(usage?.input_tokens) ?? sum(num(timings?.prompt_n), num(timings?.cache_n));
  const completion = num(usage?.completion_tokens) ?? num(usage?.output_tokens) ?? num(timings?.predicted_n);
  const tps = num(timings?.predicted_per_second);
  if (prompt !== undefined) out.promptTokens = prompt;
  if (completion !== undefined) out.completionTokens = completion;
  if (tps !== undefined && tps > 0) out.tokensPerSecond = tps;
  return out;
}

/**
 * The JSON object that is the value of the last `"key": {...}` in `text`, or undefined. A key inside a string
 * (a generated text that says `"usage":{`) is escaped there as `\"usage\"`, which is skipped (a backslash before
 * the opening quote, or before the closing one, which then does not match). Found with lastIndexOf rather than a
 * regular expression built on every call.
 */
export function lastObject(text: string, key: string): unknown {
  if (!text) return undefined;
  const needle = `"${key}"`;
  let at = -1;
  // From the end: the last occurrence that is a key (`"key"`, then `:` and `{`, JSON whitespace between).
  for (let i = text.lastIndexOf(needle); i >= 0 && at < 0; i = i > 0 ? text.lastIndexOf(needle, i - 1) : -1) {
    if (i > 0 && text.charCodeAt(i - 1) === 0x5c) continue;
    let j = skipSpace(text, i + needle.length);
    if (text.charCodeAt(j) !== 0x3a) continue;
    j = skipSpace(text, j + 1);
    if (text.charCodeAt(j) === 0x7b) at = j;
  }
  if (at < 0) return undefined;
  const close = matchingBrace(text, at);
  if (close < 0) return undefined;
  try {
    const v: unknown = JSON.parse(text.slice(at, close + 1));
    return v && typeof v === 'object' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The first index at or after `i` that is not JSON whitespace. */
function skipSpace(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** Index of the `}` closing the `{` at `open`, skipping strings; -1 when the text ends first. */
function matchingBrace(text: string, open: number): number {
  let depth = 0;
  let inString = false;
  for (let i = open; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) return i;
  }
  return -1;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

function sum(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? undefined : a + (b ?? 0);
}
