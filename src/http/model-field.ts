/**
 * Which model a request names: the JSON body's `model`, the multipart form field `model`
 * (audio transcriptions), or `?model=`. The body is never re-serialized: the proxy
 * forwards the bytes as they came.
 */
import type { IncomingMessage } from 'node:http';
import { parseJsonBody } from './body.js';
import { RouterError } from './errors.js';
import { scanModel, SCAN_ABOVE_BYTES } from './json-model.js';

export function modelOf(req: Pick<IncomingMessage, 'headers' | 'url'>, body: Buffer): string {
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  let model: unknown;
  if (type.startsWith('multipart/form-data')) {
    model = multipartField(body, type, 'model');
  } else if (body.length > SCAN_ABOVE_BYTES) {
    model = scanModel(body);
  } else if (body.length > 0) {
    const parsed = parseJsonBody(body);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new RouterError('invalid_json', 'request body must be a JSON object');
    }
    model = (parsed as Record<string, unknown>).model;
  }
  if (model === undefined) model = queryModel(req.url);
  if (model === undefined) throw new RouterError('invalid_model', "missing 'model'");
  if (typeof model !== 'string' || model.length === 0) {
    throw new RouterError('invalid_model', "'model' must be a non-empty string");
  }
  return model;
}

/** One text field of a multipart body, without parsing the (possibly large) file parts. */
export function multipartField(body: Buffer, contentType: string, name: string): string | undefined {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) throw new RouterError('invalid_request', 'multipart body without a boundary');
  const delimiter = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delimiter);
  while (pos !== -1) {
    const start = pos + delimiter.length;
    const next = body.indexOf(delimiter, start);
    if (next === -1) break;
    const part = body.subarray(start, next);
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd !== -1) {
      const headers = part.subarray(0, headerEnd).toString('latin1');
      const field = /content-disposition:[^\r\n]*\bname="([^"]*)"/i.exec(headers)?.[1];
      if (field === name && !/filename=/i.test(headers)) {
        return part.subarray(headerEnd + 4, part.length - 2).toString('utf8');
      }
    }
    pos = next;
  }
  return undefined;
}

/** `?model=` (express's req.query is not there on the proxied path, which runs without express). */
function queryModel(url: string | undefined): string | undefined {
  const q = url?.indexOf('?') ?? -1;
  return q === -1 ? undefined : (new URLSearchParams(url!.slice(q + 1)).get('model') ?? undefined);
}
