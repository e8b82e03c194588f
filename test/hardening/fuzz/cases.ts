/**
 * Generated hostile requests for the router, each with the answer it must get:
 *   ok     a valid request: 200
 *   error  a 4xx whose body is OpenAI error JSON ({error: {message, type, code}})
 *   abort  a valid request the client abandons once the answer starts (only "no crash, no leak")
 * Raw cases are bytes for a bare socket (framing node's HTTP client would refuse to send).
 * Every made-up model name that can carry it contains MARK, so a child started for one would show in `ps`.
 * The mix is in `generate`.
 */
import { gzipSync } from 'node:zlib';
import { MAX_JSON_DEPTH } from '../../../src/http/body.js';
import type { Random } from './random.js';

export const MODEL = 'alpha';
export const MARK = 'fuzzmark';

export type Expect = 'ok' | 'error' | 'abort';

export interface HttpCase {
  kind: 'http';
  label: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Send the body in two chunks with Transfer-Encoding: chunked. */
  chunked?: boolean;
  expect: Expect;
}

export interface RawCase {
  kind: 'raw';
  label: string;
  bytes: Buffer;
  /** Half-close after writing (a truncated request). */
  end?: boolean;
  /** Responses that must come before the refusal (a valid request pipelined ahead of garbage). */
  okFirst?: number;
}

export type Case = HttpCase | RawCase;

export interface FuzzContext {
  maxBody: number;
  /** The real model file: naming it by path must not load it. */
  modelPath: string;
}

const JSON_TYPE = { 'content-type': 'application/json' };

function validChat(r: Random, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model: MODEL,
    messages: [{ role: r.pick(['user', 'system', 'developer']), content: r.word(1, 20) }],
    max_tokens: r.int(1, 2),
  };
  if (r.chance(0.3)) body.temperature = r.int(0, 20) / 10;
  if (r.chance(0.2)) body.seed = r.int(0, 1000);
  if (r.chance(0.2)) body.stop = r.pick(['\n', ['x', 'y'], []]);
  return { ...body, ...extra };
}

function post(label: string, path: string, body: string | Buffer, expect: Expect, headers: Record<string, string> = JSON_TYPE): HttpCase {
  return { kind: 'http', label, method: 'POST', path, headers, body: Buffer.isBuffer(body) ? body : Buffer.from(body), expect };
}

function get(label: string, path: string, expect: Expect): HttpCase {
  return { kind: 'http', label, method: 'GET', path, headers: {}, expect };
}

/** Percent-encode every byte of the UTF-8 form (encodeURIComponent throws on lone surrogates). */
export function pct(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

/** Names that are not in the catalogue: traversal, near misses of the real one, control and bidi characters. */
export function hostileName(r: Random, ctx: FuzzContext): string {
  const fixed = [
    '../../etc/passwd',
    '..\\..\\windows\\win.ini',
    '%2e%2e/%2e%2e/etc/passwd',
    '....//....//etc/passwd',
    '/etc/passwd',
    ctx.modelPath,
    `${MODEL}.gguf`,
    `./${MODEL}`,
    `${MODEL}/`,
    `${MODEL}/../${MODEL}`,
    `~/${MODEL}`,
    `file://${ctx.modelPath}`,
    'Alpha',
    'ALPHA',
    ` ${MODEL}`,
    `${MODEL} `,
    `${MODEL}\n`,
    `${MODEL}\u0000`,
    `\u202e${MODEL}`,
    `${MODEL}\u200b`,
    'ａｌｐｈａ',
    `al\u00adpha`,
    '__proto__',
    'constructor',
    'hasOwnProperty',
  ];
  if (r.chance(0.35)) return r.pick(fixed);
  const tricks = [
    () => `../${MARK}/../../etc/passwd`,
    () => `${MARK}\u0000${r.word()}`,
    () => `\u202e${MARK}\u202d${r.word()}\u200f`,
    () => `${MARK}\r\n${r.word()}: x`,
    () => `${MARK}${String.fromCharCode(r.int(0, 31))}${r.word()}`,
    () => `${MARK}-${'x'.repeat(10_000)}`,
    () => `${MARK}\ud800${r.word()}`,
    () => `${MARK}-😀-${r.word()}`,
    () => `${MARK}%00${r.word()}`,
    () => `${MARK}/${r.word()}/${r.word()}.gguf`,
    () => `$(touch /tmp/${MARK})`,
    () => `${MARK}; rm -rf /`,
    () => `-m ${MARK}`,
    () => `--${MARK}`,
  ];
  return r.pick(tricks)();
}

function wrongType(r: Random): unknown {
  return r.pick([5, 0, -1, 1.5, 1e308, [], [MODEL], {}, { name: MODEL }, null, true, false, '']);
}

/** A validated field of a generation request with a value of the wrong type or range (the engine's 400). */
const badFields: Record<string, unknown[]> = {
  messages: [5, 'hi', {}, [], [5], [{}], [{ role: 'user', content: 5 }], [{ role: 'wizard', content: 'x' }], [[]], [{ role: 'user', content: [{ type: 'image' }] }]],
  stream: ['yes', 1, [], {}],
  max_tokens: ['2', 1.5, {}, [], true, 0],
  max_completion_tokens: ['2', 2.5],
  n_predict: ['x'],
  temperature: ['hot', -1, 3, [], true],
  top_p: [2, 'x', -0.5],
  top_k: [1.5, -1, 'x'],
  min_p: [5, {}],
  seed: ['x', 1.5, []],
  stop: [5, [1], {}, [null]],
  n: [2, 'x', 0],
  stream_options: ['x', [], 5],
  ignore_eos: ['yes', 1],
  presence_penalty: [5, 'x'],
  frequency_penalty: [-3],
  repeat_penalty: [-1, 'x'],
};

function jsonCase(r: Random, ctx: FuzzContext): Case {
  // 5 and 6 reach the child (slow on a loaded machine): a quarter of the weight of the others.
  const which = r.pick([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 6, 7, 7, 7, 7, 8, 8, 8, 8, 9, 9, 9, 9]);
  switch (which) {
    case 0: {
      // Truncated JSON: a valid body cut short.
      const text = JSON.stringify(validChat(r));
      let cut = text.slice(0, r.int(1, text.length - 1));
      while (parses(cut)) cut = cut.slice(0, -1);
      return post('truncated JSON', '/v1/chat/completions', cut, 'error');
    }
    case 1: {
      const bad = [
        '{',
        '}',
        '{"model":"alpha",}',
        "{'model':'alpha'}",
        '{"model":"alpha"}}',
        '{"model":alpha}',
        'NaN',
        '{"model":"alpha","messages":[{"role":"user","content":"x"}],"max_tokens":1,}',
        '\u0000{"model":"alpha"}',
        '{"model":"\\uZZZZ"}',
        '{"model":"alpha" "messages":[]}',
        '--\r\n',
        '<?xml version="1.0"?><model>alpha</model>',
      ];
      return post('malformed JSON', r.pick(['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/models/load']), r.pick(bad), 'error');
    }
    case 2:
      // Random bytes, invalid UTF-8 included: never an object naming a model.
      return post('random bytes', r.pick(['/v1/chat/completions', '/v1/embeddings', '/models/load', '/models/unload']), r.bytes(r.int(1, 300)), 'error');
    case 3:
      return post('JSON that is not an object', '/v1/chat/completions', r.pick(['5', '"alpha"', '[{"model":"alpha"}]', 'null', 'true', '[]', '""']), 'error');
    case 4: {
      const body = validChat(r, { model: wrongType(r) });
      return post('model of a wrong type', r.pick(['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/models/load', '/models/unload']), JSON.stringify(body), 'error');
    }
    case 5: {
      const field = r.pick(Object.keys(badFields));
      const body = validChat(r, { [field]: r.pick(badFields[field]!) });
      return post(`chat ${field} of a wrong type`, '/v1/chat/completions', JSON.stringify(body), 'error');
    }
    case 6: {
      const c = r.pick<[string, Record<string, unknown>]>([
        ['/v1/completions', { prompt: 5 }],
        ['/v1/completions', { prompt: ['a', 'b'] }],
        ['/v1/completions', { prompt: {} }],
        ['/v1/completions', { prompt: null }],
        ['/v1/completions', { prompt: 'x', echo: 'yes' }],
        ['/v1/embeddings', { input: 5 }],
        ['/v1/embeddings', { input: [] }],
        ['/v1/embeddings', { input: [1] }],
        ['/v1/embeddings', { input: {} }],
        ['/v1/embeddings', { input: 'x', encoding_format: 'hex' }],
      ]);
      return post(`${c[0]} with bad fields`, c[0], JSON.stringify({ model: MODEL, max_tokens: 1, ...c[1] }), 'error');
    }
    case 7: {
      // Deep nesting under the body limit: never a valid model.
      const depth = r.pick([1000, 50_000, Math.min(100_000, ctx.maxBody / 2 - 100)]);
      const body = r.pick([
        '['.repeat(depth),
        `{"model":${'['.repeat(depth)}${']'.repeat(depth)}}`,
        `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
      ]);
      if (r.chance(0.1)) {
        // Past the router (the model is real) to the child, which must refuse the messages.
        return post(`messages nested ${depth} deep`, '/v1/chat/completions', `{"model":"alpha","messages":${'['.repeat(depth)}${']'.repeat(depth)}}`, 'error');
      }
      return post(`nested ${depth} deep`, r.pick(['/v1/chat/completions', '/models/load']), body, 'error');
    }
    case 8: {
      // Over --max-body: 413 before anything is parsed or forwarded.
      const size = ctx.maxBody + r.int(1, 64 * 1024);
      const head = '{"model":"alpha","messages":[{"role":"user","content":"';
      const body = Buffer.alloc(size, 'a');
      body.write(head);
      const c = post(`body of ${size} bytes`, r.pick(['/v1/chat/completions', '/v1/embeddings', '/models/load', '/models/unload']), body, 'error');
      c.chunked = r.chance(0.3);
      return c;
    }
    default: {
      // A gzip bomb: small on the wire, over the limit once inflated.
      const bomb = gzipSync(Buffer.alloc(ctx.maxBody * 4, ' '));
      return post('gzip bomb', '/v1/chat/completions', bomb, 'error', { ...JSON_TYPE, 'content-encoding': 'gzip' });
    }
  }
}

function nameCase(r: Random, ctx: FuzzContext): Case {
  const name = hostileName(r, ctx);
  switch (r.int(0, 5)) {
    case 0:
    case 1:
      return post('hostile name in the body', r.pick(['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses', '/completion', '/infill', '/tokenize']), JSON.stringify(validChat(r, { model: name })), 'error');
    case 2:
      return post('hostile name in the query', `/v1/chat/completions?model=${pct(name)}`, '', 'error', {});
    case 3: {
      const boundary = `b${r.word(8, 8)}`;
      const part = `--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n${name}\r\n--${boundary}--\r\n`;
      return post('hostile name in a multipart field', '/v1/audio/transcriptions', part, 'error', { 'content-type': `multipart/form-data; boundary=${boundary}` });
    }
    case 4:
      return post('load or unload of a hostile name', r.pick(['/models/load', '/models/unload']), JSON.stringify({ model: name }), 'error');
    default:
      return get('logs of a hostile name', `/logs/${pct(name)}${r.pick(['', '?format=json', '?n=5'])}`, 'error');
  }
}

function contentTypeCase(r: Random): Case {
  const body = JSON.stringify(validChat(r));
  switch (r.int(0, 8)) {
    case 0:
    case 1:
      // The router and the child read JSON whatever the declared type (as llama-server does).
      return post('valid JSON under another content type', '/v1/chat/completions', body, 'ok', r.pick<Record<string, string>>([{ 'content-type': 'text/plain' }, {}, { 'content-type': 'application/x-www-form-urlencoded' }, { 'content-type': 'application/octet-stream' }]));
    case 2:
      return post('form-encoded body', '/v1/chat/completions', `model=${MODEL}&messages=hi&max_tokens=1`, 'error', { 'content-type': 'application/x-www-form-urlencoded' });
    case 3: {
      const boundary = 'xyz';
      const part = `--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\n${MODEL}\r\n--${boundary}--\r\n`;
      // The router finds the model in the form; the child wants JSON and refuses it.
      return post('multipart body to a JSON route', '/v1/chat/completions', part, 'error', { 'content-type': `multipart/form-data; boundary=${boundary}` });
    }
    case 4:
      return post('multipart without a boundary', '/v1/chat/completions', body, 'error', { 'content-type': 'multipart/form-data' });
    case 5:
      return post('unknown charset', '/v1/chat/completions', body, 'error', { 'content-type': r.pick(['application/json; charset=utf-16', 'application/json; charset=klingon']) });
    case 6:
      return post('unknown content-encoding', '/v1/chat/completions', body, 'error', { ...JSON_TYPE, 'content-encoding': r.pick(['compress', 'x-fuzz', 'gzip, gzip', 'identity, br']) });
    case 7:
      return post('not really gzip', '/v1/chat/completions', body, 'error', { ...JSON_TYPE, 'content-encoding': r.pick(['gzip', 'deflate', 'br']) });
    default:
      return post('a valid gzip body', '/v1/chat/completions', gzipSync(body), 'ok', { ...JSON_TYPE, 'content-encoding': 'gzip' });
  }
}

const getRoutes = ['/health', '/models', '/v1/models', '/metrics', '/history', '/devices', `/logs/${MODEL}`, `/logs/${MODEL}?format=json`, `/logs/${MODEL}?n=3`, '/', '/ui', '/ui/dashboard.js', '/ui/dashboard.css'];
const postRoutes = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/models/load', '/models/unload', '/models/reload', '/completion', '/tokenize'];

function routeCase(r: Random): Case {
  switch (r.int(0, 5)) {
    case 0: {
      const path = r.pick([...getRoutes, ...postRoutes]);
      return { kind: 'http', label: 'a method no route takes', method: r.pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS']), path, headers: {}, expect: 'error' };
    }
    case 1:
      return get('GET on a POST route', r.pick(postRoutes), 'error');
    case 2:
      return post('POST on a GET route', r.pick(getRoutes.filter((p) => !p.startsWith('/logs/'))), '{}', 'error');
    case 3:
      return get(
        'an unknown route',
        r.pick([
          '/logs/../x',
          '/logs/..%2f..%2fetc%2fpasswd',
          `/logs/${MODEL}/../${MODEL}`,
          '/%2e%2e/%2e%2e/etc/passwd',
          '/ui/../../etc/passwd',
          '/ui/..%2f..%2fpackage.json',
          '/ui/dashboard.js%00.html',
          '/models/load/../../x',
          '/etc/passwd',
          '/.env',
          '/logs',
          '/v2/chat/completions',
          '/ui/index.html',
          '/src/http/app.ts',
          `/${MARK}/${r.word()}`,
          `/v1/${r.word()}`,
        ]),
        'error',
      );
    case 4:
      return get('bad logs query', `/logs/${MODEL}?${r.pick(['n=abc', 'n=-1', 'n=1e3', 'n=99999999999999999999', 'follow=1&format=json', 'n=%ff'])}`, 'error');
    default:
      return { kind: 'http', label: 'HEAD of a GET route', method: 'HEAD', path: r.pick(getRoutes), headers: {}, expect: 'ok' };
  }
}

function validCase(r: Random): Case {
  switch (r.int(0, 9)) {
    case 0:
    case 1:
    case 2:
      return post('valid chat', '/v1/chat/completions', JSON.stringify(validChat(r, r.chance(0.3) ? { stream: true } : {})), 'ok');
    case 3:
      return post('valid completion', '/v1/completions', JSON.stringify({ model: MODEL, prompt: r.word(1, 20), max_tokens: r.int(1, 2) }), 'ok');
    case 4:
      return post('valid embedding', '/v1/embeddings', JSON.stringify({ model: MODEL, input: r.chance(0.5) ? r.word() : [r.word(), r.word()] }), 'ok');
    case 5: {
      const c = post('valid chat, chunked', '/v1/chat/completions', JSON.stringify(validChat(r)), 'ok');
      c.chunked = true;
      return c;
    }
    case 6: {
      // Deep nesting in a field the router and the child ignore: valid within MAX_JSON_DEPTH, a 400 past it.
      const depth = r.pick([100, 10_000]);
      return post(`chat with a field ${depth} deep`, '/v1/chat/completions', JSON.stringify(validChat(r)).replace(/}$/, `,"x":${'['.repeat(depth)}${']'.repeat(depth)}}`), depth < MAX_JSON_DEPTH ? 'ok' : 'error');
    }
    case 7:
      return r.chance(0.5) ? post('load the real model', '/models/load', JSON.stringify({ model: MODEL }), 'ok') : post('reload the catalogue', '/models/reload', '', 'ok');
    case 8:
      return post('a stream the client abandons', '/v1/chat/completions', JSON.stringify(validChat(r, { stream: true, max_tokens: 64 })), 'abort');
    default:
      return get('a GET route', r.pick(getRoutes), 'ok');
  }
}

const rawRequests: [string, string, { end?: boolean; okFirst?: number }?][] = [
  ['an unknown method', 'FUZZ / HTTP/1.1\r\nHost: localhost\r\n\r\n'],
  ['no request target', 'GET\r\n\r\n'],
  ['a header without a colon', 'GET /health HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n'],
  ['NUL in a header value', 'GET /health HTTP/1.1\r\nHost: localhost\r\nX-A: a\u0000b\r\n\r\n'],
  ['a 20 KB header', `GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`],
  ['a bad chunk size', 'POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'],
  ['a non-numeric Content-Length', 'POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n'],
  ['two Content-Lengths', 'POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef'],
  ['Content-Length and chunked', 'POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ['Transfer-Encoding: gzip', 'POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\nabc'],
  ['HTTP/9.9', 'GET /health HTTP/9.9\r\nHost: localhost\r\n\r\n'],
  ['bare LF line ends', 'GET /health HTTP/1.1\nHost: localhost\n\n'],
  ['a space in the path', 'GET /a b HTTP/1.1\r\nHost: localhost\r\n\r\n'],
  ['NUL in the path', 'GET /logs/\u0000 HTTP/1.1\r\nHost: localhost\r\n\r\n'],
  ['raw UTF-8 and bidi in the path', 'GET /logs/\u00c3\u00a9\u00e2\u0080\u00ae HTTP/1.1\r\nHost: localhost\r\n\r\n'],
  ['an obsolete folded header', 'GET /health HTTP/1.1\r\nHost: localhost\r\nX: a\r\n b\r\n\r\n'],
  ['no Host header', 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n'],
  ['an Expect node does not know', 'POST /models/load HTTP/1.1\r\nHost: localhost\r\nExpect: fuzz\r\nContent-Length: 17\r\n\r\n{"model":"alpha"}'],
  ['/logs/../x', 'GET /logs/../x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'],
  ['a body cut short', 'POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 200\r\n\r\n{"model":"alpha"', { end: true }],
  ['a chunked body cut short', 'POST /models/load HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"mod', { end: true }],
  ['garbage pipelined after a valid request', 'GET /health HTTP/1.1\r\nHost: localhost\r\n\r\nGARBAGE\r\n\r\n', { okFirst: 1 }],
];

function rawCase(r: Random): RawCase {
  const [label, text, opts] = r.pick(rawRequests);
  // latin1: one byte per char, so the strings above say exactly which bytes go out.
  return { kind: 'raw', label, bytes: Buffer.from(text, 'latin1'), ...opts };
}

/** One generated case; the mix leans to the hostile kinds. */
export function generate(r: Random, ctx: FuzzContext): Case {
  const p = r.float();
  // About one in twenty reaches the child (one in fifty real inference): on a shared 2-core
  // machine those are the slow ones, and the hostile input is mostly the router's to refuse.
  if (p < 0.37) return jsonCase(r, ctx);
  if (p < 0.61) return nameCase(r, ctx);
  if (p < 0.63) return contentTypeCase(r);
  if (p < 0.83) return routeCase(r);
  if (p < 0.985) return rawCase(r);
  return validCase(r);
}

function parses(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}
