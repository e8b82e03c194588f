/**
 * The processes a benchmark starts (routers, engines run directly), each tracked so that every one is
 * stopped at the end, on success, on error and on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import getPort from 'get-port';

/** The repository root, from bench/ (tests) or dist/bench/ (npm run bench). */
export const ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();
export const ROUTER_BIN = join(ROOT, 'bin', 'router.js');
export const ENGINE_BIN = join(ROOT, 'bin', 'router-engine.js');
export const FAST_UPSTREAM = join(ROOT, 'dist', 'bench', 'fixtures', 'fast-upstream.js');
export const BARE_RELAY = join(ROOT, 'dist', 'bench', 'fixtures', 'bare-relay.js');
export const NET_RELAY = join(ROOT, 'dist', 'bench', 'fixtures', 'net-relay.js');
export const CLIENT_RELAY = join(ROOT, 'dist', 'bench', 'fixtures', 'client-relay.js');

const live = new Set<ChildProcess>();

export interface Started {
  proc: ChildProcess;
  url: string;
  port: number;
  /** performance.now() when spawned. */
  spawnedAt: number;
  output(): string;
  /** JSON log records so far (the router logs JSON with --log-format json). */
  logs(): Record<string, unknown>[];
  stop(): Promise<void>;
}

export async function startProcess(args: string[], opts: { port?: number } = {}): Promise<Started> {
  return startCommand(process.execPath, args, opts);
}

/** Any command (nginx, llama-server), `${PORT}` in its arguments replaced by a free port. */
export async function startCommand(command: string, args: string[], opts: { port?: number } = {}): Promise<Started> {
  const port = opts.port ?? (await getPort({ host: '127.0.0.1' }));
  const withPort = args.map((a) => a.replaceAll('${PORT}', String(port)));
  const spawnedAt = performance.now();
  const proc = spawn(command, withPort, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  void exited.then(() => live.delete(proc));
  return {
    proc,
    port,
    url: `http://127.0.0.1:${port}`,
    spawnedAt,
    output: () => out,
    logs: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/** `router --port P --log-format json ARGS`; resolves once /health answers 200, with the time that took. */
export async function startRouter(args: string[]): Promise<Started & { healthyMs: number }> {
  const r = await startProcess([ROUTER_BIN, '--port', '${PORT}', '--log-format', 'json', ...args]);
  const healthyMs = await untilHealthy(r, 30_000);
  return { ...r, healthyMs };
}

/** Polls GET /health every 5 ms; returns ms from spawn to the first 200. */
export async function untilHealthy(p: Started, timeoutMs: number, path = '/health'): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (p.proc.exitCode !== null) throw new Error(`process exited ${p.proc.exitCode}:\n${p.output().slice(-2000)}`);
    try {
      const res = await fetch(`${p.url}${path}`);
      await res.arrayBuffer();
      if (res.status === 200) return performance.now() - p.spawnedAt;
    } catch {
      /* not listening yet */
    }
    if (performance.now() > deadline) throw new Error(`not healthy after ${timeoutMs} ms:\n${p.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resident set size of a live process, in MiB. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1]);
  return kb / 1024;
}

/** Stops everything still running (SIGTERM, then SIGKILL after 15 s). */
export async function stopAll(): Promise<void> {
  await Promise.all(
    [...live].map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          p.once('exit', () => resolve());
          p.kill('SIGTERM');
          setTimeout(() => p.kill('SIGKILL'), 15_000).unref();
        }),
    ),
  );
}

/** Last resort when the benchmark itself dies: no process it started outlives it. */
export function killAllNow(): void {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 30_000, everyMs = 20): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
