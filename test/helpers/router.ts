/**
 * Start the real `router` command as a child process for integration tests, and check that
 * nothing it started outlives it.
 */
import { execa, type ResultPromise } from 'execa';
import getPort from 'get-port';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

export { waitFor } from './wait.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const ROUTER_BIN = join(ROOT, 'bin', 'router.js');

export interface RunningRouter {
  url: string;
  port: number;
  proc: ResultPromise;
  /** Everything the router printed so far (stderr + stdout). */
  output(): string;
  /** JSON log records so far. */
  logs(): Record<string, unknown>[];
  /** SIGTERM and wait; returns the exit code. */
  stop(): Promise<number | undefined>;
}

export async function startRouter(args: string[], opts: { env?: Record<string, string>; waitReady?: boolean } = {}): Promise<RunningRouter> {
  const port = await getPort({ host: '127.0.0.1' });
  let out = '';
  const proc = execa(process.execPath, [ROUTER_BIN, '--port', String(port), '--log-format', 'json', ...args], {
    env: { ...opts.env },
    reject: false,
    buffer: false,
    stdin: 'ignore',
    // execa would SIGKILL 5 s after our SIGTERM: graceful shutdown must be allowed its time.
    forceKillAfterDelay: false,
  });
  // A test that times out never reaches its stop(): the router (and by pdeathsig its children) must not outlive
  // the jest worker.
  const killOnExit = () => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  void proc.finally(() => process.off('exit', killOnExit));
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const r: RunningRouter = {
    url,
    port,
    proc,
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
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const res = await proc;
      return res.exitCode;
    },
  };
  if (opts.waitReady !== false) {
    await waitFor(
      'the router to answer /health',
      async () => {
        if (proc.exitCode !== null) throw new Error(`router exited ${proc.exitCode}:`);
        return fetch(`${url}/health`).then(
          (res) => res.ok,
          () => false, // not up yet
        );
      },
      20_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${out}`);
    });
  }
  return r;
}

/**
 * Pids of model servers mentioning `marker`: its processes less the bundled engine's `--dry-run` memory probes,
 * which the router runs in the background for every model from its start (they serve nothing).
 */
export function serversMentioning(marker: string): number[] {
  return processesMentioning(marker).filter((pid) => {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.split('\0').includes('--dry-run')) return false;
      // A process the router (or anything else) has forked and not yet exec'd still shows its parent's command line,
      // which mentions the models folder: not a server (CI once counted one of the router's, after an unload).
      return !forkedNotExeced(pid, cmd);
    } catch {
      return false;
    }
  });
}

function forkedNotExeced(pid: number, cmd: string): boolean {
  try {
    const ppid = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1];
    return ppid !== undefined && readFileSync(`/proc/${ppid}/cmdline`, 'utf8') === cmd;
  } catch {
    return false; // gone, or its parent gone: judged by its own command line
  }
}

/** The model servers `r` runs for `marker` (e.g. its models folder): serversMentioning() less the router itself. */
export function serversOf(r: RunningRouter, marker: string): number[] {
  return serversMentioning(marker).filter((pid) => pid !== r.proc.pid);
}

/** Pids of live (non-zombie) processes whose command line mentions `marker`. */
export function processesMentioning(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmd.includes(marker)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && state !== 'X') pids.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

export async function json(res: Response): Promise<any> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`not JSON (${res.status}): ${text.slice(0, 200)}`);
  }
}

export async function models(url: string, key?: string): Promise<any[]> {
  const res = await fetch(`${url}/models`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  return (await json(res)).data;
}

export async function statusOf(url: string, model: string, key?: string): Promise<string> {
  const m = (await models(url, key)).find((x) => x.id === model);
  return m?.status?.failed ? 'failed' : m?.status?.value;
}

export function chat(url: string, model: string, extra: Record<string, unknown> = {}, init: RequestInit = {}): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, ...extra }),
    signal: init.signal,
  });
}

/**
 * Is process `pid` alive? A zombie is not: in these sandboxes PID 1 does not reap orphans, so kill(pid, 0) alone
 * calls a killed grandchild alive; its state in /proc/PID/stat tells.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Resident set size of process `pid`, in bytes. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}
