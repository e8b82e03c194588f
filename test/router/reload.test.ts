/** Hot reload: new, removed, changed, unchanged and broken models, by every trigger. */
import { symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelEntry } from '../helpers/api.js';
import { tinyModel } from '../helpers/models.js';
import { chat, json, models, processesMentioning, startRouter, statusOf, waitFor } from '../helpers/router.js';
import { modelsDir } from './fixtures.js';


test('reload: added, removed, changed, unchanged and invalid models', async () => {
  const dir = await modelsDir(['alpha', 'beta', 'gone']);
  const preset = join(dir, 'presets.ini');
  writeFileSync(preset, '[alpha]\nctx-size = 2048\n');
  const r = await startRouter(['--models-dir', dir, '--models-preset', preset]);
  try {
    for (const m of ['alpha', 'beta', 'gone']) expect((await chat(r.url, m)).status).toBe(200);
    const alphaPid = (await modelEntry(r.url, 'alpha')).pid;
    const betaPid = (await modelEntry(r.url, 'beta')).pid;

    // One change of each kind, then POST /models/reload.
    symlinkSync(await tinyModel(), join(dir, 'fresh.gguf'));
    unlinkSync(join(dir, 'gone.gguf'));
    writeFileSync(preset, '[alpha]\nctx-size = 3072\n');
    const res = await fetch(`${r.url}/models/reload`, { method: 'POST' });
    const summary = await json(res);
    expect(res.status).toBe(200);
    expect(summary).toMatchObject({ added: ['fresh'], removed: ['gone'], changed: ['alpha'] });
    expect(summary.unchanged).toContain('beta');

    const list = (await models(r.url)).map((m) => m.id);
    expect(list).toContain('fresh');
    expect(list).not.toContain('gone');
    expect((await chat(r.url, 'gone')).status).toBe(404);
    await waitFor('the removed model is unloaded', () => processesMentioning(join(dir, 'gone.gguf')).length === 0);

    // Changed: restarted (once idle) with the new arguments; unchanged: same process.
    await waitFor('alpha restarted on demand', async () => (await statusOf(r.url, 'alpha')) === 'unloaded');
    expect((await chat(r.url, 'alpha')).status).toBe(200);
    const alpha = await modelEntry(r.url, 'alpha');
    expect(alpha.pid).not.toBe(alphaPid);
    expect(alpha.status.args).toEqual(expect.arrayContaining(['--ctx-size', '3072']));
    expect((await modelEntry(r.url, 'beta')).pid).toBe(betaPid);
    expect((await chat(r.url, 'fresh')).status).toBe(200);

    // A bad preset marks only that model invalid; the rest keep serving. GET /models?reload=1 triggers it.
    writeFileSync(preset, '[alpha]\nctx-size = 3072\n[beta]\nfrobnicate = 1\n');
    const after = await json(await fetch(`${r.url}/models?reload=1`));
    const beta = after.data.find((m: { id: string }) => m.id === 'beta');
    expect(beta.status).toMatchObject({ invalid: true, failed: true });
    expect(beta.status.error).toMatch(/frobnicate/);
    const bad = await chat(r.url, 'beta');
    expect(bad.status).toBe(500);
    expect((await json(bad)).error.code).toBe('model_invalid');
    expect((await chat(r.url, 'alpha')).status).toBe(200);

    // SIGHUP: fixing the preset brings beta back.
    writeFileSync(preset, '[alpha]\nctx-size = 3072\n');
    r.proc.kill('SIGHUP');
    await waitFor('beta valid again', async () => (await modelEntry(r.url, 'beta'))?.status?.invalid !== true);
    expect((await chat(r.url, 'beta')).status).toBe(200);

    // A catalogue that cannot be read at all keeps the running one.
    writeFileSync(preset, '[alpha\nbroken');
    const failed = await fetch(`${r.url}/models/reload`, { method: 'POST' });
    expect(failed.status).toBe(400);
    expect((await json(failed)).error.message).toMatch(/running catalogue is kept/);
    expect((await chat(r.url, 'alpha')).status).toBe(200);
  } finally {
    expect(await r.stop()).toBe(0);
  }
  expect(processesMentioning(dir)).toEqual([]);
});

test('--watch picks up a new model file by itself', async () => {
  const dir = await modelsDir(['alpha']);
  const r = await startRouter(['--models-dir', dir, '--watch']);
  try {
    symlinkSync(await tinyModel(), join(dir, 'watched.gguf'));
    await waitFor('watched model listed', async () => (await models(r.url)).some((m) => m.id === 'watched'));
    expect((await chat(r.url, 'watched')).status).toBe(200);
  } finally {
    await r.stop();
  }
});

test('a model removed while a request is in flight finishes that request first', async () => {
  const dir = await modelsDir(['alpha']);
  const r = await startRouter(['--models-dir', dir]);
  try {
    expect((await chat(r.url, 'alpha')).status).toBe(200);
    const inflight = chat(r.url, 'alpha', { ignore_eos: true, max_tokens: 100 });
    await waitFor('in flight', async () => (await modelEntry(r.url, 'alpha'))?.in_flight === 1);
    unlinkSync(join(dir, 'alpha.gguf'));
    await fetch(`${r.url}/models/reload`, { method: 'POST' });
    const res = await inflight;
    expect(res.status).toBe(200);
    expect((await json(res)).usage.completion_tokens).toBe(100);
    await waitFor('unloaded after it finished', () => processesMentioning(join(dir, 'alpha.gguf')).length === 0);
  } finally {
    await r.stop();
  }
});
