import { LineSplitter } from '../../src/supervisor/lines.js';

function split(chunks: string[], max?: number): string[] {
  const out: string[] = [];
  const s = new LineSplitter((l) => out.push(l), max);
  for (const c of chunks) s.push(c);
  s.end();
  return out;
}

describe('LineSplitter', () => {
  it('joins lines split across chunks and drops line endings', () => {
    expect(split(['he', 'llo\nwor', 'ld\r\n', '\n'])).toEqual(['hello', 'world', '']);
  });

  it('emits a final line without newline at end', () => {
    expect(split(['a\nb'])).toEqual(['a', 'b']);
  });

  it('cuts a line that never ends into bounded pieces', () => {
    expect(split(['x'.repeat(10)], 4)).toEqual(['xxxx', 'xxxx', 'xx']);
  });
});
