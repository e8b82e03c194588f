import { assertValid, loadCatalog, type Catalog } from '../../src/catalog/index.js';
import { CatalogError } from '../../src/catalog/model-spec.js';
import { catalogFrom, useTempDirs } from './helpers.js';

const tmp = useTempDirs();

/** The catalogue of `ini` over a models folder holding `models` (default: a), with `childArgs` after `--`. */
const catalogOf = (ini: string, models: string[] = ['a'], childArgs?: string[]) => catalogFrom(tmp(), ini, { models, childArgs, presetName: 'p.ini' });

function errorOf(catalog: Catalog, name: string): CatalogError {
  const e = catalog.invalid.find((i) => i.name === name);
  if (!e) throw new Error(`model ${name} is not invalid (valid: ${catalog.models.map((m) => m.name).join(', ')})`);
  return e.error;
}

async function rejection(p: Promise<unknown>): Promise<CatalogError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CatalogError) return err;
    throw err;
  }
  throw new Error('expected a CatalogError');
}

/** One bad key in section [a]: the error names the file, [a] and the key, and the message says why. */
async function expectKeyError(ini: string, key: string, why: RegExp, models: string[] = ['a']) {
  const { file, catalog } = await catalogOf(ini, models);
  const e = errorOf(catalog, 'a');
  expect({ file: e.file, section: e.section, key: e.key }).toEqual({ file, section: 'a', key });
  expect(e.message.startsWith(`${file} [a] ${key}: `)).toBe(true);
  expect(e.message).toMatch(why);
  return e;
}

describe('errors name file, section and key', () => {
  it('unknown key', async () => {
    const e = await expectKeyError('[a]\nctx-sise = 10\n', 'ctx-sise', /unknown key/);
    expect(e.message).toMatch(/\(line 2\)$/);
  });

  it('non-numeric and negative ctx-size', async () => {
    await expectKeyError('[a]\nctx-size = lots\n', 'ctx-size', /"lots" is not an integer/);
    await expectKeyError('[a]\nc = -5\n', 'c', /must not be negative/);
    await expectKeyError('[a]\nLLAMA_ARG_CTX_SIZE = 1.5\n', 'LLAMA_ARG_CTX_SIZE', /not an integer/);
  });

  it('non-numeric numeric option, missing value, bad boolean flag', async () => {
    await expectKeyError('[a]\ntemp = hot\n', 'temp', /"hot" is not a number/);
    await expectKeyError('[a]\nngl = many\n', 'ngl', /"many" is not a number/);
    await expectKeyError('[a]\nchat-template =\n', 'chat-template', /needs a value/);
    await expectKeyError('[a]\njinja = sure\n', 'jinja', /"sure" is not a boolean/);
    await expectKeyError('[a]\ncontrol-vector-layer-range = 3\n', 'control-vector-layer-range', /two values/);
  });

  it('negative ttl, bad stop-timeout, priority, concurrency', async () => {
    await expectKeyError('[a]\nttl = -1\n', 'ttl', /must not be negative/);
    await expectKeyError('[a]\nstop-timeout = soon\n', 'stop-timeout', /not a number of seconds/);
    await expectKeyError('[a]\npriority = 1.5\n', 'priority', /not an integer/);
    await expectKeyError('[a]\nconcurrency = 0\n', 'concurrency', /positive integer/);
  });

  it('bad booleans in router keys', async () => {
    await expectKeyError('[a]\npin = perhaps\n', 'pin', /not a boolean/);
    await expectKeyError('[a]\nload-on-startup = 2\n', 'load-on-startup', /not a boolean/);
    await expectKeyError('[a]\ngpu-lock = \n', 'gpu-lock', /not a boolean/);
  });

  it('bad size in memory', async () => {
    await expectKeyError('[a]\nmemory = CUDA0:eight\n', 'memory', /"eight" is not a size/);
    await expectKeyError('[a]\nmemory = 8GiB\n', 'memory', /not DEVICE:SIZE/);
  });

  it('health-path without /, bad url, bad load route, bad env name, empty probe', async () => {
    await expectKeyError('[a]\nhealth-path = health\n', 'health-path', /must start with \//);
    await expectKeyError('[a]\nurl = gpu-box:8000\n', 'url', /must be an http:\/\/ or https:\/\/ URL/);
    await expectKeyError('[a]\nurl = http://h:1\nload = LOAD /x\n', 'load', /METHOD PATH/);
    await expectKeyError('[a]\nenv.1BAD = x\n', 'env.1BAD', /not an environment variable name/);
    await expectKeyError('[a]\nprobe =\n', 'probe', /needs a command/);
  });

  it('cmd without ${PORT}', async () => {
    await expectKeyError('[a]\ncmd = vllm serve x --port 8000\n', 'cmd', /must contain \$\{PORT\}/);
  });

  it('both cmd and url', async () => {
    await expectKeyError('[a]\ncmd = x --port ${PORT}\nurl = http://h:1\n', 'url', /either started .* or external \(url\): not both/);
  });

  it('missing model file: a section with neither model file nor cmd nor url', async () => {
    const { file, catalog } = await catalogOf('[ghost]\nctx-size = 4096\n', []);
    const e = errorOf(catalog, 'ghost');
    expect({ file: e.file, section: e.section, key: e.key }).toEqual({ file, section: 'ghost', key: 'model' });
    expect(e.message).toBe(`${file} [ghost] model: model ghost has no model file: set model = /path/to/file.gguf, or cmd, or url`);
  });

  it('missing model file: model = names a file that is not there', async () => {
    const e = await expectKeyError('[a]\nmodel = nowhere/x.gguf\n', 'model', /model file not found: .*nowhere\/x\.gguf/);
    expect(e.message).toMatch(/\(line 2\)$/);
    await expectKeyError('[a]\nmodel = .\n', 'model', /is a folder, not a model file/);
    await expectKeyError('[a]\nmmproj = none.gguf\n', 'mmproj', /projector file not found/);
  });

  it('hf-repo is not a model source for the router: says so', async () => {
    const { catalog } = await catalogOf('[hf]\nhf = ggml-org/gemma-3-4b-it-GGUF\n', []);
    expect(errorOf(catalog, 'hf').message).toMatch(/--hf-repo downloads are not fetched by the router/);
  });

  it('llama-server options in a cmd or url model\'s own section would be dead: refused', async () => {
    await expectKeyError('[a]\ncmd = x --port ${PORT}\nctx-size = 4096\n', 'ctx-size', /no effect on a cmd model/);
    await expectKeyError('[a]\nurl = http://h:1\njinja = true\n', 'jinja', /no effect on a url model/);
  });

  it('ctx-min/ctx-max without ctx-size = auto, or min above max', async () => {
    await expectKeyError('[a]\nctx-min = 1024\n', 'ctx-min', /only applies with ctx-size = auto/);
    await expectKeyError('[a]\nc = auto\nctx-min = 4096\nctx-max = 1024\n', 'ctx-max', /below ctx-min \(4096\)/);
    await expectKeyError('[a]\nc = auto\nctx-max = 0\n', 'ctx-max', /positive integer/);
  });

  it('options the router sets itself are refused', async () => {
    await expectKeyError('[a]\nport = 8080\n', 'port', /--port is chosen by the router/);
    await expectKeyError('[a]\nLLAMA_API_KEY = s3cret\n', 'LLAMA_API_KEY', /--api-key is chosen by the router/);
  });

  it('duplicate alias across models: the later model (by name) is invalid', async () => {
    const { file, catalog } = await catalogOf('[a]\nalias = shared\n[b]\nalias = shared\n', ['a', 'b']);
    expect(catalog.models.map((m) => m.name)).toEqual(['a']);
    const e = errorOf(catalog, 'b');
    expect({ file: e.file, section: e.section, key: e.key }).toEqual({ file, section: 'b', key: 'alias' });
    expect(e.message).toBe(`${file} [b] alias: alias "shared" is already an alias of model a`);
  });

  it('alias equal to another model\'s name', async () => {
    const { catalog } = await catalogOf('[b]\nalias = a\n', ['a', 'b']);
    expect(errorOf(catalog, 'b').message).toMatch(/\[b\] alias: alias "a" is the name of model a$/);
  });

  it('duplicate name: a section given twice fails the whole preset file', async () => {
    const e = await rejection(catalogOf('[a]\nc = 1\n[a]\nc = 2\n'));
    expect(e.message).toMatch(/p\.ini \[a\]: line 3: section defined twice$/);
  });

  it('keys outside any section (other than version) fail the file', async () => {
    const e = await rejection(catalogOf('c = 4096\n[a]\n'));
    expect(e.key).toBe('c');
    expect(e.message).toMatch(/p\.ini c: line 1: key outside any section; put it under \[\*\]/);
  });

  it('a bad key in [*] fails the whole catalogue, naming [*]', async () => {
    const e = await rejection(catalogOf('[*]\nctx-size = big\n'));
    expect(e.section).toBe('*');
    expect(e.message).toMatch(/p\.ini \[\*\] ctx-size: "big" is not an integer \(line 2\)$/);
  });

  it('per-model keys are refused in [*]', async () => {
    const e = await rejection(catalogOf('[*]\nalias = everyone\n'));
    expect(e.message).toMatch(/\[\*\] alias: is per model/);
    expect((await rejection(catalogOf('[*]\nmodel = x.gguf\n'))).key).toBe('model');
  });

  it('bad child args fail the catalogue, naming the flag', async () => {
    const e = await rejection(catalogOf('', ['a'], ['--ctx-size', 'big']));
    expect(e.key).toBe('--ctx-size');
    expect(e.message).toBe('--ctx-size: "big" is not an integer (router command line)');
    expect((await rejection(catalogOf('', ['a'], ['--frobnicate']))).message).toMatch(/--frobnicate: unknown llama-server option/);
    expect((await rejection(catalogOf('', ['a'], ['-c']))).message).toMatch(/-c: needs a value/);
    expect((await rejection(catalogOf('', ['a'], ['-m', 'x.gguf']))).message).toMatch(/-m: is set per model/);
    expect((await rejection(catalogOf('', ['a'], ['--port', '1']))).message).toMatch(/chosen by the router/);
    expect((await rejection(catalogOf('', ['a'], ['stray']))).message).toMatch(/stray: expected a llama-server option/);
  });

  it('a missing preset file or models-dir fails the catalogue, naming it', async () => {
    const t = tmp();
    const e = await rejection(loadCatalog({ presetPath: t.path('none.ini') }));
    expect(e.file).toBe(t.path('none.ini'));
    expect((await rejection(loadCatalog({ modelsDir: t.path('none') }))).file).toBe(t.path('none'));
  });

  it('one bad model does not spoil the others; assertValid throws the first error', async () => {
    const { catalog } = await catalogOf('[a]\nttl = -1\n[b]\nttl = 5\n[c]\nbogus = 1\n', ['a', 'b', 'c']);
    expect(catalog.models.map((m) => m.name)).toEqual(['b']);
    expect(catalog.invalid.map((i) => i.name)).toEqual(['a', 'c']);
    expect(catalog.resolve('a')).toBeUndefined();
    expect(() => assertValid(catalog)).toThrow(/\[a\] ttl: "-1" must not be negative/);
  });
});
