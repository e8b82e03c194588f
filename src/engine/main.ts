/**
 * router-engine: one GGUF model over OpenAI-compatible HTTP, started by the router as a child (or by hand).
 * Order of life: parse flags -> (dry run and exit) -> listen -> load -> serve -> stop on SIGTERM/SIGINT or when the
 * parent closes our stdin. Exit codes: 0 clean stop, 1 failure (bad model, port taken), 2 bad flags.
 */
import fs from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import type { Llama } from 'node-llama-cpp';
import { dryRun } from './dry-run.js';
import { shuttingDown } from './errors.js';
import { parseFlags, USAGE, type EngineOptions } from './flags.js';
import { packageVersion } from '../package/version.js';
import { openLlama } from './llama.js';
import { log } from './log.js';
import { checkModelHeader } from './model-file.js';
import { ModelRuntime } from './runtime.js';
import { createApp } from './server.js';
import { EngineState } from './state.js';

/** A clean stop never takes longer than this; past it we exit anyway (a stuck native call must not hang the router). */
const STOP_DEADLINE_MS = 5000;

async function main(argv: string[]): Promise<void> {
  const parsed = parseFlags(argv);
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`router-engine ${packageVersion()} (node-llama-cpp)\n`);
    return;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`router-engine: ${parsed.message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const options = parsed.options;
  for (const flag of options.ignored) log(`warning: ignoring llama-server flag ${flag} (not supported by this engine)`);

  if (options.dryRun) {
    const llama = await openLlama({ threads: options.threads, gpu: options.gpuLayers !== 0 });
    try {
      process.stdout.write(`${JSON.stringify(await dryRun(llama, options))}\n`);
    } finally {
      await llama.dispose();
    }
    return;
  }
  await serve(options);
}

async function serve(options: EngineOptions): Promise<void> {
  // The cheap checks first: a missing or non-GGUF file fails before we listen or load anything.
  await checkModelHeader(options.model);

  const state = new EngineState(options, options.alias ?? path.basename(options.model));
  const server = createApp(state).listen(options.port, options.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  log(`listening on http://${options.host}:${port} (model ${options.model}, loading)`);

  let llama: Llama | undefined;
  const loadAbort = new AbortController();
  let stopping: Promise<void> | undefined;
  const stop = (why: string): Promise<void> => {
    stopping ??= (async () => {
      log(`stopping (${why})`);
      state.phase = 'stopping';
      loadAbort.abort(new Error(`stopped while loading (${why})`));
      state.stopping.abort(shuttingDown());
      state.runtime?.pool.close(shuttingDown());
      setTimeout(() => {
        log(`stop took longer than ${STOP_DEADLINE_MS} ms; exiting anyway`);
        process.exit(process.exitCode ?? 0);
      }, STOP_DEADLINE_MS).unref();
      await closeServer(server);
      await state.runtime?.dispose().catch((err: unknown) => log(`dispose failed: ${String(err)}`));
      await llama?.dispose().catch(() => undefined);
      // stdin (watched) and llama.cpp's threads would keep the process alive: leave explicitly.
      process.exit(process.exitCode ?? 0);
    })();
    return stopping;
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  watchStdin(() => void stop('stdin closed'));

  const started = performance.now();
  try {
    llama = await openLlama({ threads: options.threads, gpu: options.gpuLayers !== 0 });
    state.llama = llama;
    const runtime = await ModelRuntime.load(llama, options, loadAbort.signal);
    if (stopping) {
      await runtime.dispose();
      return;
    }
    state.runtime = runtime;
    state.phase = 'ready';
  } catch (err) {
    if (stopping) return; // a stop during load is not a failure
    log(`failed to load model ${options.model}: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
    await stop('load failed');
    return;
  }
  const rt = state.runtime!;
  log(
    `model ready in ${Math.round(performance.now() - started)} ms: ${state.modelId}, ctx ${rt.ctxSize} x ${rt.pool.size} slot(s), ` +
      `${options.threads} thread(s), ${llama.gpu === false ? 'CPU' : llama.gpu}, template ${rt.chatTemplateName}`,
  );
}

/**
 * The router spawns us with stdin a pipe and closes it when it goes away (even on SIGKILL), so EOF on stdin
 * means "your parent is gone". Watched only when stdin is a pipe or socket (Node's spawn makes socketpairs):
 * by hand in a terminal, or with </dev/null, stdin EOF means nothing.
 */
function watchStdin(onEnd: () => void): void {
  let stat: fs.Stats;
  try {
    stat = fs.fstatSync(0);
  } catch {
    return;
  }
  if (!stat.isFIFO() && !stat.isSocket()) return;
  process.stdin.on('data', () => undefined); // drain; we expect no input
  process.stdin.once('end', onEnd);
  process.stdin.once('error', onEnd);
  process.stdin.resume();
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Idle keep-alive sockets would hold close() open; busy ones have had their generation aborted.
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 500).unref();
  });
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`router-engine: ${message}\n`);
  process.exit(1);
});
