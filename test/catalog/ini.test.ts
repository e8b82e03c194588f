import { parseIni } from '../../src/catalog/ini.js';
import { CatalogError } from '../../src/catalog/model-spec.js';

function errorOf(fn: () => unknown): CatalogError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CatalogError) return err;
    throw err;
  }
  throw new Error('expected a CatalogError');
}

describe('INI parser', () => {
  it('reads sections, keys, comments and line numbers', () => {
    const doc = parseIni(
      ['version = 1', '; a comment', '[*]', 'c = 8192', '', '# another', '[qwen2.5-7b]  ; trailing comment', '  ngl = 99  '].join('\n'),
      'p.ini',
    );
    expect(doc.top).toEqual([{ key: 'version', value: '1', line: 1 }]);
    expect(doc.sections.map((s) => s.name)).toEqual(['*', 'qwen2.5-7b']);
    expect(doc.sections[0]!.entries).toEqual([{ key: 'c', value: '8192', line: 4 }]);
    expect(doc.sections[1]!.entries).toEqual([{ key: 'ngl', value: '99', line: 8 }]);
  });

  it('keeps dots and slashes in section names (model names are full of them)', () => {
    const doc = parseIni('[ggml-org/gemma-3-4b-it-GGUF:Q4_K_M]\nc = 1\n[Qwen2.5.1]\n', 'p.ini');
    expect(doc.sections.map((s) => s.name)).toEqual(['ggml-org/gemma-3-4b-it-GGUF:Q4_K_M', 'Qwen2.5.1']);
  });

  it('cuts inline comments only after whitespace, so commands keep their ; and #', () => {
    const doc = parseIni(['[m]', 'cmd = sh -c "a;b" # note', 'probe = echo a#b', 'x = 1 ; note'].join('\r\n'), 'p.ini');
    expect(doc.sections[0]!.entries.map((e) => e.value)).toEqual(['sh -c "a;b"', 'echo a#b', '1']);
  });

  it('strips quotes around a whole value', () => {
    const doc = parseIni(['[m]', 'a = "chatml"', "b = 'x # y'", 'c = {"k": "v"}', 'd = "q" ; c'].join('\n'), 'p.ini');
    expect(doc.sections[0]!.entries.map((e) => e.value)).toEqual(['chatml', 'x # y', '{"k": "v"}', 'q']);
  });

  it('accepts CRLF, CR line ends and a BOM', () => {
    const doc = parseIni('\uFEFF[a]\r\nk = 1\rj = 2', 'p.ini');
    expect(doc.sections[0]!.entries.map((e) => [e.key, e.value, e.line])).toEqual([
      ['k', '1', 2],
      ['j', '2', 3],
    ]);
  });

  it('names file, section and line of a syntax error', () => {
    const e = errorOf(() => parseIni('[m]\nc = 1\nthis is not ini\n', '/x/p.ini'));
    expect(e.file).toBe('/x/p.ini');
    expect(e.section).toBe('m');
    expect(e.message).toBe('/x/p.ini [m]: line 3: expected "key = value", got "this is not ini"');
  });

  it('refuses a bad header and a section given twice', () => {
    expect(errorOf(() => parseIni('[unclosed\n', 'p.ini')).message).toMatch(/line 1: bad section header/);
    expect(errorOf(() => parseIni('[]\n', 'p.ini')).message).toMatch(/bad section header/);
    const twice = errorOf(() => parseIni('[a]\nc=1\n[a]\nc=2\n', 'p.ini'));
    expect(twice.section).toBe('a');
    expect(twice.message).toBe('p.ini [a]: line 3: section defined twice');
  });
});
