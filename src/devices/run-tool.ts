import { execa } from 'execa';

/**
 * Runs a vendor tool (nvidia-smi, rocm-smi) and returns its stdout. Every way it can go wrong becomes
 * a ToolError with a `reason` the monitor uses to decide what to log: `missing` (not on PATH),
 * `timeout` (hung driver: nvidia-smi can block for seconds when the driver is wedged), `failed`
 * (non-zero exit, e.g. "couldn't communicate with the NVIDIA driver").
 */
export class ToolError extends Error {
  constructor(
    message: string,
    readonly tool: string,
    readonly reason: 'missing' | 'timeout' | 'failed',
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ToolError';
  }
}

export interface RunToolOptions {
  /** Complete environment for the tool (PATH decides which binary runs); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Default 3000 ms. */
  timeoutMs?: number;
}

export async function runTool(tool: string, args: string[], opts: RunToolOptions = {}): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  try {
    const result = await execa(tool, args, {
      env: opts.env ?? process.env,
      extendEnv: false,
      timeout: timeoutMs,
      stdin: 'ignore',
      // The tool is ours to kill; a wedged nvidia-smi must not outlive the timeout.
      forceKillAfterDelay: 500,
      maxBuffer: 16 * 1024 * 1024,
      encoding: 'utf8',
    });
    return result.stdout;
  } catch (err) {
    const e = err as { code?: string; timedOut?: boolean; exitCode?: number; stderr?: string; stdout?: string; shortMessage?: string };
    if (e.code === 'ENOENT') throw new ToolError(`${tool} not found on PATH`, tool, 'missing', { cause: err });
    if (e.timedOut) throw new ToolError(`${tool} did not answer within ${timeoutMs} ms`, tool, 'timeout', { cause: err });
    const detail = (e.stderr || e.stdout || '').trim().split('\n').slice(-3).join(' | ');
    throw new ToolError(
      `${tool} ${args.join(' ')} failed${e.exitCode !== undefined ? ` (exit ${e.exitCode})` : ''}${detail ? `: ${detail}` : ''}`,
      tool,
      'failed',
      { cause: err },
    );
  }
}
