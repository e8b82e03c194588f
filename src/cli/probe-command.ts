/**
 * `router probe NAME|FILE [child flags]`: what a model needs per device, without starting a server.
 * Prints the JSON `GET /models` shows as a model's `memory` (`{"devices":{"CPU":bytes,...},"source":"probe"}`),
 * found exactly as the router finds it (src/cli/memory-hooks.ts): override > measured ledger (--state-dir)
 * > probe (the bundled engine's --dry-run, or a preset's `probe =`) > GGUF estimate. On a machine with
 * GPUs a model the router places reads `{CPU, GPU}`: its need on one GPU (docs/memory.md).
 *
 * NAME is a model or alias of the catalogue (--models-dir and/or --models-preset); FILE is a GGUF file,
 * taken as a models-dir entry would be. Child flags follow it, as after `router ... --` (e.g. -c 4096 -np 2).
 * Exit 0 with the JSON; 1 when no figure can be had (no file, no probe, no override); 2 on usage errors.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { Command } from 'commander';
import { buildCatalog, loadCatalog, validateCatalog, type ModelSpec } from '../catalog/index.js';
import { createLogger } from './logger.js';
import type { NeedParts } from '../router/router.js';
import { memoryHooks } from './memory-hooks.js';
import { defaultStateDir, UsageError } from './serve.js';
import { chooseServerBin } from './server-bin.js';

export interface ProbeOptions {
  modelsDir?: string;
  modelsPreset?: string;
  stateDir?: string;
  serverBin?: string;
  fitParamsBin?: string;
  logLevel: string;
}

export function addProbeCommand(program: Command): void {
  program
    .command('probe')
    .usage('[options] NAME|FILE [child flags...]')
    .summary("a model's memory need per device, without starting it (JSON, as in GET /models)")
    .description(
      'what a model needs per device, without starting it: the JSON GET /models shows as its memory. ' +
        'NAME needs --models-dir or --models-preset; FILE is a GGUF; child flags follow it ' +
        '(router probe model.gguf -c 4096 -np 2). Exit 1 without a figure, 2 on usage errors.',
    )
    .argument('<model>', 'model name or alias, or a GGUF file')
    .argument('[child-flags...]', 'llama-server flags for the model, as after `router ... --`')
    .option('--models-dir <dir>', 'folder of GGUF models (to find NAME)')
    .option('--models-preset <path>', 'preset INI file or folder (to find NAME)')
    .option('--state-dir <dir>', 'where measured memory is kept (default: ~/.cache/model-router)')
    .option('--server-bin <path>', 'child inference server (default: llama-server on PATH, else the bundled router-engine)')
    .option('--fit-params-bin <path>', 'llama-fit-params, the probe for llama-server children (default: beside --server-bin, else on PATH)')
    .option('--log-level <level>', 'log level of notes on stderr (warn: why a probe fell back to the estimate)', 'error')
    // Child flags are whatever llama-server takes: not ours to know, so not errors.
    .allowUnknownOption()
    .action(async (model: string, childFlags: string[], opts: ProbeOptions) => {
      const result = await probeModel(model, childFlags, opts);
      if (!result) {
        process.stderr.write(`error: no memory figure for '${model}': no model file, no probe and no memory override\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(JSON.stringify(result) + '\n');
    });
}

/** The model's `{devices, source}` as the router would show it, or undefined when unknown. */
export async function probeModel(
  target: string,
  childFlags: string[],
  opts: ProbeOptions,
): Promise<{ devices: Record<string, number>; source: string; parts?: Record<string, NeedParts> } | undefined> {
  const spec = await specFor(target, childFlags, opts);
  const logger = createLogger('json', opts.logLevel);
  const server = chooseServerBin(opts.serverBin);
  const { hooks } = memoryHooks({ stateDir: opts.stateDir ?? defaultStateDir(), server, bundled: server.prefix.length > 0, logger, fitParamsBin: opts.fitParamsBin });
  // No `refine`: the best answer there is (the probe when it runs), as /models shows once it is in.
  const need = await hooks.need(spec);
  return need && { devices: need.devices, source: need.source, ...(need.parts ? { parts: need.parts } : {}) };
}

async function specFor(target: string, childFlags: string[], opts: ProbeOptions): Promise<ModelSpec> {
  if (opts.modelsDir !== undefined || opts.modelsPreset !== undefined) {
    const catalog = await loadCatalog({ modelsDir: opts.modelsDir, presetPath: opts.modelsPreset, childArgs: childFlags });
    const spec = catalog.resolve(target);
    if (spec) return spec;
    const invalid = catalog.invalid.find((i) => i.name === target);
    if (invalid) throw invalid.error;
    if (!isFile(target)) throw new UsageError(`model '${target}' is not in the catalogue, and there is no such file`);
  } else if (!isFile(target)) {
    throw new UsageError(
      existsSync(target)
        ? `${target} is not a file`
        : `no such file '${target}' (to probe a model by name, give --models-dir or --models-preset)`,
    );
  }
  // A file is taken as a models-dir entry would be, so its arguments (and ledger key) match the router's.
  const path = resolve(target);
  const name = basename(path).replace(/\.gguf$/i, '');
  const [result] = validateCatalog({
    discovery: { models: [{ name, modelPath: path, source: path }], conflicts: [] },
    childArgs: childFlags,
  });
  if (!result?.spec) throw result?.error ?? new UsageError(`cannot make a model of ${target}`);
  return buildCatalog([result]).models[0]!;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}
