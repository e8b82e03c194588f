import { assertValid, loadCatalog, type Catalog } from '../../src/catalog/index.js';
import { catalogFrom, useTempDirs } from './helpers.js';

const tmp = useTempDirs();
const GiB = 2 ** 30;

/** A models-dir with the given GGUF names and a preset file beside it. */
const catalogOf = (ini: string, opts: Parameters<typeof catalogFrom>[2] = {}) => catalogFrom(tmp(), ini, opts);

function spec(catalog: Catalog, name: string) {
  const s = catalog.models.find((m) => m.name === name);
  if (!s) throw new Error(`no valid model ${name}; invalid: ${catalog.invalid.map((i) => i.error.message).join('; ')}`);
  return s;
}

describe('catalogue from models-dir alone', () => {
  it('gives each model defaults and no child args', async () => {
    const t = tmp().write({ 'models/a.gguf': 0, 'models/v/v.gguf': 0, 'models/v/mmproj-v.gguf': 0 });
    const catalog = await loadCatalog({ modelsDir: t.path('models') });
    expect(catalog.invalid).toEqual([]);
    expect(catalog.models).toEqual([
      {
        name: 'a',
        aliases: [],
        modelPath: t.path('models/a.gguf'),
        args: [],
        env: {},
        healthPath: '/health',
        loadOnStartup: false,
        priority: 0,
        pin: false,
        gpuLock: false,
        source: { file: t.path('models/a.gguf') },
      },
      expect.objectContaining({ name: 'v', modelPath: t.path('models/v/v.gguf'), mmprojPath: t.path('models/v/mmproj-v.gguf') }),
    ]);
  });

  it('an empty catalogue when given nothing', async () => {
    const catalog = await loadCatalog({});
    expect(catalog.models).toEqual([]);
    expect(() => assertValid(catalog)).not.toThrow();
  });
});

describe('INI presets', () => {
  it('[*] applies to every model; sections refine models-dir models', async () => {
    const { catalog } = await catalogOf('[*]\nc = 4096\n\n[a]\nngl = 99\n', { models: ['a', 'b'] });
    expect(spec(catalog, 'a').args).toEqual(['--ctx-size', '4096', '--n-gpu-layers', '99']);
    expect(spec(catalog, 'b').args).toEqual(['--ctx-size', '4096']);
    expect(spec(catalog, 'a').source).toEqual({ file: expect.stringMatching(/presets\.ini$/), section: 'a' });
  });

  it('takes long names, short names and LLAMA_ARG_ env names alike', async () => {
    const { catalog } = await catalogOf(
      '[a]\nctx-size = 1024\nnp = 2\nLLAMA_ARG_CACHE_TYPE_K = q8_0\nfa = on\nt = 4\nLLAMA_ARG_N_GPU_LAYERS = all\n',
      { models: ['a'] },
    );
    expect(spec(catalog, 'a').args).toEqual([
      '--ctx-size', '1024', '--parallel', '2', '--cache-type-k', 'q8_0', '--flash-attn', 'on', '--threads', '4', '--n-gpu-layers', 'all',
    ]);
  });

  it('two spellings of one option in one section: the last wins', async () => {
    const { catalog } = await catalogOf('[a]\nc = 1024\nctx-size = 2048\nLLAMA_ARG_CTX_SIZE = 512\n', { models: ['a'] });
    expect(spec(catalog, 'a').args).toEqual(['--ctx-size', '512']);
  });

  it('renders booleans as flags: true -> --x, false omitted, no-x -> --no-x', async () => {
    const { catalog } = await catalogOf(
      [
        '[a]',
        'jinja = true',
        'metrics = yes',
        'embeddings = false', // no negative form: omitted
        'no-mmap = true',
        'no-host = 1',
        'swa-full = off',
        'kv-offload = 0', // has a negative form: rendered as it
        'no-context-shift = false', // a negated key set false means the option on
      ].join('\n'),
      { models: ['a'] },
    );
    expect(spec(catalog, 'a').args).toEqual(['--jinja', '--metrics', '--no-mmap', '--no-host', '--no-kv-offload', '--context-shift']);
  });

  it('flash-attn takes on/off in current llama-server: a boolean becomes on/off, auto passes', async () => {
    const { catalog } = await catalogOf('[a]\nflash-attn = true\n[b]\nfa = false\n[c]\nfa = auto\n', { models: ['a', 'b', 'c'] });
    expect(spec(catalog, 'a').args).toEqual(['--flash-attn', 'on']);
    expect(spec(catalog, 'b').args).toEqual(['--flash-attn', 'off']);
    expect(spec(catalog, 'c').args).toEqual(['--flash-attn', 'auto']);
  });

  it('keeps values as one argument each (no shell splitting), two-value options as two', async () => {
    const { catalog } = await catalogOf(
      '[a]\nchat-template-kwargs = {"enable_thinking": false}\nreverse-prompt = "User: "\ncontrol-vector-layer-range = 3 9\n',
      { models: ['a'] },
    );
    expect(spec(catalog, 'a').args).toEqual([
      '--chat-template-kwargs', '{"enable_thinking": false}', '--reverse-prompt', 'User: ', '--control-vector-layer-range', '3', '9',
    ]);
  });

  it('version = 1 is accepted and ignored', async () => {
    const { catalog } = await catalogOf('version = 1\n[a]\nversion = 1\nc = 1\n', { models: ['a'] });
    expect(spec(catalog, 'a').args).toEqual(['--ctx-size', '1']);
  });

  it('a section may define a model not in models-dir with model = (relative to the preset file)', async () => {
    const { t, catalog } = await catalogOf('[custom]\nmodel = weights/c.gguf\nmmproj = weights/p.gguf\n', {
      files: { 'weights/c.gguf': 0, 'weights/p.gguf': 0 },
    });
    expect(spec(catalog, 'custom')).toMatchObject({ modelPath: t.path('weights/c.gguf'), mmprojPath: t.path('weights/p.gguf'), args: [] });
  });

  it('model = also replaces the file models-dir found; absolute paths stay', async () => {
    const { t, catalog } = await catalogOf('', { models: ['a'], files: { 'other.gguf': 0 } });
    expect(spec(catalog, 'a').modelPath).toBe(t.path('models/a.gguf'));
    const t2 = tmp().write({ 'models/a.gguf': 0, 'x/other.gguf': 0 });
    t2.write({ 'p.ini': `[a]\nmodel = ${t2.path('x/other.gguf')}\n` });
    const c2 = await loadCatalog({ modelsDir: t2.path('models'), presetPath: t2.path('p.ini') });
    expect(spec(c2, 'a').modelPath).toBe(t2.path('x/other.gguf'));
  });

  it('no-mmproj = true drops the projector models-dir found', async () => {
    const t = tmp().write({ 'models/v/v.gguf': 0, 'models/v/mmproj.gguf': 0, 'p.ini': '[v]\nno-mmproj = true\n' });
    const catalog = await loadCatalog({ modelsDir: t.path('models'), presetPath: t.path('p.ini') });
    expect(spec(catalog, 'v').mmprojPath).toBeUndefined();
    expect(spec(catalog, 'v').args).toEqual(['--no-mmproj-auto']);
  });
});

describe('precedence: child args > model section > [*] > models-dir', () => {
  it('each level overrides the one below, option by option', async () => {
    const { catalog } = await catalogOf('[*]\nc = 1000\nngl = 10\nt = 2\n[a]\nc = 2000\nngl = 20\n', {
      models: ['a', 'b'],
      childArgs: ['-c', '3000', '--jinja'],
    });
    // Overridden options keep their first position; the command line's new ones come last.
    expect(spec(catalog, 'a').args).toEqual(['--ctx-size', '3000', '--n-gpu-layers', '20', '--threads', '2', '--jinja']);
    expect(spec(catalog, 'b').args).toEqual(['--ctx-size', '3000', '--n-gpu-layers', '10', '--threads', '2', '--jinja']);
  });

  it('a negated spelling overrides the positive one of a lower level', async () => {
    const { catalog } = await catalogOf('[*]\nmmap = true\n[a]\nno-mmap = true\n', { models: ['a', 'b'] });
    expect(spec(catalog, 'a').args).toEqual(['--no-mmap']);
    expect(spec(catalog, 'b').args).toEqual(['--mmap']);
  });

  it('router keys follow the same order ([*] < section)', async () => {
    const { catalog } = await catalogOf('[*]\nttl = 300\npriority = 1\n[a]\nttl = 60\n', { models: ['a', 'b'] });
    expect(spec(catalog, 'a')).toMatchObject({ ttlS: 60, priority: 1 });
    expect(spec(catalog, 'b')).toMatchObject({ ttlS: 300, priority: 1 });
  });

  it('child args accept --flag=value, negated flags and a bare --flash-attn', async () => {
    const { catalog } = await catalogOf('[a]\nmmap = true\n', {
      models: ['a'],
      childArgs: ['--ctx-size=512', '--no-mmap', '--flash-attn', '-ngl', '-1', '--temp', '0.5'],
    });
    expect(spec(catalog, 'a').args).toEqual(['--no-mmap', '--ctx-size', '512', '--flash-attn', 'on', '--n-gpu-layers', '-1', '--temp', '0.5']);
  });
});

describe('router keys', () => {
  it('parses each key into the spec and never passes it to the child', async () => {
    const { catalog } = await catalogOf(
      [
        '[a]',
        'alias = chat, assistant',
        'load-on-startup = yes',
        'stop-timeout = 15',
        'ttl = 600',
        'priority = -2',
        'pin = on',
        'exclusive-group = big-gpu',
        'memory = CUDA0:8GiB,CPU:1.5G',
        'probe = ./probe.sh --json',
        'env.CUDA_VISIBLE_DEVICES = 0',
        'env.HF_HOME = /tmp/hf',
        'health-path = /v1/models',
        'concurrency = 4',
        'gpu-lock = true',
        'dedup-cache-models = true',
      ].join('\n'),
      { models: ['a'] },
    );
    expect(spec(catalog, 'a')).toMatchObject({
      aliases: ['chat', 'assistant'],
      loadOnStartup: true,
      stopTimeoutS: 15,
      ttlS: 600,
      priority: -2,
      pin: true,
      exclusiveGroup: 'big-gpu',
      memory: { CUDA0: 8 * GiB, CPU: 1.5 * GiB },
      probe: './probe.sh --json',
      env: { CUDA_VISIBLE_DEVICES: '0', HF_HOME: '/tmp/hf' },
      healthPath: '/v1/models',
      concurrency: 4,
      gpuLock: true,
      args: [],
    });
  });

  it('env from [*] and the section merge per variable', async () => {
    const { catalog } = await catalogOf('[*]\nenv.A = 1\nenv.B = 2\n[a]\nenv.B = 3\n', { models: ['a'] });
    expect(spec(catalog, 'a').env).toEqual({ A: '1', B: '3' });
  });

  it('cmd: a command with ${PORT}; no model file needed; ${MODEL} may name the model', async () => {
    const { catalog } = await catalogOf(
      '[Qwen/Qwen2.5-1.5B-Instruct]\ncmd = vllm serve ${MODEL} --host ${HOST} --port ${PORT} --api-key ${API_KEY}\n',
    );
    expect(spec(catalog, 'Qwen/Qwen2.5-1.5B-Instruct')).toMatchObject({
      cmd: 'vllm serve ${MODEL} --host ${HOST} --port ${PORT} --api-key ${API_KEY}',
      args: [],
    });
    expect(spec(catalog, 'Qwen/Qwen2.5-1.5B-Instruct').modelPath).toBeUndefined();
  });

  it('cmd models take a model folder; [*] llama-server options do not apply to them', async () => {
    const { t, catalog } = await catalogOf('[*]\nc = 4096\n[v]\nmodel = hf/qwen\ncmd = serve ${MODEL} --port ${PORT}\n', {
      files: { 'hf/qwen/config.json': '{}' },
    });
    expect(spec(catalog, 'v')).toMatchObject({ modelPath: t.path('hf/qwen'), args: [] });
  });

  it('[*] cmd = ... is overridden by a model\'s url (both say how the model runs)', async () => {
    const { catalog } = await catalogOf('[*]\ncmd = engine --port ${PORT} -m ${MODEL}\n[ext]\nurl = http://10.0.0.2:8000\n', { models: ['a'] });
    expect(spec(catalog, 'a').cmd).toBe('engine --port ${PORT} -m ${MODEL}');
    expect(spec(catalog, 'ext')).toMatchObject({ url: 'http://10.0.0.2:8000' });
    expect(spec(catalog, 'ext').cmd).toBeUndefined();
  });

  it('url: an external backend with load/unload routes, no model file needed', async () => {
    const { catalog } = await catalogOf(
      '[remote]\nurl = http://gpu-box:8000/\nload = POST /models/load {"model": "remote"}\nunload = POST /models/unload\nhealth-path = /health\n',
    );
    expect(spec(catalog, 'remote')).toMatchObject({
      url: 'http://gpu-box:8000',
      loadRoute: { method: 'POST', path: '/models/load', body: '{"model": "remote"}' },
      unloadRoute: { method: 'POST', path: '/models/unload' },
      args: [],
    });
  });

  it('ctx-size = auto: not rendered; ctxAuto carries ctx-min/ctx-max', async () => {
    const { catalog } = await catalogOf('[a]\nctx-size = auto\nctx-min = 2048\nctx-max = 32768\nngl = 99\n[b]\nc = auto\n', {
      models: ['a', 'b'],
    });
    expect(spec(catalog, 'a')).toMatchObject({ ctxAuto: { min: 2048, max: 32768 }, args: ['--n-gpu-layers', '99'] });
    expect(spec(catalog, 'b')).toMatchObject({ ctxAuto: {}, args: [] });
  });

  it('ctx bounds in [*] apply to auto models and are ignored by fixed ones', async () => {
    const { catalog } = await catalogOf('[*]\nctx-min = 1024\n[a]\nc = auto\n[b]\nc = 4096\n', { models: ['a', 'b'] });
    expect(spec(catalog, 'a').ctxAuto).toEqual({ min: 1024 });
    expect(spec(catalog, 'b')).toMatchObject({ args: ['--ctx-size', '4096'] });
    expect(spec(catalog, 'b').ctxAuto).toBeUndefined();
  });

  it('a command-line -c overrides ctx-size = auto', async () => {
    const { catalog } = await catalogOf('[a]\nctx-size = auto\n', { models: ['a'], childArgs: ['-c', '8192'] });
    expect(spec(catalog, 'a').ctxAuto).toBeUndefined();
    expect(spec(catalog, 'a').args).toEqual(['--ctx-size', '8192']);
  });
});

describe('aliases', () => {
  it('resolve finds a model by name or alias', async () => {
    const { catalog } = await catalogOf('[a]\nalias = x, y\n[b]\nalias = LLAMA\n', { models: ['a', 'b'] });
    expect(catalog.resolve('a')!.name).toBe('a');
    expect(catalog.resolve('y')!.name).toBe('a');
    expect(catalog.resolve('LLAMA')!.name).toBe('b');
    expect(catalog.resolve('llama')).toBeUndefined();
    expect(catalog.resolve('nope')).toBeUndefined();
  });

  it('short and env spellings of alias work too (llama-server --alias)', async () => {
    const { catalog } = await catalogOf('[a]\na = x\n[b]\nLLAMA_ARG_ALIAS = y\n', { models: ['a', 'b'] });
    expect(catalog.resolve('x')!.name).toBe('a');
    expect(catalog.resolve('y')!.name).toBe('b');
  });

  it('an alias equal to the model\'s own name is dropped, repeats are collapsed', async () => {
    const { catalog } = await catalogOf('[a]\nalias = a, x, x\n', { models: ['a'] });
    expect(spec(catalog, 'a').aliases).toEqual(['x']);
  });
});
