/**
 * A child's private API key is out of its argv: any local user reads /proc/PID/cmdline (ps), while
 * /proc/PID/environ is the router's user's alone. The key travels as LLAMA_API_KEY, which llama-server and the
 * bundled engine read; a `cmd` child gets it there too.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseFlags } from '../../src/engine/flags.js';
import { chat, json, models, ROOT, startRouter, type RunningRouter } from '../helpers/router.js';
import { modelsDir, presetFile } from '../router/fixtures.js';

describe('the bundled engine reads LLAMA_API_KEY as llama-server does', () => {
  test('from the environment when --api-key is not given; the flag wins', () => {
    const withEnv = parseFlags(['-m', 'a.gguf'], { LLAMA_API_KEY: 'from-env' });
    expect(withEnv.kind === 'ok' && withEnv.options.apiKey).toBe('from-env');
    const both = parseFlags(['-m', 'a.gguf', '--api-key', 'from-flag'], { LLAMA_API_KEY: 'from-env' });
    expect(both.kind === 'ok' && both.options.apiKey).toBe('from-flag');
    const none = parseFlags(['-m', 'a.gguf'], {});
    expect(none.kind === 'ok' && none.options.apiKey).toBeUndefined();
  });
});

function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
}

function environ(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

/** The child's own port, from its argv (the router passes --port N, or the cmd's ${PORT}). */
function portOf(pid: number): number {
  const args = cmdline(pid);
  return Number(args[args.indexOf('--port') + 1]);
}

async function expectKeyOnlyInEnvironment(r: RunningRouter, model: string): Promise<void> {
  const res = await chat(r.url, model);
  expect(res.status).toBe(200);
  await res.text();
  const pid = (await models(r.url)).find((m) => m.id === model).pid as number;
  const key = environ(pid).LLAMA_API_KEY;
  expect(key).toMatch(/^[0-9a-f]{48}$/);
  // Nowhere in what `ps` shows.
  const args = cmdline(pid);
  expect(args).not.toContain('--api-key');
  expect(args.join(' ')).not.toContain(key);
  // environ is the owner's only (0400), as the kernel sets it for every process.
  expect(statSync(`/proc/${pid}/environ`).mode & 0o077).toBe(0);
  // And the child does use it: refused without, served with.
  const child = `http://127.0.0.1:${portOf(pid)}`;
  expect((await fetch(`${child}/v1/models`)).status).toBe(401);
  const ok = await fetch(`${child}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
  expect(ok.status).toBe(200);
  expect((await json(ok)).data.length).toBeGreaterThan(0);
}

test('children get their key in LLAMA_API_KEY, not in argv, and enforce it: the bundled engine, and a `cmd` child without ${API_KEY}', async () => {
  const dir = await modelsDir(['alpha']);
  const engine = join(ROOT, 'bin', 'router-engine.js');
  const preset = presetFile(dir, `[cmdmodel]\nmodel = ${join(dir, 'alpha.gguf')}\ncmd = ${process.execPath} ${engine} --model \${MODEL} --alias cmdmodel --host \${HOST} --port \${PORT}\n`);
  const r = await startRouter(['--models-dir', dir, '--models-preset', preset]);
  try {
    await expectKeyOnlyInEnvironment(r, 'alpha');
    await expectKeyOnlyInEnvironment(r, 'cmdmodel');
  } finally {
    expect(await r.stop()).toBe(0);
  }
});
