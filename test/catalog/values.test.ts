import {
  ValueError,
  parseBackendUrl,
  parseBool,
  parseMemory,
  parseRoute,
  parseSeconds,
  parseSize,
} from '../../src/catalog/values.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

describe('preset values', () => {
  it('booleans: true/false/1/0/yes/no/on/off in any case', () => {
    for (const v of ['true', '1', 'yes', 'on', 'TRUE', 'On', 'enabled']) expect(parseBool(v)).toBe(true);
    for (const v of ['false', '0', 'no', 'off', 'No', 'disabled']) expect(parseBool(v)).toBe(false);
    expect(() => parseBool('maybe')).toThrow(ValueError);
    expect(() => parseBool('')).toThrow(ValueError);
  });

  it('sizes: bytes, binary units, SI units, fractions', () => {
    expect(parseSize('1048576')).toBe(MiB);
    expect(parseSize('512MiB')).toBe(512 * MiB);
    expect(parseSize('8GiB')).toBe(8 * GiB);
    expect(parseSize('1.5G')).toBe(1.5 * GiB);
    expect(parseSize('2 gib')).toBe(2 * GiB);
    expect(parseSize('2GB')).toBe(2e9);
    expect(parseSize('100B')).toBe(100);
    for (const bad of ['', 'lots', '-1G', '8XB', '1.2.3G']) expect(() => parseSize(bad)).toThrow(ValueError);
  });

  it('memory per device', () => {
    expect(parseMemory('CUDA0:8GiB,CPU:1GiB')).toEqual({ CUDA0: 8 * GiB, CPU: GiB });
    expect(parseMemory(' ROCm1 : 512MiB ')).toEqual({ ROCm1: 512 * MiB });
    expect(() => parseMemory('8GiB')).toThrow(/DEVICE:SIZE/);
    expect(() => parseMemory('CUDA0:8GiB,CUDA0:1GiB')).toThrow(/twice/);
    expect(() => parseMemory('CUDA0:big')).toThrow(/not a size/);
    expect(() => parseMemory('')).toThrow(ValueError);
  });

  it('seconds are non-negative numbers', () => {
    expect(parseSeconds('30')).toBe(30);
    expect(parseSeconds('0.5')).toBe(0.5);
    expect(() => parseSeconds('-1')).toThrow(/negative/);
    expect(() => parseSeconds('5m')).toThrow(ValueError);
  });

  it('routes: METHOD PATH [BODY]', () => {
    expect(parseRoute('post /models/load {"model": "x"}')).toEqual({ method: 'POST', path: '/models/load', body: '{"model": "x"}' });
    expect(parseRoute('GET /wake')).toEqual({ method: 'GET', path: '/wake' });
    expect(() => parseRoute('FETCH /x')).toThrow(ValueError);
    expect(() => parseRoute('POST load')).toThrow(/start with \//);
    expect(() => parseRoute('POST')).toThrow(ValueError);
  });

  it('backend URLs: http(s) with a host', () => {
    expect(parseBackendUrl('http://127.0.0.1:8000')).toBe('http://127.0.0.1:8000');
    expect(parseBackendUrl('https://gpu-box:8443/')).toBe('https://gpu-box:8443');
    expect(parseBackendUrl('http://h:1/prefix/')).toBe('http://h:1/prefix');
    for (const bad of ['127.0.0.1:8000', 'ftp://h:1', 'http://h:1/?a=1', 'nonsense']) {
      expect(() => parseBackendUrl(bad)).toThrow(ValueError);
    }
  });
});
