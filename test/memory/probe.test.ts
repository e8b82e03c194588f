import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ProbeError, parseProbeOutput, runProbe } from '../../src/memory/probe.js';

const GiB = 1024 ** 3;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'probe-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function script(name: string, body: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, body);
  return file;
}

describe('runProbe', () => {
  test('a script printing one JSON line, with log lines around it (argv form)', async () => {
    const s = await script('ok.js', `console.log('loading...'); console.log(JSON.stringify({devices:{CPU:123456789,cuda0:"8GiB"},ctx_size:4096})); console.error('done');`);
    const r = await runProbe([process.execPath, s], { timeoutMs: 10_000 });
    expect(r.devices).toEqual({ CPU: 123456789, CUDA0: 8 * GiB });
    expect(r.report.ctx_size).toBe(4096);
  });

  test('shell string form', async () => {
    const r = await runProbe(`echo '{"devices":{"CPU":42}}'`);
    expect(r.devices).toEqual({ CPU: 42 });
  });

  test('garbage output is a clear error', async () => {
    const s = await script('garbage.js', `console.log('hello, I am not JSON')`);
    await expect(runProbe([process.execPath, s])).rejects.toThrow(/printed no JSON line.*hello, I am not JSON.*expected one line like/);
  });

  test('no output and JSON without devices are clear errors', async () => {
    await expect(runProbe('true')).rejects.toThrow(/printed nothing/);
    await expect(runProbe(`echo '{"cpu":1}'`)).rejects.toThrow(/no "devices" object/);
    await expect(runProbe(`echo '{"devices":{"CPU":-5}}'`)).rejects.toThrow(/bad size for CPU/);
  });

  test('exit 1 is an error carrying the exit code and stderr', async () => {
    const s = await script('fail.js', `console.error('model file not found'); process.exit(1)`);
    const err = (await runProbe([process.execPath, s]).catch((e) => e)) as ProbeError;
    expect(err).toBeInstanceOf(ProbeError);
    expect(err.message).toMatch(/exited with code 1.*\n.*model file not found/);
    expect(err.details.exitCode).toBe(1);
  });

  test('a command that does not exist', async () => {
    await expect(runProbe(['/nonexistent/probe'])).rejects.toThrow(/could not run/);
    await expect(runProbe('/nonexistent/probe --dry-run')).rejects.toThrow(/exited with code 127/);
    await expect(runProbe('  ')).rejects.toThrow(/empty probe command/);
  });

  test('a hung probe is killed at the timeout, including what the shell started', async () => {
    const t0 = Date.now();
    await expect(runProbe(`sleep 30; echo '{"devices":{}}'`, { timeoutMs: 300 })).rejects.toThrow(/timed out after 300 ms/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('parseProbeOutput', () => {
  test('the last JSON line wins', () => {
    expect(parseProbeOutput('{"devices":{"CPU":1}}\n{"devices":{"CPU":2}}\n').devices).toEqual({ CPU: 2 });
  });
});
