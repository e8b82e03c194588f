import { loadCatalog } from '../../src/catalog/index.js';
import { CatalogError } from '../../src/catalog/model-spec.js';
import { useTempDirs } from './helpers.js';

const tmp = useTempDirs();

describe('a folder given to --models-preset', () => {
  it('NAME.ini is model NAME (keys at top level); default.ini is [*]', async () => {
    const t = tmp().write({
      'models/a.gguf': 0,
      'presets/default.ini': '; for every model\nc = 2048\nttl = 300\n',
      'presets/a.ini': 'ngl = 99\nalias = first\n',
      'presets/custom.ini': 'version = 1\nmodel = ../weights/c.gguf\nttl = 10\n',
      'presets/.hidden.ini': 'this is ignored',
      'presets/notes.txt': 'ignored too',
      'weights/c.gguf': 0,
    });
    const catalog = await loadCatalog({ modelsDir: t.path('models'), presetPath: t.path('presets') });
    expect(catalog.invalid).toEqual([]);
    expect(catalog.models.map((m) => [m.name, m.args, m.ttlS])).toEqual([
      ['a', ['--ctx-size', '2048', '--n-gpu-layers', '99'], 300],
      ['custom', ['--ctx-size', '2048'], 10],
    ]);
    expect(catalog.resolve('first')!.name).toBe('a');
    // Relative paths are relative to the folder holding the file.
    expect(catalog.resolve('custom')!.modelPath).toBe(t.path('weights/c.gguf'));
    expect(catalog.resolve('custom')!.source).toEqual({ file: t.path('presets/custom.ini'), section: 'custom' });
  });

  it('a file named *.ini also holds [*]; both that and default.ini is an error', async () => {
    const t = tmp().write({ 'models/a.gguf': 0, 'presets/*.ini': 'c = 64\n' });
    const catalog = await loadCatalog({ modelsDir: t.path('models'), presetPath: t.path('presets') });
    expect(catalog.models[0]!.args).toEqual(['--ctx-size', '64']);

    t.write({ 'presets/default.ini': 'c = 32\n' });
    await expect(loadCatalog({ modelsDir: t.path('models'), presetPath: t.path('presets') })).rejects.toThrow(
      /both default\.ini and \*\.ini/,
    );
  });

  it('a broken NAME.ini makes only model NAME invalid', async () => {
    const t = tmp().write({
      'models/a.gguf': 0,
      'models/b.gguf': 0,
      'presets/a.ini': 'this line is not ini\n',
      'presets/b.ini': 'ngl = 1\n',
    });
    const catalog = await loadCatalog({ modelsDir: t.path('models'), presetPath: t.path('presets') });
    expect(catalog.models.map((m) => m.name)).toEqual(['b']);
    const e = catalog.invalid[0]!;
    expect(e.name).toBe('a');
    expect(e.error.file).toBe(t.path('presets/a.ini'));
    expect(e.error.message).toMatch(/a\.ini: line 1: expected "key = value"/);
  });

  it('a bad key in NAME.ini names that file, the model and the key', async () => {
    const t = tmp().write({ 'models/a.gguf': 0, 'presets/a.ini': 'ttl = -3\n' });
    const catalog = await loadCatalog({ modelsDir: t.path('models'), presetPath: t.path('presets') });
    const e = catalog.invalid[0]!.error;
    expect([e.file, e.section, e.key]).toEqual([t.path('presets/a.ini'), 'a', 'ttl']);
  });

  it('sections inside a per-model file are refused (the file name is the model)', async () => {
    const t = tmp().write({ 'models/a.gguf': 0, 'presets/a.ini': '[a]\nc = 1\n' });
    const catalog = await loadCatalog({ modelsDir: t.path('models'), presetPath: t.path('presets') });
    expect(catalog.invalid[0]!.error.message).toMatch(/a per-model file holds its keys at top level/);
  });

  it('a broken default.ini fails the whole catalogue', async () => {
    const t = tmp().write({ 'models/a.gguf': 0, 'presets/default.ini': 'junk\n' });
    await expect(loadCatalog({ modelsDir: t.path('models'), presetPath: t.path('presets') })).rejects.toThrow(CatalogError);
  });
});
