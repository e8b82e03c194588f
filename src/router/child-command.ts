/**
 * The command line of one model's child: the server binary with the model, host and port added
 * to the preset's arguments, or a preset's `cmd` with its macros expanded. The router adds
 * host/port/key itself so no preset can open a child to the network without the router's auth
 * in front of it.
 *
 * The child's key travels in its environment as LLAMA_API_KEY (read by llama-server and the
 * bundled engine), never in its argv: any local user can read /proc/PID/cmdline, while
 * /proc/PID/environ is readable only by the router's own user. A `cmd` child gets it there too;
 * its `${API_KEY}` macro still puts the key in argv, for servers that only take a flag (README).
 */
import { parseCommandString } from 'execa';
import type { ModelSpec } from '../catalog/model-spec.js';

export interface ServerBin {
  command: string;
  /** Arguments before the child's own (e.g. the engine script for `node`). */
  prefix: string[];
}

export interface ChildCommand {
  command: string;
  args: (port: number) => string[];
  env: Record<string, string>;
  healthPath: string;
}

/** The child's API key in its environment: the name llama-server (and the bundled engine) read. */
export const CHILD_KEY_ENV = 'LLAMA_API_KEY';

export function childCommand(
  spec: ModelSpec,
  opts: { server: ServerBin; host: string; apiKey: string; extraArgs?: string[] },
): ChildCommand {
  const extra = opts.extraArgs ?? [];
  if (spec.cmd) {
    const cmd = spec.cmd;
    const expand = (port: number) =>
      cmd
        .replaceAll('${PORT}', String(port))
        .replaceAll('${HOST}', opts.host)
        .replaceAll('${MODEL}', spec.modelPath ?? spec.name)
        .replaceAll('${API_KEY}', opts.apiKey);
    return {
      command: parseCommandString(expand(0))[0]!,
      args: (port) => [...parseCommandString(expand(port)).slice(1), ...extra],
      env: { ...spec.env, [CHILD_KEY_ENV]: opts.apiKey },
      healthPath: spec.healthPath,
    };
  }
  if (!spec.modelPath) throw new Error(`model '${spec.name}' has neither a model file nor a command`);
  const modelPath = spec.modelPath;
  return {
    command: opts.server.command,
    args: (port) => [
      ...opts.server.prefix,
      '--model',
      modelPath,
      ...(spec.mmprojPath ? ['--mmproj', spec.mmprojPath] : []),
      '--alias',
      spec.name,
      ...spec.args,
      ...extra,
      '--host',
      opts.host,
      '--port',
      String(port),
    ],
    env: { ...spec.env, [CHILD_KEY_ENV]: opts.apiKey },
    healthPath: spec.healthPath,
  };
}
