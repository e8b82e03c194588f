/**
 * Start the real engine (`node dist/src/engine/main.js`, built by `npm run build`) as a child for integration tests.
 * Every engine started here is recorded and killed by stopAll(), so a failing test never leaves a child behind.
 */
import { execa, type ResultPromise } from 'execa';
import getPort from 'get-port';
import { join } from 'node:path';
import { ENGINE_NODE_FLAGS } from '../../src/package/paths.js';
import { waitFor } from '../helpers/wait.js';

// jest's ESM runtime leaves import.meta.dirname unset; jest runs from the project root.
export const ROOT = import.meta.dirname ? join(import.meta.dirname, '..', '..') : process.cwd();
export const ENGINE_MAIN = join(ROOT, 'dist', 'src', 'engine', 'main.js');
/** `node` arguments that start the engine as the router does (its V8 flags, src/package/paths.ts), then its own. */
export const engineArgv = (args: string[]): string[] => [...ENGINE_NODE_FLAGS, ENGINE_MAIN, ...args];

export interface RunningEngine {
  url: string;
  port: number;
  proc: ResultPromise<{ buffer: false; reject: false }>;
  pid: number;
  /** stderr so far. */
  stderr(): string;
  stdout(): string;
  /** Poll /health until 200; returns the statuses seen on the way (e.g. [503, 503, 200]). */
  waitReady(timeoutMs?: number): Promise<number[]>;
  /** SIGTERM and wait; returns the exit code. */
  stop(): Promise<number | undefined>;
}

const running = new Set<RunningEngine>();

export async function startEngine(args: string[], opts: { port?: number } = {}): Promise<RunningEngine> {
  const port = opts.port ?? (await getPort({ host: '127.0.0.1' }));
  let out = '';
  let err = '';
  // stdin stays a pipe, as the router spawns it: the engine watches it for EOF.
  const proc = execa(process.execPath, engineArgv(['--port', String(port), '-t', '1', ...args]), {
    reject: false,
    buffer: false,
    stdin: 'pipe',
  });
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const engine: RunningEngine = {
    url,
    port,
    proc,
    pid: proc.pid!,
    stderr: () => err,
    stdout: () => out,
    waitReady: async (timeoutMs = 30_000) => {
      const seen: number[] = [];
      await waitFor(
        'the engine to answer /health 200',
        async () => {
          if (proc.exitCode !== null) throw new Error(`engine exited ${proc.exitCode}`);
          try {
            const res = await fetch(`${url}/health`);
            await res.arrayBuffer();
            if (seen.at(-1) !== res.status) seen.push(res.status);
            return res.status === 200;
          } catch {
            return false; // not listening yet
          }
        },
        timeoutMs,
        20,
      ).catch((e: Error) => {
        throw new Error(`${e.message}:\n${err}`);
      });
      return seen;
    },
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const res = await proc;
      running.delete(engine);
      return res.exitCode;
    },
  };
  running.add(engine);
  void proc.finally(() => running.delete(engine));
  return engine;
}

export async function stopAll(): Promise<void> {
  await Promise.all(
    [...running].map(async (e) => {
      e.proc.kill('SIGKILL');
      await e.proc;
    }),
  );
}

/** Resident memory of a process in bytes (VmRSS). */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`not JSON (${res.status}): ${text.slice(0, 200)}`);
  }
  return { status: res.status, json };
}
