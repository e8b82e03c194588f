/**
 * Write a tiny llama GGUF model for tests and demos.
 *   npm run make-model -- OUT.gguf [--size-mb N] [--seed S] [--ctx N] [--layers N] [--embd N] [--f32]
 * Prints what it wrote; bad or missing arguments print the usage on stderr and exit with code 2.
 */
import { parseArgs } from 'node:util';
import { makeTinyModel, type TinyModelOptions } from '../src/gguf/tiny-model.js';

const USAGE = `usage: npm run make-model -- OUT.gguf [options]
  --size-mb N   aim for a file of about N MiB (within 20%); default ~1 MiB (128 x 2 layers)
  --seed S      PRNG seed, a non-negative integer (default 1); same arguments, same bytes
  --ctx N       training context length, llama.context_length (default 2048)
  --layers N    number of blocks
  --embd N      embedding width, a multiple of 64
  --f32         F32 matrices instead of F16`;

class UsageError extends Error {}

function parse(argv: string[]): { out: string; opts: TinyModelOptions } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        'size-mb': { type: 'string' },
        seed: { type: 'string' },
        ctx: { type: 'string' },
        layers: { type: 'string' },
        embd: { type: 'string' },
        f32: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (parsed.positionals.length !== 1) throw new UsageError(parsed.positionals.length ? 'give exactly one output path' : 'missing output path OUT.gguf');
  const number = (flag: string, text: string | undefined, integer: boolean): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
      throw new UsageError(`--${flag} must be a ${integer ? 'non-negative integer' : 'positive number'}, got '${text}'`);
    }
    return n;
  };
  const opts: TinyModelOptions = {
    sizeMb: number('size-mb', v['size-mb'], false),
    seed: number('seed', v.seed, true),
    ctx: number('ctx', v.ctx, true),
    layers: number('layers', v.layers, true),
    embd: number('embd', v.embd, true),
    matrixType: v.f32 ? 'F32' : undefined,
  };
  return { out: parsed.positionals[0]!, opts };
}

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parse(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`make-model: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  const started = performance.now();
  let info;
  try {
    info = await makeTinyModel(args.out, args.opts);
  } catch (err) {
    // Out-of-range shapes (embd not a multiple of 64, ...) are usage errors too.
    if (err instanceof RangeError) {
      process.stderr.write(`make-model: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`make-model: ${(err as Error).message}\n`);
    return 1;
  }
  const ms = Math.round(performance.now() - started);
  process.stdout.write(
    `wrote ${info.path}: ${(info.bytes / 2 ** 20).toFixed(2)} MiB (${info.bytes} bytes) in ${ms} ms\n` +
      `  llama, embd ${info.embd} x ${info.layers} layers, ff ${info.ff}, heads ${info.heads} (kv ${info.headsKv}), ` +
      `vocab ${info.vocab}, ctx ${info.ctx}, ${info.matrixType}, seed ${info.seed}\n`,
  );
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
