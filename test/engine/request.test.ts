import { EngineError } from '../../src/engine/errors.js';
import { parseChatRequest, parseCompletionRequest, parseEmbeddingRequest } from '../../src/engine/request.js';

function status(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof EngineError ? err.status : -1;
  }
  return undefined;
}

describe('request parsing', () => {
  it('reads the three spellings of the token budget, stop, and ignore_eos', () => {
    const r = parseChatRequest({ messages: [{ role: 'user', content: 'hi' }], n_predict: 7, stop: 'x', ignore_eos: true, seed: 3 });
    expect(r.sampling).toMatchObject({ maxTokens: 7, stop: ['x'], ignoreEos: true, seed: 3 });
    expect(parseChatRequest({ messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 5 }).sampling.maxTokens).toBe(5);
    expect(parseCompletionRequest({ prompt: 'a', max_tokens: 4, stop: ['a', 'b'] }).sampling).toMatchObject({ maxTokens: 4, stop: ['a', 'b'] });
  });

  it('accepts text content parts and maps developer/tool roles', () => {
    const r = parseChatRequest({
      messages: [
        { role: 'developer', content: 'sys' },
        { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
      ],
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(r.messages).toEqual([{ role: 'system', content: 'sys' }, { role: 'user', content: 'ab' }]);
    expect(r).toMatchObject({ stream: true, includeUsage: true });
  });

  it('rejects malformed requests with 400', () => {
    expect(status(() => parseChatRequest(null))).toBe(400);
    expect(status(() => parseChatRequest({}))).toBe(400);
    expect(status(() => parseChatRequest({ messages: [] }))).toBe(400);
    expect(status(() => parseChatRequest({ messages: 'hi' }))).toBe(400);
    expect(status(() => parseChatRequest({ messages: [{ role: 'wizard', content: 'x' }] }))).toBe(400);
    expect(status(() => parseChatRequest({ messages: [{ role: 'user', content: 'x' }], max_tokens: 'ten' }))).toBe(400);
    expect(status(() => parseChatRequest({ messages: [{ role: 'user', content: 'x' }], temperature: -1 }))).toBe(400);
    expect(status(() => parseChatRequest({ messages: [{ role: 'user', content: 'x' }], stream: 'yes' }))).toBe(400);
    expect(status(() => parseChatRequest({ messages: [{ role: 'user', content: 'x' }], stop: 5 }))).toBe(400);
    expect(status(() => parseCompletionRequest({ prompt: 5 }))).toBe(400);
    expect(status(() => parseEmbeddingRequest({ input: [] }))).toBe(400);
    expect(status(() => parseEmbeddingRequest({ input: 'x', encoding_format: 'hex' }))).toBe(400);
  });
});

test('response_format JSON kinds become a grammar request (honoured by runtime.ts)', () => {
  const msgs = [{ role: 'user', content: 'hi' }];
  expect(parseChatRequest({ messages: msgs, response_format: { type: 'json_object' } }).sampling.format).toEqual({ kind: 'json' });
  const schema = { type: 'object', properties: { a: { type: 'string' } } };
  expect(parseChatRequest({ messages: msgs, response_format: { type: 'json_schema', json_schema: { name: 's', schema } } }).sampling.format).toEqual({ kind: 'schema', schema });
  expect(parseChatRequest({ messages: msgs, response_format: { type: 'text' } }).sampling.format).toBeUndefined();
});

describe('fields the bundled engine cannot honour are a 400 naming the field, not a silent plain-text 200', () => {
  const msgs = [{ role: 'user', content: 'hi' }];
  const param = (fn: () => unknown): string | undefined => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(EngineError);
      expect((err as EngineError).status).toBe(400);
      return (err as EngineError & { param?: string }).param;
    }
    return 'accepted';
  };
  test.each([
    [{ tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] }, 'tools'],
    [{ functions: [{ name: 'f' }] }, 'functions'],
    [{ tool_choice: { type: 'function', function: { name: 'f' } } }, 'tool_choice'],
    [{ response_format: { type: 'xml' } }, 'response_format'],
    [{ response_format: { type: 'json_schema', json_schema: { name: 's' } } }, 'response_format'],
    [{ logprobs: true }, 'logprobs'],
    [{ top_logprobs: 2 }, 'top_logprobs'],
    [{ n: 2 }, 'n'],
    [{ grammar: 'root ::= "a"' }, 'grammar'],
  ])('%j', (extra, field) => {
    expect(param(() => parseChatRequest({ messages: msgs, ...extra }))).toBe(field);
  });
  test('completions too', () => {
    expect(param(() => parseCompletionRequest({ prompt: 'a', logprobs: 3 }))).toBe('logprobs');
  });
  test.each([[{ tools: [] }], [{ tool_choice: 'none' }], [{ response_format: { type: 'text' } }], [{ logprobs: false }], [{ n: 1 }], [{ response_format: { type: 'json_object' } }]])(
    'what asks for nothing is accepted: %j',
    (extra) => {
      expect(param(() => parseChatRequest({ messages: msgs, ...extra }))).toBe('accepted');
    },
  );
});
