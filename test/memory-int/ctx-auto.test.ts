/**
 * `ctx-size = auto` with real children (the bundled engine on a generated model with a 16384-token training
 * context and 8 KiB of KV cache per token): under a CPU cap the router gives the child the largest context that
 * fits (it really gets `--ctx-size N`), a smaller cap gives a smaller context that still loads and answers, and a
 * cap too small for ctx-min fails at once with an OpenAI error naming ctx-min.
 *
 * The expected context is found here by scanning every multiple of 256 with the header estimate, from the need
 * the router admitted the model at (its ctx-min need, from the engine's --dry-run probe) plus what the estimate
 * says a larger context adds: an oracle independent of the router's own search.
 */
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import OpenAI from 'openai';
import { estimateFromGguf } from '../../src/memory/estimate.js';
import { engineEstimateOptions } from '../../src/memory/engine.js';
import { models, processesMentioning, ROUTER_BIN, startRouter, waitFor, type RunningRouter } from '../helpers/router.js';
import { tinyModel } from '../helpers/models.js';
import { presetFile } from '../router/fixtures.js';

const MiB = 2 ** 20;
const CTX_MIN = 1024;
const TRAINING = 16384;

describe('ctx-size = auto under --models-memory-max', () => {
  let dir: string;
  let preset: string;
  let model: string;
  /** The need the router admits the model at (ctx-min), from the engine's --dry-run. */
  let admitted: number;
  const est = new Map<number, number>();
  let r: RunningRouter | undefined;
  let state: string;

  /** The header estimate's CPU figure at `ctx`, as the router makes it for the bundled engine (src/memory/engine.ts). */
  async function estimate(ctx: number): Promise<number> {
    if (!est.has(ctx)) est.set(ctx, (await estimateFromGguf(model, engineEstimateOptions('bundled', ['--ctx-size', String(ctx)], { devices: [] }))).devices.CPU!);
    return est.get(ctx)!;
  }
  /** The oracle: the largest multiple of 256 whose need (admitted + growth) fits `cap`. */
  async function expectedCtx(cap: number): Promise<number> {
    const base = await estimate(CTX_MIN);
    for (let ctx = TRAINING; ctx > CTX_MIN; ctx -= 256) if (admitted + (await estimate(ctx)) - base <= cap) return ctx;
    return CTX_MIN;
  }

  beforeAll(async () => {
    const file = await tinyModel({ ctx: TRAINING, layers: 4, embd: 1024 });
    dir = mkdtempSync(join(tmpdir(), 'ctx-auto-'));
    model = join(dir, 'auto.gguf');
    symlinkSync(file, model);
    preset = presetFile(dir, `[auto]\nmodel = ${model}\nctx-size = auto\nctx-min = ${CTX_MIN}\n`);
    const probe = await execa(process.execPath, [ROUTER_BIN, 'probe', 'auto', '--models-preset', preset, '--state-dir', join(dir, 'probe-state')]);
    const need = JSON.parse(probe.stdout);
    expect(need.source).toBe('probe');
    admitted = need.devices.CPU;
    // Admitted at ctx-min, not at the training context.
    expect(admitted).toBeLessThan(await estimate(TRAINING));
  }, 120_000);
  beforeEach(async () => {
    state = await mkdtemp(join(tmpdir(), 'ctx-auto-state-'));
  });
  afterEach(async () => {
    const router = r;
    if (router) expect({ exit: await router.stop(), output: router.output().slice(-3000) }).toMatchObject({ exit: 0 });
    r = undefined;
    expect(processesMentioning(dir)).toEqual([]);
    await rm(state, { recursive: true, force: true });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const start = (capBytes: number) =>
    startRouter(['--models-preset', preset, '--state-dir', state, '--models-memory-margin', '0', '--models-memory-max', `CPU=${capBytes}`]);
  const client = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: 'none', maxRetries: 0, timeout: 120_000 });
  const entry = async (url: string) => (await models(url)).find((m) => m.id === 'auto');
  /**
   * The router probes the model in the background at start; wait for it, so the admitted need is the one the
   * oracle used (and no probe outlives the router: the probe process is not stopped with it).
   */
  const probed = (url: string) =>
    waitFor('the probe figure', async () => {
      const m = await entry(url);
      return m?.memory?.source === 'probe' ? m : undefined;
    }, 60_000);

  /** Load through a chat, then what /models and the child's own argv say. */
  async function loadAndChat(cap: number): Promise<{ ctx: { size: number; reason: string }; argv: string[] }> {
    r = await start(cap);
    const before = await probed(r.url);
    expect(before.memory.devices.CPU).toBe(admitted);
    expect(before.ctx).toBeUndefined();

    const reply = await client(r.url).chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3 });
    expect(reply.choices[0]!.message.role).toBe('assistant');
    expect(reply.model).toBe('auto');

    const m = await entry(r.url);
    expect(m.status.value).toBe('loaded');
    const argv = readFileSync(`/proc/${m.pid}/cmdline`, 'utf8').split('\0');
    return { ctx: m.ctx, argv };
  }

  test('the largest context that fits the cap: shown in /models, passed to the child', async () => {
    // A cap 1 MiB above the need at 8192: 8192 fits, 8448 (about 10 MiB more) does not.
    const cap = admitted + (await estimate(8192)) - (await estimate(CTX_MIN)) + MiB;
    expect(await expectedCtx(cap)).toBe(8192);
    const { ctx, argv } = await loadAndChat(cap);
    expect(ctx).toEqual({ size: 8192, reason: `largest multiple of 256 fitting the ${Math.round(cap / MiB)} MiB left on CPU under --models-memory-max` });
    expect(argv[argv.indexOf('--ctx-size') + 1]).toBe('8192');
    expect(argv.filter((a) => a === '--ctx-size')).toHaveLength(1);
    expect(r!.logs().some((l) => l.msg === `auto: ctx-size 8192, ${ctx.reason}`)).toBe(true);

    // The measured figure is kept under the chosen context (--ctx-size 8192), never as the ctx-min need.
    const ledger = await waitFor('a measured figure', () => {
      try {
        const entries = JSON.parse(readFileSync(join(state, 'memory-ledger.json'), 'utf8')).entries as Record<string, unknown>;
        return Object.keys(entries).length > 0 ? Object.keys(entries) : undefined;
      } catch {
        return undefined;
      }
    });
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatch(/ctx-size=8192$/);
    expect(await r!.stop()).toBe(0);
    r = await start(cap);
    // A measured figure at ctx-min would be answered at once and never probed: the probe answering proves it was not.
    expect((await probed(r.url)).memory.devices.CPU).toBe(admitted);
  }, 240_000);

  test('a smaller cap (half the room above ctx-min): a smaller context, still loads and answers', async () => {
    // Half of what 8192 adds over ctx-min, not a share of the whole figure: the model's fixed part (weights, on a CPU
    // with AMX twice, and the engine's base) is most of it, and 20% of that alone would leave less than ctx-min.
    const cap = admitted + Math.floor(((await estimate(8192)) - (await estimate(CTX_MIN))) / 2);
    const want = await expectedCtx(cap);
    expect(want).toBeLessThan(8192);
    expect(want).toBeGreaterThan(CTX_MIN);
    const { ctx, argv } = await loadAndChat(cap);
    expect(ctx.size).toBe(want);
    expect(ctx.size % 256).toBe(0);
    expect(argv[argv.indexOf('--ctx-size') + 1]).toBe(String(want));
  }, 240_000);

  test('a cap too small for ctx-min: an OpenAI error naming ctx-min, and no child started', async () => {
    const cap = Math.min(admitted, await estimate(CTX_MIN)) - MiB;
    r = await start(cap);
    const err = await client(r.url)
      .chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(OpenAI.APIError);
    const e = err as InstanceType<typeof OpenAI.APIError>;
    expect(e.status).toBe(507);
    expect(e.code).toBe('model_too_large');
    expect(e.message).toMatch(
      new RegExp(`model 'auto' needs \\d+ MiB on CPU, which has ${Math.round(cap / MiB)} MiB, even at its smallest context \\(ctx-size = auto, ctx-min ${CTX_MIN}\\)$`),
    );
    const m = await probed(r.url);
    expect(m.pid).toBeUndefined();
    expect(m.ctx).toBeUndefined();
  }, 120_000);
});
