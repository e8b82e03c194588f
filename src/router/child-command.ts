/**
 * The command line of one model's child: the server binary with the model, host, port and
 * the child's own API key added to the preset's arguments, or a preset's `cmd` with its
 * macros expanded. The router adds host/port/key itself so no preset can open a child to
 * the network without the router's auth in front of it.
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
      env: spec.env,
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
      '--api-key',
      opts.apiKey,
    ],
    env: spec.env,
    healthPath: spec.healthPath,
  };
}
