import { symlinkSync } from 'node:fs';

import { discoverModelsDir } from '../../src/catalog/discover.js';
import { CatalogError } from '../../src/catalog/model-spec.js';
import { useTempDirs } from './helpers.js';

const tmp = useTempDirs();

describe('models-dir discovery', () => {
  it('a top-level NAME.gguf is model NAME; top-level mmproj files are not models', async () => {
    const t = tmp().write({ 'b-model.gguf': 0, 'a-model.gguf': 0, 'mmproj-F16.gguf': 0, 'vision-mmproj.gguf': 0 });
    const { models } = await discoverModelsDir(t.root);
    expect(models).toEqual([
      { name: 'a-model', modelPath: t.path('a-model.gguf'), source: t.path('a-model.gguf') },
      { name: 'b-model', modelPath: t.path('b-model.gguf'), source: t.path('b-model.gguf') },
    ]);
  });

  it('skips hidden files, hidden folders and non-GGUF files', async () => {
    const t = tmp().write({ '.hidden.gguf': 0, '.cache/x.gguf': 0, 'notes.txt': 'x', 'weights.bin': 0, 'ok.gguf': 0 });
    const { models } = await discoverModelsDir(t.root);
    expect(models.map((m) => m.name)).toEqual(['ok']);
  });

  it('a subfolder is a model, with its mmproj file as projector', async () => {
    const t = tmp().write({ 'gemma/gemma-3-4b-it-Q8_0.gguf': 10, 'gemma/mmproj-F16.gguf': 50, 'gemma/README.md': 'x' });
    const { models } = await discoverModelsDir(t.root);
    expect(models).toEqual([
      {
        name: 'gemma',
        modelPath: t.path('gemma/gemma-3-4b-it-Q8_0.gguf'),
        mmprojPath: t.path('gemma/mmproj-F16.gguf'),
        source: t.path('gemma'),
      },
    ]);
  });

  it('a split model starts from its first shard, wherever the listing puts it', async () => {
    const t = tmp().write({
      'kimi/Kimi-K2-00003-of-00003.gguf': 30,
      'kimi/Kimi-K2-00002-of-00003.gguf': 30,
      'kimi/Kimi-K2-00001-of-00003.gguf': 10,
    });
    const { models } = await discoverModelsDir(t.root);
    expect(models[0]!.modelPath).toBe(t.path('kimi/Kimi-K2-00001-of-00003.gguf'));
  });

  it('of two split sets, the larger one', async () => {
    const t = tmp().write({
      'm/m-Q4-00001-of-00002.gguf': 10,
      'm/m-Q4-00002-of-00002.gguf': 10,
      'm/m-Q8-00001-of-00002.gguf': 5,
      'm/m-Q8-00002-of-00002.gguf': 30,
    });
    const { models } = await discoverModelsDir(t.root);
    expect(models[0]!.modelPath).toBe(t.path('m/m-Q8-00001-of-00002.gguf'));
  });

  it('of several GGUFs in a folder, the largest (not the last listed)', async () => {
    const t = tmp().write({ 'm/a-draft.gguf': 10, 'm/b-main.gguf': 300, 'm/c-small.gguf': 20, 'm/mmproj.gguf': 999 });
    const { models } = await discoverModelsDir(t.root);
    expect(models[0]!.modelPath).toBe(t.path('m/b-main.gguf'));
    expect(models[0]!.mmprojPath).toBe(t.path('m/mmproj.gguf'));
  });

  it('a file named like its folder wins over size (llama.cpp #28337)', async () => {
    const t = tmp().write({ 'Laguna/Laguna.gguf': 10, 'Laguna/laguna-DFlash-BF16.gguf': 300 });
    const { models } = await discoverModelsDir(t.root);
    expect(models[0]!.modelPath).toBe(t.path('Laguna/Laguna.gguf'));
  });

  it('ties in size go to the first name', async () => {
    const t = tmp().write({ 'm/b.gguf': 5, 'm/a.gguf': 5 });
    const { models } = await discoverModelsDir(t.root);
    expect(models[0]!.modelPath).toBe(t.path('m/a.gguf'));
  });

  it('a folder without a model GGUF is not a model; nested folders are not searched', async () => {
    const t = tmp().write({ 'only-proj/mmproj-F16.gguf': 1, 'empty/': 0, 'deep/sub/x.gguf': 1, 'partial/p-00002-of-00002.gguf': 1 });
    const { models } = await discoverModelsDir(t.root);
    expect(models).toEqual([]);
  });

  it('of a top-level split model only the first shard is listed', async () => {
    const t = tmp().write({ 'big-00001-of-00002.gguf': 1, 'big-00002-of-00002.gguf': 1 });
    const { models } = await discoverModelsDir(t.root);
    expect(models.map((m) => m.name)).toEqual(['big-00001-of-00002']);
  });

  it('follows symlinks to files and folders', async () => {
    const t = tmp().write({ 'store/real.gguf': 1, 'store/vision/v.gguf': 1, 'models/': 0 });
    symlinkSync(t.path('store/real.gguf'), t.path('models/linked.gguf'));
    symlinkSync(t.path('store/vision'), t.path('models/vision'));
    symlinkSync(t.path('store/missing.gguf'), t.path('models/dangling.gguf'));
    const { models } = await discoverModelsDir(t.path('models'));
    expect(models.map((m) => [m.name, m.modelPath])).toEqual([
      ['linked', t.path('models/linked.gguf')],
      ['vision', t.path('models/vision/v.gguf')],
    ]);
  });

  it('sorts by name', async () => {
    const t = tmp().write({ 'zeta.gguf': 0, 'Alpha.gguf': 0, 'mid/m.gguf': 0 });
    const { models } = await discoverModelsDir(t.root);
    expect(models.map((m) => m.name)).toEqual(['Alpha', 'mid', 'zeta']);
  });

  it('a name claimed by a file and a folder is a conflict, not a guess', async () => {
    const t = tmp().write({ 'dup.gguf': 0, 'dup/x.gguf': 0, 'fine.gguf': 0 });
    const { models, conflicts } = await discoverModelsDir(t.root);
    expect(models.map((m) => m.name)).toEqual(['fine']);
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]!.name).toBe('dup');
    expect(conflicts[0]!.error.message).toMatch(/model dup is defined twice in models-dir: dup and dup.gguf/);
  });

  it('a missing models-dir is a CatalogError naming it', async () => {
    const t = tmp();
    await expect(discoverModelsDir(t.path('nope'))).rejects.toThrow(CatalogError);
    await expect(discoverModelsDir(t.path('nope'))).rejects.toThrow(t.path('nope'));
  });
});
