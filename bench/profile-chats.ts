/**
 * Where a proxy's CPU goes on 1-token chats with a real llama-server child: the router or the bare relay in front of
 * one llama-server on the generated tiny model, one client connection (or more), and either V8's CPU profile or
 * `strace -c` of its main thread. The profile and system-call figures in docs/BENCHMARKS.md's findings (issue 14's
 * fourth pass) come from it.
 *
 *   LLAMA_SERVER=/path/to/llama-server node dist/bench/profile-chats.js router|relay [--strace] [--seconds S] [--conns N] [--fresh]
 *
 * The profile covers the proxy's whole life, start-up included (module loading shows up as node:modules and
 * compile frames): compare the request-path rows, per request served.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import getPort from 'get-port';
import { makeTinyModel } from '../src/gguf/tiny-model.js';
import { load } from './client.js';
import { BARE_RELAY, ROUTER_BIN } from './processes.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { strace: { type: 'boolean' }, fresh: { type: 'boolean' }, seconds: { type: 'string', default: '8' }, conns: { type: 'string', default: '1' } },
});
const which = positionals[0];
const llamaServer = process.env.LLAMA_SERVER;
if ((which !== 'router' && which !== 'relay') || !llamaServer) {
  process.stderr.write('usage: LLAMA_SERVER=/path/to/llama-server profile-chats router|relay [--strace] [--seconds S] [--conns N] [--fresh]\n');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'profile-chats-'));
const model = join(dir, 'tiny.gguf');
await makeTinyModel(model, {});
const childArgs = ['-m', model, '--host', '127.0.0.1', '-c', '512', '-np', '1', '-t', '1', '--no-webui'];
const prof = values.strace ? [] : ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '50'];
const procs: ChildProcess[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function healthy(url: string): Promise<void> {
  for (;;) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
}

const port = await getPort({ host: '127.0.0.1' });
if (which === 'router') {
  writeFileSync(join(dir, 'p.ini'), `[tiny-llama]\ncmd = /usr/bin/env -u LLAMA_API_KEY ${llamaServer} ${childArgs.join(' ')} --port \${PORT}\n`);
  procs.push(spawn(process.execPath, [...prof, ROUTER_BIN, '--port', String(port), '--models-preset', join(dir, 'p.ini'), '--models-memory-margin', '0', '--log-level', 'warn'], { stdio: 'inherit' }));
} else {
  const childPort = await getPort({ host: '127.0.0.1' });
  procs.push(spawn(llamaServer, [...childArgs, '--port', String(childPort)], { stdio: 'ignore' }));
  await healthy(`http://127.0.0.1:${childPort}/health`);
  procs.push(spawn(process.execPath, [...prof, BARE_RELAY, String(port), String(childPort)], { stdio: 'ignore' }));
}
const proxy = procs.at(-1)!;
try {
  await healthy(`http://127.0.0.1:${port}/health`);
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  const body = JSON.stringify({ model: 'tiny-llama', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1 });
  const fresh = { fresh: values.fresh === true };
  const warm = await load(url, body, Number(values.conns), 2, fresh); // also loads the router's model
  const tracer = values.strace ? spawn('strace', ['-c', '-p', String(proxy.pid)], { stdio: ['ignore', 'inherit', 'inherit'] }) : undefined;
  if (tracer) await sleep(300);
  const r = await load(url, body, Number(values.conns), Number(values.seconds), fresh);
  if (tracer) {
    tracer.kill('SIGINT');
    await new Promise((res) => tracer.once('exit', res));
  }
  const served = warm.latencies.length + r.latencies.length;
  console.log(`${which}: ${r.latencies.length} answers in ${values.seconds} s (${r.rps.toFixed(0)} rps), ${r.failures} failures; ${served} served in all`);
  for (const p of [...procs].reverse()) {
    p.kill('SIGTERM');
    await new Promise((res) => p.once('exit', res));
  }
  if (!values.strace) report(served);
} finally {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  // The profile is kept for a closer look (its path is printed); the model and preset are not.
  rmSync(join(dir, 'tiny.gguf'), { force: true });
  rmSync(join(dir, 'p.ini'), { force: true });
  if (values.strace) rmSync(dir, { recursive: true, force: true });
}

/** The profile's samples per request served, by where they fall: our files, node's modules, native frames. */
function report(served: number): void {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no CPU profile written in ${dir}`);
  const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const frames = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const by = new Map<string, number>();
  let busy = 0;
  p.samples.forEach((id, i) => {
    const { functionName, url } = frames.get(id)!;
    if (functionName === '(idle)') return;
    const key = url.includes('/dist/src/')
      ? `ours: ${url.replace(/^.*\/dist\/src\//, '')}`
      : url.includes('node_modules')
        ? `lib: ${url.replace(/^.*node_modules\//, '').split('/')[0]}`
        : url.startsWith('node:')
          ? `node: ${url.slice(5).replace(/^internal\//, '').split('/')[0]}`
          : functionName || '(native)';
    const us = (p.timeDeltas[i] ?? 0) / served;
    by.set(key, (by.get(key) ?? 0) + us);
    busy += us;
  });
  console.log(`samples per request served: ${busy.toFixed(0)} us (profile: ${join(dir, file)})`);
  for (const [key, us] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`${us.toFixed(1).padStart(8)} us  ${key}`);
}
