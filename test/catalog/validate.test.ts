import { CatalogError, parsePresetFile, validateCatalog, type Discovery } from '../../src/catalog/index.js';

/** validateCatalog works from parsed sources alone; a fake statPath stands in for the disk. */
describe('validateCatalog, model by model', () => {
  const discovery: Discovery = {
    models: [
      { name: 'a', modelPath: '/m/a.gguf', source: '/m/a.gguf' },
      { name: 'b', modelPath: '/m/b.gguf', source: '/m/b.gguf' },
    ],
    conflicts: [],
  };
  const statPath = (p: string) => (p.endsWith('.gguf') ? ('file' as const) : undefined);

  it('returns a spec or an error for each model, sorted by name', () => {
    const preset = parsePresetFile('[b]\nttl = never\n[c]\nmodel = /w/c.gguf\nc = 8\n', '/p/presets.ini');
    const results = validateCatalog({ discovery, preset, statPath });
    expect(results.map((r) => [r.name, r.spec ? 'ok' : r.error.key])).toEqual([
      ['a', 'ok'],
      ['b', 'ttl'],
      ['c', 'ok'],
    ]);
    expect(results[2]!.spec).toMatchObject({ modelPath: '/w/c.gguf', args: ['--ctx-size', '8'] });
  });

  it('a reload that breaks one model leaves the others\' specs as they were', () => {
    const before = validateCatalog({ discovery, preset: parsePresetFile('[a]\nc = 1\n[b]\nc = 2\n', '/p.ini'), statPath });
    const after = validateCatalog({ discovery, preset: parsePresetFile('[a]\nc = 1\n[b]\nc = x\n', '/p.ini'), statPath });
    expect(after[0]).toEqual(before[0]);
    expect(after[1]!.error?.message).toBe('/p.ini [b] c: "x" is not an integer (line 4)');
  });

  it('models-dir name conflicts come out as that model\'s error', () => {
    const withConflict: Discovery = {
      models: discovery.models,
      conflicts: [{ name: 'dup', error: new CatalogError('model dup is defined twice in models-dir', '/m', 'dup') }],
    };
    const results = validateCatalog({ discovery: withConflict, statPath });
    expect(results.map((r) => r.name)).toEqual(['a', 'b', 'dup']);
    expect(results[2]!.error?.message).toBe('/m [dup]: model dup is defined twice in models-dir');
  });
});
