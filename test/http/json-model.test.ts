/**
 * The large-body `model` scan (src/http/json-model.ts) against JSON.parse: the same model on every generated
 * object, the same refusal (invalid_json) for what it must refuse.
 */
import { describe, expect, it } from '@jest/globals';
import { MAX_JSON_DEPTH } from '../../src/http/body.js';
import { scanModel } from '../../src/http/json-model.js';
import { RouterError } from '../../src/http/errors.js';

const b = (s: string) => Buffer.from(s, 'utf8');

/** A random JSON value whose strings contain quotes, backslashes, braces and the word model. */
function value(depth: number, rnd: () => number): unknown {
  const r = rnd();
  const str = () => ['model', '"model":', '\\', '{[', '}]', 'ünïcödé ✓', '\\"model\\"', ''][Math.floor(rnd() * 8)]! + String(Math.floor(rnd() * 100));
  if (depth > 4 || r < 0.3) return str();
  if (r < 0.4) return Math.floor(rnd() * 1e6) / 7;
  if (r < 0.45) return [true, false, null][Math.floor(rnd() * 3)];
  if (r < 0.7) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1, rnd));
  const o: Record<string, unknown> = {};
  for (let i = 0; i < rnd() * 4; i++) o[rnd() < 0.2 ? 'model' : str()] = value(depth + 1, rnd);
  return o;
}

function seeded(seed: number): () => number {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

describe('scanModel', () => {
  it('finds the same top-level model as JSON.parse on generated bodies, whitespace and key order varied', () => {
    const rnd = seeded(7);
    for (let n = 0; n < 2000; n++) {
      const o = value(1, rnd);
      const obj: Record<string, unknown> = o && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, unknown>) : { x: o };
      const r = rnd();
      if (r < 0.4) obj.model = `m-${n} "quoted" \\ ✓`;
      else if (r < 0.5) obj.model = 42;
      const text = JSON.stringify(obj, null, n % 3 === 0 ? 2 : undefined);
      const parsed = (JSON.parse(text) as { model?: unknown }).model;
      const expected = parsed === undefined ? undefined : typeof parsed === 'string' ? parsed : null;
      expect(scanModel(b(text))).toEqual(expected);
    }
  });

  it('keeps the last of duplicate keys and decodes escaped keys, as JSON.parse does', () => {
    expect(scanModel(b('{"model":"a","messages":[{"model":"inner"}],"model":"b"}'))).toBe('b');
    expect(scanModel(b('{"mod\\u0065l":"esc"}'))).toBe('esc');
    expect(scanModel(b(' \n{ "model" : "spaced" } \n'))).toBe('spaced');
    expect(scanModel(b('{"messages":[],"nested":{"model":"x"}}'))).toBeUndefined();
  });

  it('refuses what a full parse refuses structurally, with invalid_json', () => {
    const bad = [
      '[1,2]',
      '"model"',
      '{"model":"a"',
      '{"model":"a"}}',
      '{"model":"a"} x',
      '{"model":"unterminated}',
      '{"a":[1,2}',
      `{"a":${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}}`,
    ];
    for (const text of bad) {
      let err: unknown;
      try {
        scanModel(b(text));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RouterError);
      expect((err as RouterError).status).toBe(400);
    }
    expect(() => scanModel(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]))).toThrow(/UTF-8/);
    // One level less than the limit is fine.
    expect(scanModel(b(`{"model":"ok","a":${'['.repeat(MAX_JSON_DEPTH - 1)}${']'.repeat(MAX_JSON_DEPTH - 1)}}`))).toBe('ok');
  });
});
