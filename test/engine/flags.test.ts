import { parseFlags } from '../../src/engine/flags.js';

/** The options parseFlags reads from `argv`; a refusal throws. */
function parsed(argv: string[]) {
  const r = parseFlags(argv);
  if (r.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r.options;
}

describe('engine flags', () => {
  it('reads llama-server spellings of its own flags', () => {
    const o = parsed(['-m', 'a.gguf', '--host', '0.0.0.0', '--port', '9000', '-c', '0', '-ngl', '99', '-np', '3', '-t', '1', '-a', 'tiny', '--api-key', 'k']);
    expect(o).toMatchObject({ model: 'a.gguf', host: '0.0.0.0', port: 9000, ctxSize: 0, gpuLayers: 99, parallel: 3, threads: 1, alias: 'tiny', apiKey: 'k' });
    expect(parsed(['--model=b.gguf', '--ctx-size=512', '--n-gpu-layers', 'all', '--parallel', '2']).ctxSize).toBe(512);
  });

  it('has llama-server defaults', () => {
    const o = parsed(['-m', 'a.gguf']);
    expect(o).toMatchObject({ host: '127.0.0.1', port: 8080, ctxSize: 2048, parallel: 1, dryRun: false });
    expect(o.threads).toBeGreaterThan(0);
  });

  it('ignores other llama-server flags together with their values', () => {
    const o = parsed([
      '--flash-attn', '-m', 'a.gguf', '-fa', 'on', '--jinja', '--mlock', '--cache-type-k', 'q8_0', '-ctv', 'q8_0',
      '--seed', '-1', '--lora-scaled', 'x.gguf', '0.5', '--no-mmap', '--unknown-thing', 'value', '--embeddings',
    ]);
    expect(o.model).toBe('a.gguf');
    expect(o.embeddings).toBe(true);
    expect(o.ignored.sort()).toEqual(
      ['--flash-attn', '-fa', '--jinja', '--mlock', '--cache-type-k', '-ctv', '--seed', '--lora-scaled', '--no-mmap', '--unknown-thing'].sort(),
    );
  });

  it('names each ignored flag once', () => {
    expect(parsed(['-m', 'a', '--jinja', '--jinja']).ignored).toEqual(['--jinja']);
  });

  it('rejects malformed engine flags', () => {
    expect(parseFlags([]).kind).toBe('error');
    expect(parseFlags(['-m']).kind).toBe('error');
    expect(parseFlags(['-m', 'a', '--port', 'abc']).kind).toBe('error');
    expect(parseFlags(['-m', 'a', '--port', '70000']).kind).toBe('error');
    expect(parseFlags(['-m', 'a', '-c', '-5']).kind).toBe('error');
    expect(parseFlags(['-m', 'a', 'stray']).kind).toBe('error');
    expect(parseFlags(['--help']).kind).toBe('help');
  });
});
