/**
 * How the engine starts and ends as a process: signals, stdin EOF, bad model files, bad flags, ignored
 * llama-server flags, and --api-key.
 */
import { execa } from 'execa';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModel } from '../helpers/models.js';
import { ENGINE_MAIN, postJson, startEngine, stopAll } from './harness.js';


let model: string;

beforeAll(async () => {
  model = await tinyModel();
});

afterAll(async () => {
  await stopAll();
});

describe('engine process', () => {
  it('exits 0 on SIGTERM', async () => {
    const engine = await startEngine(['-m', model]);
    await engine.waitReady();
    expect(await engine.stop()).toBe(0);
    expect(engine.stderr()).toMatch(/stopping \(SIGTERM\)/);
  });

  it('exits 0 when its stdin reaches EOF', async () => {
    const engine = await startEngine(['-m', model]);
    await engine.waitReady();
    engine.proc.stdin!.end();
    const res = await engine.proc;
    expect(res.exitCode).toBe(0);
    expect(engine.stderr()).toMatch(/stdin closed/);
  });

  it('fails fast, naming the file, on a truncated GGUF', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'engine-bad-'));
    const bytes = readFileSync(model);
    const cases = {
      truncated: bytes.subarray(0, Math.floor(bytes.length * 0.6)),
      headerOnly: bytes.subarray(0, 64),
      notGguf: Buffer.from('this is not a model at all, just some text\n'.repeat(20)),
    };
    for (const [name, content] of Object.entries(cases)) {
      const file = join(dir, `${name}.gguf`);
      writeFileSync(file, content);
      const started = Date.now();
      const res = await execa(process.execPath, [ENGINE_MAIN, '-m', file, '--port', '0'], { reject: false, timeout: 15_000 });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(res.exitCode).not.toBe(0);
      expect(res.exitCode).not.toBeUndefined();
      expect(res.stderr).toContain(file);
    }
  });

  it('prints usage and exits 2 on malformed flags', async () => {
    for (const args of [[], ['-m', model, '--port', 'http'], ['-m']]) {
      const res = await execa(process.execPath, [ENGINE_MAIN, ...args], { reject: false });
      expect(res.exitCode).toBe(2);
      expect(res.stderr).toMatch(/usage: router-engine/);
    }
  });

  it('warns once about each llama-server flag it ignores, and still serves', async () => {
    const engine = await startEngine(['-m', model, '--flash-attn', '--mlock', '--mlock', '--cache-type-k', 'q8_0', '-fa', 'on', '--some-new-flag', 'v']);
    await engine.waitReady();
    const lines = engine.stderr().split('\n');
    for (const flag of ['--flash-attn', '--mlock', '--cache-type-k', '-fa', '--some-new-flag']) {
      expect(lines.filter((l) => l.includes('ignoring') && l.includes(` ${flag} `))).toHaveLength(1);
    }
    expect(engine.stderr()).not.toMatch(/q8_0|unexpected argument/);
    await engine.stop();
  });

  it('serves --parallel N requests at once and queues the rest', async () => {
    const engine = await startEngine(['-m', model, '-np', '2']);
    await engine.waitReady();
    const slots = (await (await fetch(`${engine.url}/slots`)).json()) as Array<{ id: number }>;
    expect(slots.map((s) => s.id)).toEqual([0, 1]);
    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        // 150 tokens (~100 ms each): short answers could run one after another on a machine that stalls the client.
        postJson(`${engine.url}/v1/completions`, { prompt: `request ${i}`, max_tokens: 150, ignore_eos: true }),
      ),
    );
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.json.usage.completion_tokens).toBe(150);
    }
    const stats = (await (await fetch(`${engine.url}/stats`)).json()) as Record<string, number>;
    expect(stats).toEqual({ in_flight: 0, max_in_flight: 2, queued: 0, served: 5 });
    await engine.stop();
  });

  it('enforces --api-key on every route but /health', async () => {
    const engine = await startEngine(['-m', model, '--api-key', 'sekret']);
    await engine.waitReady();
    const body = { messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 };
    const attempts: Array<Record<string, string>> = [{}, { authorization: 'Bearer wrong' }, { authorization: 'Bearer sekret-and-more' }];
    for (const headers of attempts) {
      const { status, json } = await postJson(`${engine.url}/v1/chat/completions`, body, headers);
      expect(status).toBe(401);
      expect(json.error.type).toBe('authentication_error');
      const models = await fetch(`${engine.url}/v1/models`, { headers });
      expect(models.status).toBe(401);
    }
    const ok = await postJson(`${engine.url}/v1/chat/completions`, body, { authorization: 'Bearer sekret' });
    expect(ok.status).toBe(200);
    expect((await fetch(`${engine.url}/health`)).status).toBe(200);
    await engine.stop();
  });
});
