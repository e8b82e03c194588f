/**
 * Talking to a running router for the control subcommands: one place that turns "could
 * not connect", 401 and the router's OpenAI error JSON into a clear message and exit code.
 */

/** A failure the user should read; `exitCode` 2 for usage, 1 for everything else. */
export class ControlError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

export interface Target {
  /** Base URL without a trailing slash. */
  url: string;
  apiKey?: string;
}

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export function targetOf(opts: { url?: string; apiKey?: string }): Target {
  const raw = opts.url || DEFAULT_URL;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ControlError(`'${raw}' is not a URL (e.g. ${DEFAULT_URL})`, 2);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ControlError(`'${raw}' is not an http(s) URL`, 2);
  return { url: u.href.replace(/\/+$/, ''), apiKey: opts.apiKey || undefined };
}

export async function request(
  t: Target,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(`${t.url}${path}`, {
      method,
      headers: {
        ...(t.apiKey ? { authorization: `Bearer ${t.apiKey}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new ControlError(`cannot reach the router at ${t.url} (${why}); is it running? (set --url or ROUTER_URL)`);
  }
  if (!res.ok) throw await errorOf(t, res);
  return res;
}

export async function call<T>(t: Target, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await request(t, method, path, body);
  const text = await res.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ControlError(`${t.url}${path} did not answer JSON (is ${t.url} a model router?)`);
  }
}

async function errorOf(t: Target, res: Response): Promise<ControlError> {
  let message: string | undefined;
  let code: string | undefined;
  try {
    const body = (await res.json()) as { error?: { message?: string; code?: string } };
    message = body.error?.message;
    code = body.error?.code;
  } catch {
    /* not our JSON */
  }
  if (res.status === 401) {
    return new ControlError(
      t.apiKey
        ? `the router at ${t.url} refused the API key (${message ?? 'invalid API key'})`
        : `the router at ${t.url} needs an API key: pass --api-key KEY or set ROUTER_API_KEY`,
    );
  }
  if (message) return new ControlError(code ? `${message} (${code})` : message);
  return new ControlError(`the router at ${t.url} answered HTTP ${res.status} (is it a model router?)`);
}
