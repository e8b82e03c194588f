/**
 * The shipped presets/*.ini parse and validate: each is copied into a temp folder, with an empty GGUF in a
 * models-dir for every section that refines a models-dir model, and an empty file (or folder) at every
 * relative `model =` path.
 */
import { copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadCatalog } from '../../src/catalog/index.js';
import { parseIni } from '../../src/catalog/ini.js';
import { useTempDirs } from './helpers.js';

const tmp = useTempDirs();
const presetsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../presets');

async function loadExample(file: string) {
  const t = tmp().write({ 'models/': 0 });
  const text = readFileSync(path.join(presetsDir, file), 'utf8');
  copyFileSync(path.join(presetsDir, file), t.path(file));
  for (const section of parseIni(text, file).sections) {
    if (section.name === '*') continue;
    const keys = new Map(section.entries.map((e) => [e.key, e.value]));
    const model = keys.get('model');
    if (model) t.write({ [model.endsWith('.gguf') ? model : `${model}/config.json`]: model.endsWith('.gguf') ? 0 : '{}' });
    else if (!keys.has('cmd') && !keys.has('url')) t.write({ [`models/${section.name}.gguf`]: 0 });
  }
  return loadCatalog({ modelsDir: t.path('models'), presetPath: t.path(file) });
}

describe('shipped example presets', () => {
  it('llama-server.ini', async () => {
    const catalog = await loadExample('llama-server.ini');
    expect(catalog.invalid).toEqual([]);
    expect(catalog.models.map((m) => m.name)).toEqual(['gemma-3-4b-it', 'my-finetune', 'qwen2.5-7b-instruct']);
    const qwen = catalog.resolve('chat')!;
    expect(qwen.args).toEqual([
      '--ctx-size', '32768', '--n-gpu-layers', 'all', '--flash-attn', 'auto', '--jinja',
      '--parallel', '2', '--cache-type-k', 'q8_0', '--cache-type-v', 'q8_0',
    ]);
    expect(qwen).toMatchObject({ ttlS: 900, stopTimeoutS: 15, loadOnStartup: true, priority: 10, pin: true });
    expect(catalog.resolve('my-finetune')).toMatchObject({ ctxAuto: { min: 4096, max: 65536 }, gpuLock: true });
    expect(catalog.resolve('my-finetune')!.args).not.toContain('--ctx-size');
  });

  it('bundled-engine.ini', async () => {
    const catalog = await loadExample('bundled-engine.ini');
    expect(catalog.invalid).toEqual([]);
    expect(catalog.resolve('tiny')!.args).toEqual(['--threads', '2', '--ctx-size', '2048', '--n-gpu-layers', '0', '--parallel', '2']);
    expect(catalog.resolve('small-chat')!.args).toEqual(['--threads', '2', '--ctx-size', '4096', '--n-gpu-layers', '0']);
  });

  it('vllm.ini', async () => {
    const catalog = await loadExample('vllm.ini');
    expect(catalog.invalid).toEqual([]);
    expect(catalog.resolve('qwen-small')).toMatchObject({
      name: 'Qwen/Qwen2.5-1.5B-Instruct',
      cmd: 'vllm serve ${MODEL} --host ${HOST} --port ${PORT} --api-key ${API_KEY} --gpu-memory-utilization 0.45',
      healthPath: '/health',
      env: { VLLM_LOGGING_LEVEL: 'WARNING' },
      args: [],
      stopTimeoutS: 30,
    });
    expect(catalog.resolve('local-llama')!.modelPath).toMatch(/models\/Llama-3\.2-1B-Instruct$/);
    expect(catalog.resolve('remote-qwen-32b')).toMatchObject({
      url: 'http://10.0.0.7:8000',
      loadRoute: { method: 'POST', path: '/wake_up' },
      unloadRoute: { method: 'POST', path: '/sleep?level=1' },
    });
  });

  it('external.ini', async () => {
    const catalog = await loadExample('external.ini');
    expect(catalog.invalid).toEqual([]);
    expect(catalog.resolve('chat')).toMatchObject({
      name: 'qwen-7b',
      url: 'http://127.0.0.1:8081',
      loadRoute: { method: 'POST', path: '/models/load', body: '{"model": "qwen-7b"}' },
      unloadRoute: { method: 'POST', path: '/models/unload', body: '{"model": "qwen-7b"}' },
      healthPath: '/health',
      memory: { CPU: 6 * 2 ** 30 },
      env: { API_KEY: 'the-engines-key' },
      args: [],
    });
    expect(catalog.resolve('sdxl')).toMatchObject({
      url: 'http://127.0.0.1:8188',
      healthPath: '/system_stats',
      unloadRoute: { method: 'POST', path: '/free', body: '{"unload_models": true, "free_memory": true}' },
      memory: { CUDA0: 9 * 2 ** 30 },
      exclusiveGroup: 'gpu0',
      ttlS: 600,
    });
    expect(catalog.resolve('sdxl')!.loadRoute).toBeUndefined();
  });
});
