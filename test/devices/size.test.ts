import { canonicalDeviceName, formatBytes, parseDeviceSizes, parseSize, SizeError } from '../../src/devices/size.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

describe('parseSize', () => {
  test.each([
    ['512MiB', 512 * MiB],
    ['8GiB', 8 * GiB],
    ['1.5G', 1.5 * GiB],
    ['1024', 1024],
    ['2GB', 2e9],
    ['8 GiB', 8 * GiB],
    ['512mib', 512 * MiB],
    ['64k', 64 * 1024],
    ['100B', 100],
    ['0', 0],
    ['.5G', 0.5 * GiB],
    ['  3m ', 3 * MiB],
    ['1T', 1024 ** 4],
  ])('%s', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  test.each(['', 'abc', '-1G', '8 XB', '8GiBs', '1,5G', 'G', '8 G iB', 'NaN', '1e9'])('rejects %j with a clear error', (input) => {
    expect(() => parseSize(input)).toThrow(SizeError);
    expect(() => parseSize(input)).toThrow(/invalid size/);
  });

  test('unknown unit is named', () => {
    expect(() => parseSize('8XB')).toThrow(/unknown unit "XB"/);
  });
});

describe('parseDeviceSizes', () => {
  test('flag form', () => {
    expect(parseDeviceSizes('CUDA0=8GiB,CPU=512MiB')).toEqual({ CUDA0: 8 * GiB, CPU: 512 * MiB });
  });
  test('preset form with colons and spaces', () => {
    expect(parseDeviceSizes('CUDA0:8GiB, CPU:1GiB')).toEqual({ CUDA0: 8 * GiB, CPU: GiB });
  });
  test('device names are made canonical', () => {
    expect(parseDeviceSizes('cuda1=1G,cpu=2G,rocm0=3G')).toEqual({ CUDA1: GiB, CPU: 2 * GiB, ROCm0: 3 * GiB });
    expect(canonicalDeviceName('vulkan0')).toBe('Vulkan0');
    expect(canonicalDeviceName('MyAccel')).toBe('MyAccel');
  });
  test.each([
    ['', /empty/],
    ['CUDA0', /expected DEVICE=SIZE/],
    ['CUDA0=8GiB,', /expected DEVICE=SIZE/],
    ['CUDA0=8GiB,cuda0=1G', /CUDA0 is named twice/],
    ['CUDA0=lots', /invalid size "lots".*for device CUDA0/],
    ['0dev=1G', /invalid device name/],
    ['=1G', /expected DEVICE=SIZE/],
  ])('rejects %j', (input, message) => {
    expect(() => parseDeviceSizes(input)).toThrow(SizeError);
    expect(() => parseDeviceSizes(input)).toThrow(message);
  });
});

describe('formatBytes', () => {
  test.each([
    [0, '0 B'],
    [100, '100 B'],
    [1024, '1 KiB'],
    [512 * MiB, '512 MiB'],
    [8.5 * GiB, '8.5 GiB'],
    [7.9 * GiB, '7.9 GiB'],
    [1023.97 * 1024, '1 MiB'],
    [-2 * GiB, '-2 GiB'],
  ])('%d -> %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
  test('round-trips through parseSize', () => {
    expect(parseSize(formatBytes(24 * GiB).replace(' ', ''))).toBe(24 * GiB);
  });
});
