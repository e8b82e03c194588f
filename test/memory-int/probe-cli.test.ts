/**
 * `router probe NAME|FILE [child flags]`: the same figures as the bundled engine's --dry-run for a file,
 * the same JSON as GET /models for a catalogued model, exit 2 on usage errors and 1 without a figure.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { tinyModel } from '../helpers/models.js';
import { models, processesMentioning, ROOT, ROUTER_BIN, startRouter, waitFor } from '../helpers/router.js';
import { modelsDir, presetFile } from '../router/fixtures.js';

const ENGINE_BIN = join(ROOT, 'bin', 'router-engine.js');

let state: string;
beforeAll(async () => {
  state = await mkdtemp(join(tmpdir(), 'memory-int-probe-'));
});
afterAll(() => rm(state, { recursive: true, force: true }));

/** `router probe ...` with a fresh ledger: exit code, stdout JSON (when any), stderr. */
async function probe(...args: string[]) {
  const res = await execa(process.execPath, [ROUTER_BIN, 'probe', '--state-dir', state, ...args], { reject: false });
  let out: any;
  try {
    out = JSON.parse(String(res.stdout));
  } catch {
    out = undefined;
  }
  return { code: res.exitCode, out, stderr: String(res.stderr) };
}

async function dryRun(file: string, flags: string[]) {
  const res = await execa(process.execPath, [ENGINE_BIN, '-m', file, ...flags, '--dry-run']);
  return JSON.parse(String(res.stdout).trim().split('\n').at(-1)!);
}

test.each([[['-c', '2048']], [['-c', '4096', '-np', '2']], [['--ctx-size', '8192', '--parallel', '4']]])(
  'router probe FILE %j agrees with the bundled engine --dry-run',
  async (flags) => {
    const file = await tinyModel();
    const [ours, engine] = await Promise.all([probe(file, ...flags), dryRun(file, flags)]);
    expect(ours.code).toBe(0);
    expect(ours.out).toEqual({ devices: engine.devices, source: 'probe' });
  },
);

test('router probe NAME prints what GET /models shows for it', async () => {
  const dir = await modelsDir(['alpha']);
  const routerState = await mkdtemp(join(tmpdir(), 'memory-int-probe-router-'));
  const r = await startRouter(['--models-dir', dir, '--state-dir', routerState, '--', '-c', '4096']);
  try {
    const shown = await waitFor('the probe figure in /models', async () => {
      const m = (await models(r.url)).find((x) => x.id === 'alpha');
      return m.memory?.source === 'probe' && m.memory;
    });
    const ours = await probe('alpha', '--models-dir', dir, '-c', '4096');
    expect(ours.code).toBe(0);
    expect(ours.out).toEqual(shown);
    // Child flags after the name, or after --, are the same thing.
    expect((await probe('alpha', '--models-dir', dir, '--', '-c', '4096')).out).toEqual(shown);
  } finally {
    expect(await r.stop()).toBe(0);
    expect(processesMentioning(dir)).toEqual([]);
    await rm(routerState, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  }
});

test('presets: an override as written, a preset probe, and no figure at all (exit 1)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'memory-int-probe-presets-'));
  try {
    const preset = presetFile(
      dir,
      [
        '[fixed]\ncmd = sleep 100 ${PORT}\nmemory = CUDA0:8GiB, CPU:512MiB',
        `[probed]\ncmd = sleep 100 \${PORT}\nprobe = echo '{"devices":{"CPU":"2GiB"}}'`,
        '[unknown]\ncmd = sleep 100 ${PORT}',
      ].join('\n\n'),
    );
    expect((await probe('fixed', '--models-preset', preset)).out).toEqual({
      devices: { CUDA0: 8 * 2 ** 30, CPU: 512 * 2 ** 20 },
      source: 'override',
    });
    expect((await probe('probed', '--models-preset', preset)).out).toEqual({ devices: { CPU: 2 * 2 ** 30 }, source: 'probe' });
    const none = await probe('unknown', '--models-preset', preset);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no memory figure for 'unknown'/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('usage errors exit 2 and say why', async () => {
  const dir = await modelsDir(['alpha']);
  try {
    const cases: [string[], RegExp][] = [
      [[], /missing required argument 'model'/],
      [['/no/such/file.gguf'], /no such file '\/no\/such\/file\.gguf' \(to probe a model by name, give --models-dir or --models-preset\)/],
      [['alpha'], /no such file 'alpha'/],
      [[dir], /is not a file/],
      [['beta', '--models-dir', dir], /model 'beta' is not in the catalogue, and there is no such file/],
      [['alpha', '--models-dir', join(dir, 'missing')], /bad preset or model/],
    ];
    for (const [args, message] of cases) {
      const res = await probe(...args);
      expect({ args, code: res.code }).toEqual({ args, code: 2 });
      expect(res.stderr).toMatch(message);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
