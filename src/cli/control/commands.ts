/**
 * `router status | load NAME | unload NAME | logs NAME [-f]`: control a running router over
 * its HTTP API (`--url`, default http://127.0.0.1:8080 or $ROUTER_URL; `--api-key` or
 * $ROUTER_API_KEY). Exit 0 on success, 1 when the router is unreachable or refuses, 2 for usage.
 * Colour on a terminal (NO_COLOR turns it off); `--json` on every command prints JSON instead
 * (logs: one object per line, so `-f --json` can be piped to jq); errors stay on stderr.
 */
import { Command, Option } from 'commander';
import { integer } from '../parse.js';
import { ControlError, DEFAULT_URL, call, request, targetOf, type Target } from './client.js';
import { paintFor, paintState } from './color.js';
import { ago, bytes, seconds, table } from './format.js';
import { spinner } from './spinner.js';

/** What the control commands read of `GET /models` (see src/http/models-routes.ts). */
interface ModelJson {
  id: string;
  aliases?: string[];
  status: { value: string; failed?: boolean; error?: string; exit_code?: number | null };
  in_flight: number;
  queued: number;
  last_used: number | null;
  waiting_for?: string;
  memory?: { devices: Record<string, number>; source: string };
}

interface DevicesJson {
  data: { name: string; label?: string; total: number; free: number }[];
  memory_margin: number | null;
}

interface GlobalOpts {
  url?: string;
  apiKey?: string;
}

function withTarget(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', `the router to talk to`).env('ROUTER_URL').default(DEFAULT_URL))
    .addOption(new Option('--api-key <key>', 'its API key').env('ROUTER_API_KEY'));
}

export function addControlCommands(program: Command): void {
  withTarget(program.command('status'))
    .description('models of a running router: state, memory per device, requests in flight and queued')
    .option('--json', 'print the raw /models and /devices answers', false)
    .action(async (opts: GlobalOpts & { json: boolean }) => status(targetOf(opts), opts.json));

  withTarget(program.command('load'))
    .description('load a model on a running router and wait until it is ready')
    .argument('<name>', 'model name or alias')
    .option('--json', 'print {model, status, already, seconds}', false)
    .action(async (name: string, opts: GlobalOpts & { json: boolean }) => load(targetOf(opts), name, opts.json));

  withTarget(program.command('unload'))
    .description('unload a model (once its requests in flight have finished)')
    .argument('<name>', 'model name or alias')
    .option('--json', 'print {model, status, already, seconds}', false)
    .action(async (name: string, opts: GlobalOpts & { json: boolean }) => unload(targetOf(opts), name, opts.json));

  withTarget(program.command('logs'))
    .description("print a model's child output kept by the router, each line after its time; -f to follow")
    .argument('<name>', 'model name or alias')
    .option('-f, --follow', 'keep printing new lines until interrupted', false)
    .option('-n, --lines <n>', 'only the last N lines', integer(0))
    .option('--json', 'one JSON object per line: {model, time, text}', false)
    .action(async (name: string, opts: GlobalOpts & { follow: boolean; lines?: number; json: boolean }) =>
      logs(targetOf(opts), name, opts.follow, opts.lines, opts.json),
    );
}

function stateOf(m: ModelJson): string {
  return m.status.failed ? 'failed' : m.status.value;
}

function memoryOf(m: ModelJson): string {
  const devs = Object.entries(m.memory?.devices ?? {});
  if (!devs.length) return '-';
  return `${devs.map(([d, b]) => `${d} ${bytes(b)}`).join(', ')} (${m.memory!.source})`;
}

async function models(t: Target): Promise<ModelJson[]> {
  return (await call<{ data: ModelJson[] }>(t, 'GET', '/models')).data;
}

/** `/devices` came with the dashboard; an older router without it just has no device table. */
async function devices(t: Target): Promise<DevicesJson | undefined> {
  try {
    return await call<DevicesJson>(t, 'GET', '/devices');
  } catch (err) {
    if (err instanceof ControlError && /not_found/.test(err.message)) return undefined;
    throw err;
  }
}

async function find(t: Target, name: string): Promise<ModelJson> {
  const list = await models(t);
  const m = list.find((x) => x.id === name) ?? list.find((x) => x.aliases?.includes(name));
  if (!m) {
    const known = list.map((x) => x.id).join(', ') || 'none';
    throw new ControlError(`model '${name}' not found on ${t.url} (models: ${known})`);
  }
  return m;
}

async function status(t: Target, json: boolean): Promise<void> {
  const [list, devs] = await Promise.all([models(t), devices(t)]);
  if (json) {
    process.stdout.write(`${JSON.stringify({ models: list, devices: devs ?? null }, null, 2)}\n`);
    return;
  }
  const p = paintFor();
  // last_used is when a request last finished: with one running, the model is in use now.
  const rows = list.map((m) => [m.id, stateOf(m), memoryOf(m), String(m.in_flight), String(m.queued), m.in_flight > 0 ? 'now' : ago(m.last_used)]);
  let out = table(['MODEL', 'STATE', 'MEMORY', 'IN FLIGHT', 'QUEUED', 'LAST USED'], rows, [3, 4], (cell, row, col) =>
    row < 0 ? p.bold(cell) : col === 0 ? p.cyan(cell) : col === 1 ? paintState(p, cell) : cell,
  );
  const notes = list.flatMap((m) => [
    ...(m.waiting_for ? [`${m.id}: ${p.yellow(`waiting for ${m.waiting_for}`)}`] : []),
    ...(m.status.failed && m.status.error ? [`${m.id}: ${p.red(m.status.error)}`] : []),
  ]);
  if (notes.length) out += `\n${notes.join('\n')}\n`;
  if (devs?.data.length) {
    const drows = devs.data.map((d) => {
      const held = list.reduce((n, m) => n + (isResident(m) ? (m.memory?.devices[d.name] ?? 0) : 0), 0);
      return [d.label ? `${d.name} (${d.label})` : d.name, bytes(d.total), bytes(d.total - d.free), bytes(d.free), bytes(held)];
    });
    out += `\n${table(['DEVICE', 'TOTAL', 'USED', 'FREE', 'MODELS'], drows, [1, 2, 3, 4], (cell, row) => (row < 0 ? p.bold(cell) : cell))}`;
    if (devs.memory_margin) out += `margin kept free on each device: ${bytes(devs.memory_margin)}\n`;
  }
  process.stdout.write(out);
}

function isResident(m: ModelJson): boolean {
  return ['loaded', 'loading', 'unloading'].includes(stateOf(m));
}

async function load(t: Target, name: string, json: boolean): Promise<void> {
  const p = paintFor();
  const m = await find(t, name);
  if (stateOf(m) === 'loaded') {
    done(json, { model: m.id, status: 'loaded', already: true, seconds: 0 }, `${p.cyan(m.id)} is already ${p.green('loaded')}`);
    return;
  }
  const started = Date.now();
  const spin = json ? undefined : spinner(() => `loading ${m.id}… ${seconds(Date.now() - started)}`);
  try {
    await call(t, 'POST', '/models/load', { model: m.id });
  } finally {
    spin?.stop();
  }
  const took = Date.now() - started;
  done(json, { model: m.id, status: 'loaded', already: false, seconds: took / 1000 }, `${p.cyan(m.id)} ${p.green('loaded')} in ${seconds(took)}`);
}

async function unload(t: Target, name: string, json: boolean): Promise<void> {
  const p = paintFor();
  const m = await find(t, name);
  const s = stateOf(m);
  if (s === 'unloaded' || s === 'failed') {
    done(json, { model: m.id, status: s, already: true, seconds: 0 }, `${p.cyan(m.id)} is not loaded`);
    return;
  }
  const started = Date.now();
  const spin = json ? undefined : spinner(() => `unloading ${m.id}… ${seconds(Date.now() - started)}`);
  try {
    await call(t, 'POST', '/models/unload', { model: m.id });
  } finally {
    spin?.stop();
  }
  const took = Date.now() - started;
  done(json, { model: m.id, status: 'unloaded', already: false, seconds: took / 1000 }, `${p.cyan(m.id)} ${p.yellow('unloaded')} in ${seconds(took)}`);
}

/** The outcome of load/unload: JSON for scripts, a sentence for people. */
function done(json: boolean, result: Record<string, unknown>, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${text}\n`);
}

async function logs(t: Target, name: string, follow: boolean, n: number | undefined, json: boolean): Promise<void> {
  const q = new URLSearchParams();
  if (follow) q.set('follow', '1');
  if (n !== undefined) q.set('n', String(n));
  const qs = q.size ? `?${q}` : '';
  // JSON names the model itself, also when `name` is an alias.
  const model = json ? (await find(t, name)).id : name;
  const res = await request(t, 'GET', `/logs/${encodeURIComponent(name)}${qs}`);
  const body = res.body;
  if (!body) return;
  const p = paintFor();
  // Plain text off a terminal goes through untouched; JSON and colour need whole lines.
  const perLine = json || p.enabled;
  const show = (line: string): string => {
    const [time, text] = splitTime(line);
    if (json) return `${JSON.stringify({ model, time: time ?? null, text })}\n`;
    return `${time ? `${p.dim(time)} ` : ''}${text}\n`;
  };
  let partial = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of body) {
      if (!perLine) {
        process.stdout.write(chunk);
        continue;
      }
      const lines = (partial + decoder.decode(chunk, { stream: true })).split('\n');
      partial = lines.pop()!;
      if (lines.length) process.stdout.write(lines.map(show).join(''));
    }
    if (perLine && partial) process.stdout.write(show(partial));
  } catch (err) {
    throw new ControlError(`lost the connection to the router at ${t.url}: ${(err as Error).message}`);
  }
  if (follow) throw new ControlError(`the router at ${t.url} closed the log stream`);
}

/** A kept log line starts with its time (ISO 8601, UTC) and a space. */
function splitTime(line: string): [string | undefined, string] {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) /.exec(line);
  return m ? [m[1], line.slice(m[0].length)] : [undefined, line];
}
