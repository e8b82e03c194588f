import { LLAMA_FLAGS, lookupFlag, parseFlagRow } from '../../src/catalog/llama-flags.js';

describe('llama-server flag table', () => {
  it('reads long, short and env names of a value option', () => {
    const f = parseFlagRow('-c, --ctx-size N (env: LLAMA_ARG_CTX_SIZE)');
    expect(f).toMatchObject({ name: 'ctx-size', names: ['c', 'ctx-size'], negNames: [], env: ['LLAMA_ARG_CTX_SIZE'], arity: 1, hint: 'N' });
  });

  it('splits positive and negative spellings of a boolean', () => {
    expect(parseFlagRow('-kvo, --kv-offload, -nkvo, --no-kv-offload (env: LLAMA_ARG_KV_OFFLOAD)')).toMatchObject({
      name: 'kv-offload',
      names: ['kvo', 'kv-offload'],
      negNames: ['nkvo', 'no-kv-offload'],
      arity: 0,
    });
    expect(parseFlagRow('--ui, --webui, --no-ui, --no-webui')).toMatchObject({
      name: 'webui',
      names: ['ui', 'webui'],
      negNames: ['no-ui', 'no-webui'],
    });
    expect(parseFlagRow('--repack, -nr, --no-repack')).toMatchObject({ names: ['repack'], negNames: ['nr', 'no-repack'] });
  });

  it('keeps a flag that only exists negated as its own option', () => {
    expect(parseFlagRow('--no-host (env: LLAMA_ARG_NO_HOST)')).toMatchObject({ name: 'no-host', names: ['no-host'], negNames: [], arity: 0 });
  });

  it('uses the last name as canonical, as llama.cpp renders it, except --temp', () => {
    expect(lookupFlag('ngl')!.flag.name).toBe('n-gpu-layers');
    expect(lookupFlag('gpu-layers')!.flag.name).toBe('n-gpu-layers');
    expect(lookupFlag('temperature')!.flag.name).toBe('temp');
    expect(lookupFlag('LLAMA_ARG_TEMPERATURE')!.flag.name).toBe('temp');
  });

  it('counts values: on/off hints, bracketed hints, two-value options', () => {
    expect(lookupFlag('fa')!.flag).toMatchObject({ name: 'flash-attn', arity: 1, onOff: true });
    expect(lookupFlag('ot')!.flag.arity).toBe(1);
    expect(lookupFlag('control-vector-layer-range')!.flag.arity).toBe(2);
    expect(lookupFlag('jinja')!.flag.arity).toBe(0);
  });

  it('looks up by long, short, env and dashed names, case-sensitively', () => {
    for (const key of ['ctx-size', 'c', 'LLAMA_ARG_CTX_SIZE', '--ctx-size', '-c']) {
      expect(lookupFlag(key)?.flag.name).toBe('ctx-size');
    }
    expect(lookupFlag('C')!.flag.name).toBe('cpu-mask');
    expect(lookupFlag('no-mmap')).toMatchObject({ negated: true, flag: { name: 'mmap' } });
    expect(lookupFlag('np')!.flag.name).toBe('parallel');
    expect(lookupFlag('nonsense')).toBeUndefined();
  });

  it('has no two options with the same canonical name, and no spelling claimed twice', () => {
    const names = LLAMA_FLAGS.map((f) => f.name);
    expect(new Set(names).size).toBe(names.length);
    const spellings = LLAMA_FLAGS.flatMap((f) => [...f.names, ...f.negNames, ...f.env]);
    const dup = spellings.filter((s, i) => spellings.indexOf(s) !== i);
    expect(dup).toEqual([]);
  });
});
