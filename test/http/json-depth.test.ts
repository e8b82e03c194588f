/** parseJsonBody's nesting limit at its edge: the allocation-free walk and the short-body shortcut agree with it. */
import { depthOver, MAX_JSON_DEPTH, parseJsonBody } from '../../src/http/body.js';

const nested = (depth: number, open: string, close: string, inner = '1') => Buffer.from(`${open.repeat(depth)}${inner}${close.repeat(depth)}`);
const objects = (depth: number) => Buffer.from(`${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`);

test.each([
  ['arrays', (d: number) => nested(d, '[', ']')],
  ['arrays, nothing inside (the shortest body of that depth)', (d: number) => nested(d, '[', ']', '')],
  ['objects', objects],
])('%s: MAX_JSON_DEPTH levels pass, one more is refused', (_what, make) => {
  expect(() => parseJsonBody(make(MAX_JSON_DEPTH))).not.toThrow();
  expect(() => parseJsonBody(make(MAX_JSON_DEPTH + 1))).toThrow(/nests deeper than 128 levels/);
});

test('the deep branch is found wherever it is: after shallow siblings, in an object after an array', () => {
  const deep = `${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`;
  expect(() => parseJsonBody(Buffer.from(`{"a":[1,{"b":2},[]],"c":{"d":${deep}}}`))).toThrow(/nests deeper/);
  expect(() => parseJsonBody(Buffer.from(`[[1],[2],${deep}]`))).toThrow(/nests deeper/);
  expect(depthOver({ a: [1, { b: 2 }] }, 3)).toBe(false);
  expect(depthOver({ a: [1, { b: 2 }] }, 2)).toBe(true);
  expect(depthOver('text', 0)).toBe(false);
  expect(depthOver(null, 0)).toBe(false);
});
