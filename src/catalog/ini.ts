/**
 * The INI dialect of llama-server's `--models-preset` files, read with line numbers for error messages.
 *
 * Why not the `ini` package: it splits section names on dots into nested objects (`[qwen2.5-7b]` becomes
 * `{qwen2: {'5-7b': ...}}`), and model names are full of dots; it also loses line numbers.
 *
 * The grammar follows llama.cpp's common/preset.cpp parser:
 * - `[name]` starts a section; the name is everything between the brackets, trimmed;
 * - `key = value`, key `[A-Za-z_][A-Za-z0-9_.-]*`, value trimmed;
 * - `;` and `#` start comments, on their own line or after a value.
 * Differences, each to avoid a surprise: an inline comment needs whitespace before its `;`/`#` (llama.cpp cuts
 * `a;b` to `a`, which breaks shell commands in `cmd`); a value wholly wrapped in matching quotes loses them
 * (`chat-template = "chatml"` passes `chatml`, not `"chatml"`); a section named twice is an error (llama.cpp
 * silently keeps only the second). A key repeated inside one section: the last one wins, as in llama.cpp.
 */

import { CatalogError } from './model-spec.js';

export interface IniEntry {
  /** The key as written (`c`, `ctx-size`, `LLAMA_ARG_CTX_SIZE`, `env.FOO`). */
  key: string;
  value: string;
  /** 1-based line number. */
  line: number;
}

export interface IniSection {
  name: string;
  line: number;
  entries: IniEntry[];
}

export interface IniDocument {
  file: string;
  /** Keys before the first section header. */
  top: IniEntry[];
  sections: IniSection[];
}

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Parses INI text; throws CatalogError naming the file (and section) with the line number on a syntax error. */
export function parseIni(text: string, file: string): IniDocument {
  const doc: IniDocument = { file, top: [], sections: [] };
  const seen = new Set<string>();
  let current: IniSection | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const s = raw.trim();
    if (s === '' || s.startsWith(';') || s.startsWith('#')) return;
    if (s.startsWith('[')) {
      const m = /^\[([^\]]*)\]\s*(?:[;#].*)?$/.exec(s);
      const name = m?.[1]?.trim();
      if (!m || !name) throw new CatalogError(`line ${line}: bad section header "${s}"`, file);
      if (seen.has(name)) throw new CatalogError(`line ${line}: section defined twice`, file, name);
      seen.add(name);
      current = { name, line, entries: [] };
      doc.sections.push(current);
      return;
    }
    const eq = s.indexOf('=');
    const key = eq < 0 ? '' : s.slice(0, eq).trim();
    if (eq < 0 || !KEY.test(key)) {
      throw new CatalogError(`line ${line}: expected "key = value", got "${s}"`, file, current?.name);
    }
    const entry = { key, value: cleanValue(s.slice(eq + 1)), line };
    (current ? current.entries : doc.top).push(entry);
  });
  return doc;
}

function cleanValue(v: string): string {
  let value = v.trim();
  const quoted = /^(["'])(.*)\1$/.exec(value);
  if (quoted) return quoted[2]!;
  const comment = /\s[;#]/.exec(value);
  if (comment) value = value.slice(0, comment.index);
  value = value.trim();
  const quotedBeforeComment = /^(["'])(.*)\1$/.exec(value);
  return quotedBeforeComment ? quotedBeforeComment[2]! : value;
}

