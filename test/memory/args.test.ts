import { memoryArgs } from '../../src/memory/args.js';

describe('memoryArgs', () => {
  test('short, long and = spellings are one setting', () => {
    const a = memoryArgs(['-c', '4096', '-np', '2', '-ngl', '99', '-fa']);
    const b = memoryArgs(['--ctx-size=4096', '--parallel', '2', '--n-gpu-layers', '99', '--flash-attn', 'on']);
    const c = memoryArgs(['--gpu-layers', '99', '--flash-attn=true', '--parallel=2', '--ctx-size', '4096.0']);
    expect(a).toEqual({ 'ctx-size': '4096', parallel: '2', 'n-gpu-layers': '99', 'flash-attn': 'on' });
    expect(b).toEqual(a);
    expect(c).toEqual(a);
  });

  test('irrelevant arguments are ignored, values of unknown flags are not mistaken for flags', () => {
    expect(memoryArgs(['-t', '4', '--host', '127.0.0.1', '--port', '8080', '--alias', 'x', '--temp', '0.7', '-c', '512'])).toEqual({ 'ctx-size': '512' });
  });

  test('last occurrence wins; opposite flags cancel; repeated flags accumulate', () => {
    expect(memoryArgs(['-c', '512', '-c', '1024', '--no-mmap', '--mmap', '-ot', 'exps=CPU', '--override-tensor', 'blk\\.1=CUDA0'])).toEqual({
      'ctx-size': '1024',
      'no-mmap': '0',
      'override-tensor': 'exps=CPU;blk\\.1=CUDA0',
    });
  });

  test('cache types and tensor split are normalised', () => {
    expect(memoryArgs(['-ctk', 'Q8_0', '--cache-type-v', 'q8_0', '-ts', '3/1'])).toEqual({
      'cache-type-k': 'q8_0',
      'cache-type-v': 'q8_0',
      'tensor-split': '3,1',
    });
    expect(memoryArgs(['--tensor-split', '3,1.0'])['tensor-split']).toBe('3,1');
  });

  test('-fa followed by an unrelated argument is a bare flag', () => {
    expect(memoryArgs(['-fa', '-c', '256'])).toEqual({ 'flash-attn': 'on', 'ctx-size': '256' });
    expect(memoryArgs(['-fa', 'off'])).toEqual({ 'flash-attn': 'off' });
  });

  test('LLAMA_ARG_* environment counts, arguments override it', () => {
    expect(memoryArgs(['-c', '2048'], { LLAMA_ARG_CTX_SIZE: '8192', LLAMA_ARG_N_PARALLEL: '4', LLAMA_ARG_NO_MMAP: '1', HOME: '/root' })).toEqual({
      'ctx-size': '2048',
      parallel: '4',
      'no-mmap': '1',
    });
  });
});
