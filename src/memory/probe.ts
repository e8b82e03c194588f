import { execa } from 'execa';
import { canonicalDeviceName, parseSize } from '../devices/size.js';

/** A probe that did not give a usable answer; `cause` holds the process error when there is one. */
export class ProbeError extends Error {
  constructor(
    message: string,
    readonly command: string,
    readonly details: { exitCode?: number; signal?: string; stdout?: string; stderr?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProbeError';
  }
}

export interface ProbeOptions {
  /** Default 30 s: the bundled engine's dry run loads the llama.cpp runtime (~1 s) but no weights. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Aborting kills the probe's process group (the router shutting down must not leave one behind). */
  signal?: AbortSignal;
  /** Reads the answer from the output (default: the JSON line, parseProbeOutput); throws ProbeError when there is none. */
  parse?: (stdout: string, stderr: string, command: string, details: ProbeError['details']) => ProbeResult;
}

export interface ProbeResult {
  devices: Record<string, number>;
  /** The whole JSON object the probe printed (the engine adds ctx_size, model, context, ...). */
  report: Record<string, unknown>;
}

/**
 * Runs a memory probe and reads the one JSON line it prints: `{"devices": {"CPU": bytes, "CUDA0": bytes}, ...}`.
 * A string runs through the shell (it is a preset's `probe =` line, trusted like its `cmd =`); an
 * array runs without one. Log lines around the JSON are allowed; the last line that is a JSON object
 * with `devices` wins. Values may be numbers of bytes or sizes ("8GiB"); device names are made canonical.
 *
 * The probe runs in its own process group, so a timeout kills what the shell started too.
 */
export async function runProbe(command: string | readonly string[], opts: ProbeOptions = {}): Promise<ProbeResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const shown = typeof command === 'string' ? command : command.join(' ');
  if ((typeof command === 'string' && command.trim() === '') || (typeof command !== 'string' && command.length === 0)) {
    throw new ProbeError('empty probe command', shown);
  }
  const child =
    typeof command === 'string'
      ? execa(command, { shell: true, detached: true, reject: false, env: opts.env, cwd: opts.cwd, stdin: 'ignore', maxBuffer: 4 * 1024 * 1024 })
      : execa(command[0]!, command.slice(1), { detached: true, reject: false, env: opts.env, cwd: opts.cwd, stdin: 'ignore', maxBuffer: 4 * 1024 * 1024 });
  let timedOut = false;
  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, timeoutMs);
  if (opts.signal?.aborted) killGroup();
  opts.signal?.addEventListener('abort', killGroup, { once: true });
  const result = await child.finally(() => {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', killGroup);
  });
  if (opts.signal?.aborted) throw new ProbeError(`memory probe cancelled: ${shown}`, shown);
  const stdout = String(result.stdout ?? '');
  const stderr = String(result.stderr ?? '');
  const details = { exitCode: result.exitCode, signal: result.signal, stdout: tail(stdout), stderr: tail(stderr) };

  if (timedOut) throw new ProbeError(`memory probe timed out after ${timeoutMs} ms: ${shown}`, shown, details);
  if (result.failed && result.exitCode === undefined) {
    throw new ProbeError(`memory probe could not run: ${shown}: ${result.shortMessage ?? result.message}`, shown, details, { cause: result });
  }
  if (result.exitCode !== 0) {
    const why = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
    throw new ProbeError(`memory probe ${why}: ${shown}${details.stderr ? `\n${details.stderr}` : ''}`, shown, details);
  }
  return opts.parse ? opts.parse(stdout, stderr, shown, details) : parseProbeOutput(stdout, shown, details);
}

/** The last line of stdout that is a JSON object with a `devices` map of sizes. */
export function parseProbeOutput(stdout: string, command = '(probe)', details: ProbeError['details'] = {}): ProbeResult {
  const lines = stdout.split(/\r?\n/).map((l) => l.trim());
  let lastError: string | undefined;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (!line.startsWith('{')) continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) continue;
    const report = obj as Record<string, unknown>;
    const devicesIn = report.devices;
    if (typeof devicesIn !== 'object' || devicesIn === null || Array.isArray(devicesIn)) {
      lastError = 'its JSON has no "devices" object';
      continue;
    }
    const devices: Record<string, number> = {};
    for (const [name, value] of Object.entries(devicesIn as Record<string, unknown>)) {
      let bytes: number;
      try {
        if (typeof value !== 'number' && typeof value !== 'string') throw new Error(`not a size: ${JSON.stringify(value)}`);
        bytes = parseSize(value);
      } catch (err) {
        throw new ProbeError(`memory probe printed a bad size for ${name}: ${(err as Error).message} (${command})`, command, details);
      }
      devices[canonicalDeviceName(name)] = bytes;
    }
    return { devices, report };
  }
  const what = stdout.trim() === '' ? 'printed nothing' : (lastError ?? `printed no JSON line: ${JSON.stringify(tail(stdout, 200))}`);
  throw new ProbeError(`memory probe ${what}; expected one line like {"devices":{"CPU":123456789}} (${command})`, command, details);
}

function tail(text: string, max = 2000): string {
  const t = text.trim();
  return t.length > max ? '…' + t.slice(-max) : t;
}
