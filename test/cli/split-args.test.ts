/** llama-server command lines as written: the router's flags stay its own, every other llama-server flag goes to the children. */
import { buildProgram } from '../../src/cli/program.js';
import { splitArgs, SplitError } from '../../src/cli/split-args.js';
import { parsePresetFile, routerSettingsOf } from '../../src/catalog/index.js';

const program = buildProgram();
const split = (line: string) => splitArgs(program, line.split(' ').filter(Boolean));

test('router flags anywhere on the line stay the router\'s, even after child flags', () => {
  expect(split('--models-dir m -c 8192 -ngl 99 --port 9000 --jinja --models-max=2 -fa on')).toEqual({
    router: ['--models-dir', 'm', '--port', '9000', '--models-max=2'],
    child: ['-c', '8192', '-ngl', '99', '--jinja', '-fa', 'on'],
  });
});

test('after -- everything is the children\'s; flags before it come first', () => {
  expect(split('--models-dir m -t 2 -- --ctx-size 4096 --port-like-value')).toEqual({
    router: ['--models-dir', 'm'],
    child: ['-t', '2', '--ctx-size', '4096', '--port-like-value'],
  });
});

test('two-value flags, --x=v, negative values and optional on/off values', () => {
  expect(split('--control-vector-layer-range 1 5 --temp=0.2 --seed -1 --flash-attn --jinja').child).toEqual([
    '--control-vector-layer-range', '1', '5', '--temp=0.2', '--seed', '-1', '--flash-attn', '--jinja',
  ]);
});

test('llama-server\'s router flags are the router\'s: --models-autoload, --api-key-file, --metrics (serve.ts hands children --metrics)', () => {
  expect(split('--models-autoload --api-key-file k --metrics --no-models-autoload')).toEqual({
    router: ['--models-autoload', '--api-key-file', 'k', '--metrics', '--no-models-autoload'],
    child: [],
  });
});

test('a subcommand parses its own flags', () => {
  expect(split('probe m -c 4096')).toEqual({ router: ['probe', 'm', '-c', '4096'], child: [] });
  expect(split('--api-key K status --json')).toEqual({ router: ['--api-key', 'K', 'status', '--json'], child: [] });
});

test.each([
  ['--models-dir m --frobnicate', /unknown option '--frobnicate'/],
  ['--models-dir m -c', /option '-c' needs a value/],
  ['--models-dir m stray', /unexpected argument 'stray'/],
])('%s is a usage error', (line, message) => {
  expect(() => split(line)).toThrow(SplitError);
  expect(() => split(line)).toThrow(message);
});

test('[*] models-max and models-autoload configure the router and are not child options', () => {
  const preset = parsePresetFile('[*]\nmodels-max = 1\nno-models-autoload = true\nctx-size = 512\n[a]\nmodel = /a.gguf\n', '/p.ini');
  const { router, rest } = routerSettingsOf(preset.global);
  expect(router).toEqual({ modelsMax: 1, modelsAutoload: false });
  expect(rest!.entries.map((e) => e.key)).toEqual(['ctx-size']);
  const bad = parsePresetFile('[*]\nmodels-max = many\n', '/p.ini');
  expect(() => routerSettingsOf(bad.global)).toThrow(/\/p\.ini \[\*\] models-max/);
});
