/**
 * llama-server command lines as written: `router --models-dir m -c 8192 -ngl 99 --port 9000`.
 *
 * llama-server's router mode hands every flag it does not own to each child. The router does the same: a flag
 * commander knows (the router's own table, src/cli/serve-options.ts) stays the router's; any other flag that
 * llama-server takes moves, with its value(s), to the child arguments, as if written after `--`. commander
 * alone cannot do this: once it meets an unknown option it treats everything after it as unknown, router
 * flags included. Everything after `--` is child arguments, as before.
 */
import type { Command, Option } from 'commander';
import { lookupFlag } from '../catalog/llama-flags.js';
import { isBoolWord } from '../catalog/values.js';

export class SplitError extends Error {}

export interface SplitArgs {
  /** What commander parses: the router's flags (and a subcommand with its own flags, untouched). */
  router: string[];
  /** llama-server flags for every child, in the order written (those before `--` first). */
  child: string[];
}

function routerOption(cmd: Command, flag: string): Option | 'builtin' | undefined {
  if (flag === '-h' || flag === '--help' || flag === '--version') return 'builtin';
  return cmd.options.find((o) => o.long === flag || o.short === flag);
}

/** `args` is argv without node and the script. */
export function splitArgs(cmd: Command, args: readonly string[]): SplitArgs {
  const isSub = (word: string) => cmd.commands.some((c) => c.name() === word || c.aliases().includes(word));
  const router: string[] = [];
  const child: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const token = args[i]!;
    if (token === '--') {
      child.push(...args.slice(i + 1));
      break;
    }
    if (!/^-{1,2}[A-Za-z0-9]/.test(token)) {
      // A subcommand (`router status ...`, `router --api-key K status`, `router probe NAME -c 4096`) parses the
      // rest itself: its flags are its own.
      if (child.length === 0 && isSub(token)) {
        router.push(...args.slice(i));
        break;
      }
      throw new SplitError(`unexpected argument '${token}' (llama-server flags may be written as they are, or after --)`);
    }
    const eq = token.startsWith('--') ? token.indexOf('=') : -1;
    const flag = eq > 0 ? token.slice(0, eq) : token;
    const own = routerOption(cmd, flag);
    if (own) {
      router.push(token);
      // commander reads the value itself; keep it beside its flag.
      if (own !== 'builtin' && own.required && eq < 0 && i + 1 < args.length) router.push(args[++i]!);
      continue;
    }
    const found = lookupFlag(flag);
    if (!found) throw new SplitError(`unknown option '${flag}' (neither a router flag nor a llama-server flag)`);
    const { flag: f } = found;
    child.push(token);
    if (eq > 0 || f.arity === 0) continue;
    // `--flash-attn` alone, as older builds took it: the value is optional.
    const next = args[i + 1];
    if (f.onOff && (next === undefined || (!/^(on|off|auto)$/i.test(next) && !isBoolWord(next)))) continue;
    if (i + f.arity >= args.length) {
      throw new SplitError(`option '${flag}' needs ${f.arity === 2 ? 'two values' : 'a value'} (${f.hint})`);
    }
    child.push(...args.slice(i + 1, i + 1 + f.arity));
    i += f.arity;
  }
  return { router, child };
}
