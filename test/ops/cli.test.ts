/** `router status | load | unload | logs` against a live router, and the router's own log formats. */
import { execa } from 'execa';
import getPort from 'get-port';
import { chat, ROUTER_BIN, startRouter, waitFor, type RunningRouter } from '../helpers/router.js';
import { modelsDir, presetFile } from '../router/fixtures.js';
import { cli } from './helpers.js';

const KEY = 'cli-test-key';

describe('control subcommands against a live router (API key)', () => {
  let r: RunningRouter;
  let env: Record<string, string>;

  beforeAll(async () => {
    const dir = await modelsDir(['alpha', 'beta']);
    const preset = presetFile(dir, '[alpha]\nalias = first\n');
    r = await startRouter(['--models-dir', dir, '--models-preset', preset, '--api-key', KEY]);
    env = { ROUTER_URL: r.url, ROUTER_API_KEY: KEY };
    // The router listens before its first device reading lands (it is taken in the background): the status
    // tests below want the device table.
    await waitFor('a device reading', async () => {
      const res = await fetch(`${r.url}/devices`, { headers: { Authorization: `Bearer ${KEY}` } });
      return ((await res.json()) as { data: unknown[] }).data.length > 0;
    });
  });
  afterAll(async () => {
    expect(await r.stop()).toBe(0);
  });

  test('status: a table of models with state, memory, in flight, queued', async () => {
    const res = await cli(['status'], env);
    expect(res.stderr).toBe('');
    expect(res.exitCode).toBe(0);
    const lines = res.stdout.split('\n');
    expect(lines[0]).toMatch(/^MODEL\s+STATE\s+MEMORY\s+IN FLIGHT\s+QUEUED\s+LAST USED$/);
    expect(lines[1]).toMatch(/^alpha\s+unloaded\s+.*\s0\s+0\s+never$/);
    expect(lines[2]).toMatch(/^beta\s+unloaded\s/);
    // The device table, when the router reads its devices.
    expect(res.stdout).toMatch(/^DEVICE\s+TOTAL\s+USED\s+FREE\s+MODELS$/m);
    expect(res.stdout).toMatch(/^CPU\s+[\d.]+ GiB/m);
  });

  test('status --json gives the raw answers', async () => {
    const res = await cli(['status', '--json', '--url', r.url, '--api-key', KEY]);
    expect(res.exitCode).toBe(0);
    const out = JSON.parse(res.stdout);
    expect(out.models.map((m: any) => m.id)).toEqual(['alpha', 'beta']);
    expect(out.devices.data[0].name).toBe('CPU');
  });

  test('load NAME (an alias too) waits until ready and says how long it took', async () => {
    const res = await cli(['load', 'first'], env);
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toMatch(/^alpha loaded in \d+\.\d s\n?$/);
    // No spinner off a terminal.
    expect(res.stderr).toBe('');
    const again = await cli(['load', 'alpha'], env);
    expect(again.stdout).toMatch(/alpha is already loaded/);
    const status = await cli(['status'], env);
    expect(status.stdout).toMatch(/^alpha\s+loaded\s+CPU [\d.]+ MiB \((measured|estimate|probe)\)/m);
  });

  test('load shows a spinner on a terminal', async () => {
    // util-linux `script` runs the command on a pseudo-terminal.
    const cmd = `${process.execPath} ${ROUTER_BIN} load beta`;
    const res = await execa('script', ['-qec', cmd, '/dev/null'], { env, reject: false, timeout: 60_000 });
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] loading beta… \d+\.\d s/);
    // On a terminal the result is in colour: compare its text.
    expect(res.stdout.replace(/\x1b\[\d+m/g, '')).toMatch(/beta loaded in \d+\.\d s/);
  });

  test('logs NAME prints the child output; -n limits it', async () => {
    const res = await cli(['logs', 'alpha'], env);
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(res.stdout).toMatch(/model ready/);
    const one = await cli(['logs', 'alpha', '-n', '1'], env);
    expect(one.stdout.trim().split('\n')).toHaveLength(1);
  });

  test('logs -f follows new lines until interrupted', async () => {
    const proc = execa(process.execPath, [ROUTER_BIN, 'logs', 'alpha', '-f'], { env, reject: false, buffer: false });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor('buffered lines', () => /model ready/.test(out));
    const res = await chat(r.url, 'alpha', {}, { headers: { authorization: `Bearer ${KEY}` } });
    await res.text();
    await waitFor('the new request line', () => /POST \/v1\/chat\/completions 200/.test(out));
    proc.kill('SIGINT');
    await proc;
  });

  test('--json on load, unload and logs: JSON on stdout, nothing else', async () => {
    const loaded = await cli(['load', 'beta', '--json'], env);
    expect(loaded.exitCode).toBe(0);
    expect(JSON.parse(loaded.stdout)).toEqual({ model: 'beta', status: 'loaded', already: expect.any(Boolean), seconds: expect.any(Number) });
    const logs = await cli(['logs', 'beta', '--json'], env);
    expect(logs.exitCode).toBe(0);
    const lines = logs.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.map((l) => l.text).join('\n')).toMatch(/model ready/);
    // -n, and an alias: the objects name the model itself.
    const last = await cli(['logs', 'first', '--json', '-n', '1'], env);
    expect(last.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([expect.objectContaining({ model: 'alpha' })]);
    for (const l of lines) {
      expect(l).toEqual({ model: 'beta', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/), text: expect.any(String) });
      expect(Date.now() - Date.parse(l.time)).toBeLessThan(10 * 60_000);
    }
    const unloaded = await cli(['unload', 'beta', '--json'], env);
    expect(JSON.parse(unloaded.stdout)).toEqual({ model: 'beta', status: 'unloaded', already: false, seconds: expect.any(Number) });
  });

  test('colour on a terminal, none with NO_COLOR or through a pipe', async () => {
    const onTty = (args: string, extra: Record<string, string> = {}) =>
      execa('script', ['-qec', `${process.execPath} ${ROUTER_BIN} ${args}`, '/dev/null'], {
        // A person's terminal: Node's hasColors() says 2 colours (none) whenever CI is set, as it is in CI runs.
        env: { ...env, TERM: 'xterm-256color', CI: undefined, ...extra },
        reject: false,
        timeout: 30_000,
      });
    const coloured = await onTty('status');
    expect(coloured.exitCode).toBe(0);
    expect(coloured.stdout).toContain('\x1b[1mMODEL'); // bold head
    expect(coloured.stdout.replace(/\x1b/g, 'ESC')).toMatch(/ESC\[32mloaded/); // a loaded model in green
    const logs = await onTty('logs alpha -n 2');
    expect(logs.stdout).toMatch(/\x1b\[2m\d{4}-\d\d-\d\dT[\d:.]+Z\x1b\[22m /); // the time, dimmed
    const plain = await onTty('status', { NO_COLOR: '1' });
    expect(plain.exitCode).toBe(0);
    expect(plain.stdout).toMatch(/MODEL\s+STATE/);
    expect(plain.stdout).not.toContain('\x1b[');
    // Through a pipe (every other test here) the same commands print plain text.
  });

  test('unload NAME', async () => {
    const res = await cli(['unload', 'alpha'], env);
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toMatch(/^alpha unloaded in \d+\.\d s/);
    const again = await cli(['unload', 'alpha'], env);
    expect(again.stdout).toMatch(/alpha is not loaded/);
    expect((await cli(['status'], env)).stdout).toMatch(/^alpha\s+unloaded\s/m);
  });

  test('an unknown model: a clear message, exit 1', async () => {
    for (const cmd of [['load', 'nope'], ['unload', 'nope'], ['logs', 'nope']]) {
      const res = await cli(cmd, env);
      expect(res.exitCode).toBe(1);
      expect(res.stderr).toMatch(/^error: model 'nope' not found/);
    }
  });

  test('no key or a wrong key: a clear message, exit 1', async () => {
    const none = await cli(['status', '--url', r.url]);
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toMatch(/needs an API key: pass --api-key KEY or set ROUTER_API_KEY/);
    const wrong = await cli(['status'], { ...env, ROUTER_API_KEY: 'wrong' });
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(/refused the API key/);
  });
});

describe('control subcommands without a router', () => {
  test('unreachable: a clear message, exit 1', async () => {
    const port = await getPort({ host: '127.0.0.1' });
    const res = await cli(['status', '--url', `http://127.0.0.1:${port}`]);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toMatch(/^error: cannot reach the router at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); is it running\?/);
  });

  test.each([
    [['load'], /missing required argument 'name'/],
    [['status', '--url', 'not a url'], /is not a URL/],
    [['logs', 'alpha', '-n', 'some'], /not an integer/],
    [['status', '--bogus'], /unknown option '--bogus'/],
  ])('usage errors %j exit 2', async (args, message) => {
    const res = await cli(args as string[]);
    expect(res.exitCode).toBe(2);
    expect(res.stderr).toMatch(message);
  });

  test('--help lists the subcommands', async () => {
    const res = await cli(['--help']);
    expect(res.exitCode).toBe(0);
    for (const c of ['status', 'load [options] <name>', 'unload [options] <name>', 'logs [options] <name>']) expect(res.stdout).toContain(c);
  });
});

describe("the router's own log: --log-format", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await modelsDir(['alpha']);
  });

  test('json: one JSON object per line', async () => {
    const r = await startRouter(['--models-dir', dir]);
    await r.stop();
    const lines = r.output().split('\n').filter((l) => l.trim());
    const records = lines.map((l) => JSON.parse(l));
    expect(records.some((x) => /router listening on/.test(x.msg) && x.level === 30)).toBe(true);
  });

  test('pretty: human lines, no JSON', async () => {
    // startRouter passes --log-format json first; the later flag wins.
    const r = await startRouter(['--models-dir', dir, '--log-format', 'pretty']);
    await r.stop();
    const out = r.output();
    expect(out).toMatch(/INFO.*router listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(out.split('\n').some((l) => l.startsWith('{'))).toBe(false);
  });

  test('anything else is a usage error', async () => {
    const port = await getPort({ host: '127.0.0.1' });
    const res = await execa(process.execPath, [ROUTER_BIN, '--models-dir', dir, '--port', String(port), '--log-format', 'xml'], { reject: false, timeout: 20_000 });
    expect(res.exitCode).toBe(2);
    expect(res.stderr).toMatch(/'xml' is not one of json, pretty/);
  });
});
