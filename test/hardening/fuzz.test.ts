/**
 * Hostile input against one live router: thousands of generated requests (malformed and
 * truncated JSON, wrong types, huge and deep bodies, hostile model names, wrong content types
 * and methods, unknown routes, broken HTTP framing) while slowloris clients trickle headers.
 *
 * The seed is printed; FUZZ_SEED=N reproduces a run, FUZZ_COUNT=N changes its length.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { json, models, processesMentioning, startRouter, waitFor, type RunningRouter } from '../helpers/router.js';
import { modelsDir } from '../router/fixtures.js';
import { envInteger, envSeed } from '../helpers/seed.js';
import { generate, MARK, MODEL, type Case } from './fuzz/cases.js';
import { Random } from './fuzz/random.js';
import { sendHttp, sendRaw, verdict } from './fuzz/send.js';
import { slowloris } from './fuzz/slowloris.js';

const SEED = envSeed('FUZZ_SEED');
const COUNT = envInteger('FUZZ_COUNT', 2000);
// Printed on every run, before anything can fail; a failure names it too (the test's title and its first check).
// eslint-disable-next-line no-console
console.log(`fuzz seed ${SEED} (FUZZ_SEED=${SEED} reproduces), ${COUNT} cases`);
const CONCURRENCY = 24;
const MAX_BODY = 256 * 1024;
/** headersTimeout (15 s) plus the 1 s check, with room for a loaded machine; node's defaults hold a socket 60 to 90 s. */
const SLOWLORIS_BOUND_MS = 40_000;

let r: RunningRouter;
let dir: string;

beforeAll(async () => {
  dir = await modelsDir([MODEL]);
  // Eight slots: the child's quick 400s need not wait behind generations.
  r = await startRouter(['--models-dir', dir, '--max-body', String(MAX_BODY), '--models-concurrency', '8']);
});

afterAll(async () => {
  expect(await r.stop()).toBe(0);
  expect(processesMentioning(dir)).toEqual([]);
});

function routerAlive(): boolean {
  return r.proc.exitCode === null && r.proc.signalCode === null;
}

/** Live pids whose parent is `pid`. */
function childPids(pid: number): number[] {
  return processesMentioning('').filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
    } catch {
      return false;
    }
  });
}

/** `pid`, its parent and its command line, for a readable diff. */
function processLine(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    return `${pid} (parent ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]}): ${cmd.slice(0, 300)}`;
  } catch {
    return `${pid} (gone)`;
  }
}

test(`thousands of generated hostile requests: no crash, OpenAI errors, no stray child, references back to zero (seed ${SEED})`, async () => {
  const rng = new Random(SEED);
  const ctx = { maxBody: MAX_BODY, modelPath: join(dir, `${MODEL}.gguf`) };
  const cases: Case[] = Array.from({ length: COUNT }, () => generate(rng, ctx));
  const base = new URL(r.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const failures: string[] = [];
  const tally = new Map<string, { n: number; ms: number }>();
  let done = 0;
  let doneWhenFirstSlowClosed = -1;

  const slow = [slowloris(r.port), slowloris(r.port), slowloris(r.port)].map((p) =>
    p.then((res) => {
      if (doneWhenFirstSlowClosed < 0) doneWhenFirstSlowClosed = done;
      return res;
    }),
  );

  const started = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      const c = cases[i]!;
      const where = `case ${i} (${c.label}; seed ${SEED})`;
      const t0 = Date.now();
      try {
        if (c.kind === 'raw') {
          const got = await sendRaw(r.port, c);
          if (!got.closed) failures.push(`${where}: the server kept the socket open`);
          const first = c.okFirst ?? 0;
          for (const a of got.answers.slice(0, first)) if (a.status !== 200) failures.push(`${where}: pipelined answer ${a.status}`);
          const refusals = got.answers.slice(first);
          if (refusals.length === 0 && first === 0) failures.push(`${where}: no answer (${JSON.stringify(got.rest.slice(0, 200))})`);
          for (const a of refusals) {
            const bad = verdict('error', 'GET', a);
            if (bad) failures.push(`${where}: ${bad}`);
          }
          if (got.rest) failures.push(`${where}: trailing bytes ${JSON.stringify(got.rest.slice(0, 200))}`);
        } else {
          const a = await sendHttp(base, c, agent);
          if (a !== 'aborted') {
            const bad = verdict(c.expect, c.method, a);
            if (bad) failures.push(`${where}: ${c.method} ${c.path.slice(0, 120)}: ${bad}`);
          }
        }
      } catch (err) {
        failures.push(`${where}: ${c.kind === 'http' ? `${c.method} ${c.path.slice(0, 120)}: ` : ''}${(err as Error).message}`);
      }
      const t = tally.get(c.label) ?? { n: 0, ms: 0 };
      tally.set(c.label, { n: t.n + 1, ms: t.ms + Date.now() - t0 });
      done++;
      if (done % 250 === 0 && !routerAlive()) failures.push(`router exited after ${done} cases:\n${r.output().slice(-2000)}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const fuzzMs = Date.now() - started;
  agent.destroy();
  // eslint-disable-next-line no-console
  console.log(
    `fuzz: ${COUNT} cases in ${fuzzMs} ms at ${CONCURRENCY} concurrent (count, mean time, kind):\n` +
      [...tally].sort((a, b) => b[1].n - a[1].n).map(([k, v]) => `  ${v.n}\t${Math.round(v.ms / v.n)} ms\t${k}`).join('\n'),
  );

  if (!routerAlive()) failures.unshift(`the router exited:\n${r.output().slice(-3000)}`);
  expect({ failed: failures.length, first: failures.slice(0, 20), reproduce: `FUZZ_SEED=${SEED}` }).toEqual({ failed: 0, first: [], reproduce: `FUZZ_SEED=${SEED}` });
  expect(routerAlive()).toBe(true);
  expect((await fetch(`${r.url}/health`)).status).toBe(200);

  // Nothing but the catalogue's one model is known, and at most it was started.
  const list = await models(r.url);
  expect(list.map((m) => m.id)).toEqual([MODEL]);
  expect(processesMentioning(MARK)).toEqual([]);
  const alpha = list[0];
  const kids = childPids(r.proc.pid!);
  expect(kids).toEqual(alpha.status.value === 'loaded' ? [alpha.pid] : []);
  // The router names the folder too; anything else that does is one of its children.
  expect(processesMentioning(dir).filter((p) => p !== r.proc.pid).map(processLine)).toEqual(kids.map(processLine));

  // Abandoned streams release their reference once the child notices; nothing stays counted.
  await waitFor('references back to zero', async () => {
    const m = (await models(r.url))[0];
    return m.in_flight === 0 && m.queued === 0;
  });
  const metrics = await (await fetch(`${r.url}/metrics`)).text();
  for (const gauge of ['router_requests_in_flight', 'router_queue_length']) {
    const samples = metrics.split('\n').filter((l) => l.startsWith(`${gauge}{`) || l.startsWith(`${gauge} `));
    expect(samples.length).toBeGreaterThan(0);
    for (const s of samples) expect(`${s}`).toMatch(/ 0$/);
  }

  // Slowloris: each socket cut by the header timeout with a JSON 408, while the others were served.
  const held = await Promise.all(slow);
  for (const s of held) {
    expect(s.heldMs).toBeLessThan(SLOWLORIS_BOUND_MS);
    expect(s.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(s.received.slice(s.received.indexOf('\r\n\r\n') + 4)).error.code).toBe('request_timeout');
  }
  expect(doneWhenFirstSlowClosed).toBeGreaterThan(0);
  const health = await json(await fetch(`${r.url}/health`));
  expect(health.status).toBe('ok');

  // eslint-disable-next-line no-console
  console.log(
    `slowloris sockets held ${held.map((s) => s.heldMs).join(', ')} ms (${held.map((s) => s.sent).join(', ')} header bytes); ` +
      `${doneWhenFirstSlowClosed} cases answered meanwhile`,
  );
}, 180_000);
