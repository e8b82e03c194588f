/** The `router` command's own input handling: usage errors exit 2, bad presets are named. */
import { execa } from 'execa';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROUTER_BIN } from '../helpers/router.js';

const run = (args: string[]) => execa(process.execPath, [ROUTER_BIN, ...args], { reject: false, timeout: 20_000 });

test('--help documents every flag with its default', async () => {
  const r = await run(['--help']);
  expect(r.exitCode).toBe(0);
  for (const flag of ['--models-dir', '--models-preset', '--models-max', '--no-models-autoload', '--host', '--port', '--api-key', '--server-bin', '--load-timeout', '--stop-timeout', '--queue-max', '--queue-timeout', '--state-dir', '--max-body', '--models-memory-margin', '--models-memory-max']) {
    expect(r.stdout).toContain(flag);
  }
  // commander wraps long lines: a default may sit on the next line.
  const flat = r.stdout.replace(/\s+/g, ' ');
  expect(flat).toMatch(/--models-max <n> [^-]*\(default: 4\)/);
  expect(flat).toMatch(/--port <port> [^-]*\(default: 8080\)/);
  expect(flat).toMatch(/--load-timeout <s> [^-]*\(default: 600\)/);
  expect(flat).toMatch(/--models-memory-margin <MiB> .*\(default: 1024\)/);
});

test('the timing knobs for tests are accepted but not in --help', async () => {
  const r = await run(['--help']);
  for (const flag of ['--tick', '--device-reading-max-age', '--device-cache', '--memory-recover']) expect(r.stdout).not.toContain(flag);
});

test.each([
  [['--models-max', 'many'], /models-max.*not an integer/],
  [['--tick', 'soon'], /tick.*not a number of seconds/],
  [['--tick', '0'], /tick.*not a positive number of seconds/],
  [['--device-cache', '-1'], /device-cache.*not a number of seconds/],
  [['--port', '99999'], /out of range/],
  [['--bogus'], /unknown option '--bogus'/],
  [['--max-body', 'lots'], /max-body/],
  [['stray'], /unexpected argument 'stray'/],
  [[], /--models-dir/],
])('bad flags %j exit 2 with usage', async (args, message) => {
  const r = await run(args as string[]);
  expect(r.exitCode).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).toMatch(/router --help/);
});

describe('--strict-presets: a bad preset stops the router at start, naming file, section and key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'router-presets-'));
  const model = join(dir, 'm.gguf');
  writeFileSync(model, 'GGUF');
  const cases: [string, string, RegExp][] = [
    ['unknown key', `[a]\nmodel = ${model}\nfrobnicate = 1\n`, /\[a\] frobnicate/],
    ['bad value', `[a]\nmodel = ${model}\nctx-size = big\n`, /\[a\] ctx-size/],
    ['duplicate alias', `[a]\nmodel = ${model}\nalias = x\n[b]\nmodel = ${model}\nalias = x\n`, /alias/],
    ['missing model file', `[a]\nmodel = ${join(dir, 'absent.gguf')}\n`, /\[a\] model/],
    ['cmd without ${PORT}', `[a]\ncmd = my-server --port 8000\n`, /\[a\] cmd.*\$\{PORT\}/],
  ];
  test.each(cases)('%s', async (_title, text, message) => {
    const file = join(dir, `${_title.replace(/\W+/g, '-')}.ini`);
    writeFileSync(file, text);
    const r = await run(['--models-preset', file, '--port', '0', '--strict-presets']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toMatch(message);
  });
});
