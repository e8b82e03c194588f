import { RingBuffer } from '../../src/supervisor/ring-buffer.js';

describe('RingBuffer', () => {
  it('keeps everything until it is full', () => {
    const b = new RingBuffer<number>(3);
    b.push(1);
    b.push(2);
    expect(b.toArray()).toEqual([1, 2]);
    expect(b.length).toBe(2);
  });

  it('keeps the last N items, oldest first, across many wraps', () => {
    const b = new RingBuffer<number>(3);
    for (let i = 1; i <= 10; i++) b.push(i);
    expect(b.toArray()).toEqual([8, 9, 10]);
    expect(b.length).toBe(3);
  });

  it('last(n) gives the newest n items in order', () => {
    const b = new RingBuffer<string>(5);
    for (const s of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) b.push(s);
    expect(b.last(2)).toEqual(['f', 'g']);
    expect(b.last(50)).toEqual(['c', 'd', 'e', 'f', 'g']);
    expect(b.last()).toEqual(['c', 'd', 'e', 'f', 'g']);
    expect(b.last(0)).toEqual([]);
  });

  it('capacity 0 keeps nothing; clear empties', () => {
    const z = new RingBuffer<number>(0);
    z.push(1);
    expect(z.toArray()).toEqual([]);
    const b = new RingBuffer<number>(2);
    b.push(1);
    b.push(2);
    b.push(3);
    b.clear();
    expect(b.toArray()).toEqual([]);
    b.push(4);
    expect(b.toArray()).toEqual([4]);
  });

  it('rejects a nonsensical capacity', () => {
    expect(() => new RingBuffer(-1)).toThrow(RangeError);
    expect(() => new RingBuffer(1.5)).toThrow(RangeError);
  });
});
