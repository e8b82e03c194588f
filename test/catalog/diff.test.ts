import { buildCatalog, diffCatalogs, parsePresetFile, validateCatalog, type Discovery } from '../../src/catalog/index.js';

const discovery: Discovery = {
  models: ['a', 'b', 'c'].map((n) => ({ name: n, modelPath: `/m/${n}.gguf`, source: `/m/${n}.gguf` })),
  conflicts: [],
};
const statPath = () => 'file' as const;

function catalog(ini: string, file = '/p.ini', models = discovery) {
  return buildCatalog(validateCatalog({ discovery: models, preset: parsePresetFile(ini, file), statPath }));
}

describe('diffCatalogs', () => {
  it('sorts models into added, removed, changed and unchanged', () => {
    const before = catalog('[a]\nc = 1\n[b]\nttl = 5\n');
    const after = catalog('[a]\nc = 2\n[b]\nttl = 5\n[new]\nmodel = /w/new.gguf\n', '/p.ini', {
      models: discovery.models.filter((m) => m.name !== 'c'),
      conflicts: [],
    });
    expect(diffCatalogs(before, after)).toEqual({ added: ['new'], removed: ['c'], changed: ['a'], unchanged: ['b'] });
  });

  it('compares deeply: env, memory, aliases, routes all count', () => {
    const base = catalog('[a]\nenv.X = 1\nmemory = CPU:1G\nalias = p\n');
    expect(diffCatalogs(base, catalog('[a]\nenv.X = 1\nmemory = CPU:1G\nalias = p\n')).changed).toEqual([]);
    expect(diffCatalogs(base, catalog('[a]\nenv.X = 2\nmemory = CPU:1G\nalias = p\n')).changed).toEqual(['a']);
    expect(diffCatalogs(base, catalog('[a]\nenv.X = 1\nmemory = CPU:2G\nalias = p\n')).changed).toEqual(['a']);
    expect(diffCatalogs(base, catalog('[a]\nenv.X = 1\nmemory = CPU:1G\nalias = q\n')).changed).toEqual(['a']);
  });

  it('where a model is defined (source) is not a change', () => {
    const one = catalog('[a]\nc = 1\n', '/one.ini');
    const two = catalog('\n\n[a]\nc = 1\n', '/two.ini');
    expect(diffCatalogs(one, two)).toEqual({ added: [], removed: [], changed: [], unchanged: ['a', 'b', 'c'] });
  });

  it('a model that became invalid is removed from the valid set', () => {
    const before = catalog('[a]\nc = 1\n');
    const after = catalog('[a]\nc = x\n');
    expect(diffCatalogs(before, after).removed).toEqual(['a']);
    expect(after.invalid.map((i) => i.name)).toEqual(['a']);
  });
});
