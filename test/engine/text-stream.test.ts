import { StopStringFilter } from '../../src/engine/text-stream.js';

describe('StopStringFilter', () => {
  it('passes text through without stop strings', () => {
    const f = new StopStringFilter([]);
    expect(f.push('ab') + f.push('c') + f.flush()).toBe('abc');
  });

  it('holds back a possible stop string and cuts at a complete one', () => {
    const f = new StopStringFilter(['END']);
    expect(f.push('hello E')).toBe('hello ');
    expect(f.push('N')).toBe('');
    expect(f.push('D and more')).toBe('');
    expect(f.hasStopped).toBe(true);
    expect(f.flush()).toBe('');
  });

  it('releases held text that stops matching', () => {
    const f = new StopStringFilter(['END']);
    expect(f.push('E')).toBe('');
    expect(f.push('x')).toBe('Ex');
    expect(f.push('EN')).toBe('');
    expect(f.flush()).toBe('EN');
    expect(f.hasStopped).toBe(false);
  });

  it('cuts at the earliest of several stop strings', () => {
    const f = new StopStringFilter(['bb', 'a']);
    expect(f.push('xxbbya')).toBe('xx');
  });
});
