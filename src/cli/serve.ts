/** `router` itself: load the catalogue, start the router and its HTTP server, stop cleanly. */
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { assertValid } from '../catalog/index.js';
import { readCatalog, reloader, watchCatalog, type CatalogSource } from './reload.js';
import { createApp } from '../http/app.js';
import { createRouterServer } from '../http/server.js';
import { isLoopbackAddress } from '../http/host-guard.js';
import { Router } from '../router/router.js';
import { createLogger } from './logger.js';
import { chooseServerBin } from './server-bin.js';
import type { ServeConfig } from './serve-options.js';
import { makeDemoModels } from './demo.js';
import { memoryHooks } from './memory-hooks.js';

const MiB = 2 ** 20;

export function defaultStateDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'model-router');
}

export async function serve(config: ServeConfig): Promise<void> {
  const logger = createLogger(config.logFormat, config.logLevel);
  if (config.demo) {
    config.modelsDir ??= 'demo-models';
    await mkdir(config.modelsDir, { recursive: true });
    const has = (await readdir(config.modelsDir)).some((f) => f.endsWith('.gguf'));
    if (!has) {
      logger.info({ dir: config.modelsDir }, 'making demo models (first start)');
      await makeDemoModels(config.modelsDir);
    }
  }
  if (!config.modelsDir && !config.modelsPreset) {
    throw new UsageError('give --models-dir DIR and/or --models-preset PATH');
  }
  const source: CatalogSource = {
    modelsDir: config.modelsDir,
    modelsPreset: config.modelsPreset,
    // llama-server's --metrics also turns on each child's /metrics (reached as /metrics?model=).
    childArgs: config.metrics && !config.childArgs.includes('--metrics') ? [...config.childArgs, '--metrics'] : config.childArgs,
    adjust: (m) =>
      m.concurrency === undefined && config.modelsConcurrency !== undefined ? { ...m, concurrency: config.modelsConcurrency } : m,
  };
  const catalog = await readCatalog(source);
  // A bad section marks only its model (listed failed with the reason, as a reload does);
  // --strict-presets keeps the old refusal to start.
  if (config.strictPresets) assertValid(catalog);
  for (const i of catalog.invalid) logger.error({ model: i.name }, `model '${i.name}' is not served: ${i.error.message}`);
  const models = catalog.models.map(source.adjust);
  // llama-server's [*] models-max / models-autoload configure the router; the command line wins.
  const explicit = config.explicit ?? new Set<string>();
  const modelsMax = explicit.has('modelsMax') ? config.modelsMax : (catalog.router.modelsMax ?? config.modelsMax);
  const autoload = config.modelsAutoload ?? catalog.router.modelsAutoload ?? true;
  const apiKeys = await apiKeysOf(config);

  const server = chooseServerBin(config.serverBin);
  const bundled = server.prefix.length > 0;
  const memory = memoryHooks({
    stateDir: config.stateDir ?? defaultStateDir(),
    server,
    bundled,
    logger,
    fitParamsBin: config.fitParamsBin,
    marginBytes: config.modelsMemoryMargin > 0 ? config.modelsMemoryMargin * MiB : null,
    deviceCacheMs: msOf(config.deviceCache),
  });
  const router = new Router({
    models,
    server,
    memory: memory.hooks,
    invalid: catalog.invalid.map((i) => ({ name: i.name, error: i.error.message })),
    loadTimeoutMs: config.loadTimeout * 1000,
    stopTimeoutMs: config.stopTimeout * 1000,
    logger,
    ...defined({ tickMs: msOf(config.tick) }),
    scheduler: {
      modelsMax,
      queueMax: config.queueMax,
      queueTimeoutMs: config.queueTimeout * 1000,
      autoload,
      marginBytes: config.modelsMemoryMargin > 0 ? config.modelsMemoryMargin * MiB : null,
      caps: config.modelsMemoryMax ?? {},
      serial: config.serial,
      drainAfterMs: config.drainWindow * 1000,
      ttlMs: config.modelsTtl === undefined ? undefined : config.modelsTtl * 1000,
      ...defined({ readingMaxAgeMs: msOf(config.deviceReadingMaxAge), recoverMs: msOf(config.memoryRecover) }),
    },
  });
  const reload = reloader(router, source, logger, catalog.router);
  const { handler, proxy, lane } = createApp(router, {
    apiKey: apiKeys,
    listenHost: config.host,
    allowedHosts: config.allowedHosts,
    corsOrigins: config.corsOrigin,
    maxBodyBytes: config.maxBody,
    reload,
    upstreamTimeoutMs: config.upstreamTimeout * 1000,
    sendTimeoutMs: config.sendTimeout * 1000,
    props: { modelsMax, autoload },
  });
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reloading the catalogue');
    void reload().catch(() => undefined);
  });
  const unwatch = config.watch ? watchCatalog(source, reload, logger) : () => {};
  const httpServer = createRouterServer(handler, lane);

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  router.start();
  const addr = httpServer.address() as { port: number };
  const url = `http://${config.host}:${addr.port}`;
  logger.info({ url, models: models.map((m) => m.name) }, `router listening on ${url} with ${models.length} models`);
  if (!isLoopbackAddress(config.host) && !apiKeys) {
    logger.warn({ host: config.host }, `listening on ${config.host} without --api-key: anyone who can reach this address can load models and run prompts`);
  }
  if (config.corsOrigin?.includes('*') && !apiKeys) {
    logger.warn('--cors-origin * without --api-key: every web page the user opens can use the router and read its answers');
  }
  if (config.demo) printDemoHelp(url, models.find((m) => m.name === 'tiny-chat')?.name ?? models[0]?.name ?? 'MODEL', apiKeys?.[0]);

  installSignals(logger, async (graceMs) => {
    unwatch();
    httpServer.close();
    await router.shutdown(graceMs);
    httpServer.closeAllConnections();
    proxy.close();
  }, () => router.childPids(), config.shutdownGrace * 1000);
}

function installSignals(logger: Logger, stop: (graceMs: number) => Promise<void>, pids: () => number[], graceMs: number): void {
  let stopping = false;
  const killNow = () => {
    for (const pid of pids()) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal: sig }, 'second signal: stopping children now and exiting');
      killNow();
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal: sig, graceMs }, 'shutting down: finishing in-flight requests');
    stop(graceMs)
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((err: Error) => {
        logger.error({ err: err.message }, 'shutdown failed');
        killNow();
        process.exit(1);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Last resort on any exit path: no child outlives us (setpriv covers SIGKILL of the router).
  process.on('exit', killNow);
}

function printDemoHelp(url: string, model: string, key?: string): void {
  const auth = key ? ` -H "Authorization: Bearer ${key}"` : '';
  process.stdout.write(
    [
      '',
      `The router is up on ${url}. Try:`,
      `  curl -s ${url}/v1/models${auth}`,
      `  curl -s ${url}/v1/chat/completions${auth} -H 'Content-Type: application/json' \\`,
      `    -d '{"model":"${model}","messages":[{"role":"user","content":"Hello"}],"max_tokens":32}'`,
      '',
      'or with the openai client:',
      `  import OpenAI from 'openai';`,
      `  const client = new OpenAI({ baseURL: '${url}/v1', apiKey: '${key ?? 'none'}' });`,
      `  const r = await client.chat.completions.create({ model: '${model}', messages: [{ role: 'user', content: 'Hello' }] });`,
      '',
      'Ctrl-C stops the router and every model it started.',
      '',
    ].join('\n'),
  );
}

/** --api-key and llama-server's --api-key-file (one key per line; blank lines and # comments skipped). */
async function apiKeysOf(config: ServeConfig): Promise<string[] | undefined> {
  const keys = config.apiKey ? [config.apiKey] : [];
  if (config.apiKeyFile) {
    let text: string;
    try {
      text = await readFile(config.apiKeyFile, 'utf8');
    } catch (err) {
      throw new UsageError(`--api-key-file: cannot read ${config.apiKeyFile}: ${(err as Error).message}`);
    }
    const fromFile = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    if (fromFile.length === 0) throw new UsageError(`--api-key-file: ${config.apiKeyFile} holds no key`);
    keys.push(...fromFile);
  }
  return keys.length > 0 ? keys : undefined;
}

/** Seconds from a flag to ms; undefined stays undefined (the component's default). */
function msOf(s: number | undefined): number | undefined {
  return s === undefined ? undefined : s * 1000;
}

/** Only the keys given: an unset hidden timing flag leaves the component's default alone. */
function defined<T extends Record<string, number | undefined>>(o: T): Partial<{ [K in keyof T]: number }> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<{ [K in keyof T]: number }>;
}

export class UsageError extends Error {}
