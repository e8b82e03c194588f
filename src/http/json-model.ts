/**
 * The top-level `model` of a large JSON body without JSON.parse building the whole tree: a long conversation is
 * megabytes of message strings the router never looks at, and parsing them all was CPU taken from inference on
 * every request (the child parses the body anyway). The scan jumps over strings with indexOf and looks only at
 * structure, so its cost is the structure's, not the text's.
 *
 * What it still refuses, as a full parse would (400 invalid_json): invalid UTF-8, a body that is not one JSON
 * object, unbalanced brackets or an unterminated string, nesting deeper than MAX_JSON_DEPTH (children parse JSON
 * recursively). What it does not check is the syntax inside values it skips (a bad number, a missing comma): the
 * child parses the body and answers its own 400. Small bodies are parsed in full (model-field.ts).
 */
import { isUtf8 } from 'node:buffer';
import { MAX_JSON_DEPTH } from './body.js';
import { RouterError } from './errors.js';

/** Bodies larger than this are scanned rather than parsed (smaller ones: parseJsonBody in body.ts). */
export const SCAN_ABOVE_BYTES = 64 * 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

const bad = (why: string) => new RouterError('invalid_json', `request body is not valid JSON: ${why}`);
const isSpace = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * Index of the quote closing the string whose opening quote is at `open`. Short hops are read in JS (an indexOf
 * call costs more than a few dozen byte reads: text full of escaped quotes), long runs are jumped with indexOf.
 */
function stringEnd(body: Buffer, open: number): number {
  const n = body.length;
  let i = open + 1;
  for (;;) {
    const stop = Math.min(n, i + 64);
    while (i < stop) {
      const c = body[i]!;
      if (c === QUOTE) return i;
      i += c === BACKSLASH ? 2 : 1;
    }
    if (i >= n) throw bad('unterminated string');
    const q = body.indexOf(QUOTE, i);
    if (q === -1) throw bad('unterminated string');
    let slashes = 0;
    while (body[q - 1 - slashes] === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return q;
    i = q + 1;
  }
}

/**
 * The value of the top-level `model` key (the last one, as JSON.parse would keep): a string, `null` for a
 * non-string value, undefined when there is none. Throws invalid_json as described above.
 */
export function scanModel(body: Buffer): string | null | undefined {
  if (!isUtf8(body)) throw new RouterError('invalid_json', 'request body is not valid UTF-8');
  let i = 0;
  while (isSpace(body[i])) i++;
  if (body[i] !== OPEN_OBJECT) throw new RouterError('invalid_json', 'request body must be a JSON object');
  let depth = 1;
  let wantKey = true;
  let model: string | null | undefined;
  for (i++; i < body.length; i++) {
    const c = body[i]!;
    if (c === QUOTE) {
      const end = stringEnd(body, i);
      if (depth === 1 && wantKey) {
        wantKey = false;
        const key = body.toString('utf8', i, end + 1);
        if (key === '"model"' || (key.includes('\\') && JSON.parse(key) === 'model')) {
          let v = end + 1;
          while (isSpace(body[v])) v++;
          if (body[v] !== COLON) throw bad("no ':' after a key");
          v++;
          while (isSpace(body[v])) v++;
          if (body[v] === QUOTE) {
            const vEnd = stringEnd(body, v);
            model = JSON.parse(body.toString('utf8', v, vEnd + 1)) as string;
            i = vEnd;
            continue;
          }
          model = null;
        }
      }
      i = end;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > MAX_JSON_DEPTH) throw new RouterError('invalid_json', `request body nests deeper than ${MAX_JSON_DEPTH} levels`);
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (--depth === 0) {
        if (c !== CLOSE_OBJECT) throw bad('unbalanced brackets');
        for (i++; i < body.length; i++) if (!isSpace(body[i])) throw bad('data after the object');
        return model;
      }
    } else if (c === COMMA && depth === 1) {
      wantKey = true;
    }
  }
  throw bad('unexpected end');
}
