/**
 * The router command line's child arguments (`router --models-dir m -- -c 8192 --jinja`): llama-server options
 * given once for every child, above every preset (llama-server's router does the same with its own argv).
 */

import { lookupFlag } from './llama-flags.js';
import { isBoolWord } from './values.js';
import { fail, toSetting, type Origin, type Setting } from './settings.js';

/** Parses child argv into settings; throws CatalogError naming the flag for anything it cannot take. */
export function parseChildArgs(argv: readonly string[]): Setting[] {
  const out: Setting[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    const origin: Origin = { key: token, layer: 'cli' };
    if (!/^-{1,2}[A-Za-z0-9]/.test(token)) fail(origin, 'expected a llama-server option');
    const eq = token.indexOf('=');
    const flagPart = eq > 0 && token.startsWith('--') ? token.slice(0, eq) : token;
    const inline = flagPart === token ? undefined : token.slice(eq + 1);
    origin.key = flagPart;
    const found = lookupFlag(flagPart);
    if (!found) fail(origin, 'unknown llama-server option');
    const { flag, negated } = found;

    let value: string;
    if (flag.arity === 0) {
      value = inline ?? 'true';
    } else if (inline !== undefined) {
      value = inline;
    } else if (flag.onOff && !/^(on|off|auto)$/i.test(argv[i + 1] ?? '') && !isBoolWord(argv[i + 1] ?? '')) {
      value = 'on'; // `--flash-attn` alone, as older builds took it
    } else {
      const n = flag.arity;
      if (i + n >= argv.length) fail(origin, `needs ${n === 2 ? 'two values' : 'a value'} (${flag.hint})`);
      value = argv.slice(i + 1, i + 1 + n).join(' ');
      i += n;
    }
    // Router keys (model, alias, mmproj) are per model: not for every child.
    if (['model', 'alias', 'mmproj'].includes(flag.name)) {
      fail(origin, 'is set per model (preset or models-dir), not for every child');
    }
    const key = negated ? flag.negNames[0]! : flag.names[flag.names.length - 1]!;
    const s = toSetting(key, value, origin);
    if (s) out.push(s);
  }
  return out;
}
