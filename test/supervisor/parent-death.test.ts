import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { listGroupPids, pidAlive, readProcStat, signalGroup } from '../../src/supervisor/index.js';
import { PDEATHSIG_WRAPPER } from '../../src/supervisor/spawn.js';
import { FAKE_SERVER, pidOf, waitFor } from './helpers.js';

/**
 * The router dies by SIGKILL (OOM killer, kill -9): none of its code runs. What dies with it?
 * A stand-in router (a node script using the real supervisor, transpiled to a temp dir) starts a Child with a
 * grandchild, reports the pids, and is SIGKILLed.
 */
const SRC = fileURLToPath(new URL('../../src/supervisor/', import.meta.url));
const NODE_MODULES = fileURLToPath(new URL('../../node_modules', import.meta.url));

let dir: string;
let router: ChildProcess | undefined;
const leftovers: number[] = [];

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'supervisor-parent-death-'));
  mkdirSync(path.join(dir, 'supervisor'));
  for (const file of readdirSync(SRC).filter((f) => f.endsWith('.ts'))) {
    const out = ts.transpileModule(readFileSync(path.join(SRC, file), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    writeFileSync(path.join(dir, 'supervisor', file.replace(/\.ts$/, '.js')), out.outputText);
  }
  writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}');
  symlinkSync(NODE_MODULES, path.join(dir, 'node_modules'));
  writeFileSync(
    path.join(dir, 'router.js'),
    `import { Child } from './supervisor/index.js';
const child = new Child({
  name: 'orphan-test',
  command: process.execPath,
  args: (port) => [${JSON.stringify(FAKE_SERVER)}, '--port', String(port), ...process.argv.slice(2)],
  loadTimeoutMs: 10000,
  stopTimeoutMs: 2000,
});
await child.start();
console.log(JSON.stringify({ pid: child.pid, lines: child.lastLines() }));
setInterval(() => {}, 1000);
`,
  );
});

afterEach(() => {
  router?.kill('SIGKILL');
  router = undefined;
  for (const pgid of leftovers.splice(0)) signalGroup(pgid, 'SIGKILL');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function startRouter(flags: string[]): Promise<{ routerPid: number; pid: number; lines: string[] }> {
  const proc = spawn(process.execPath, [path.join(dir, 'router.js'), ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
  router = proc;
  const report = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl !== -1) resolve(out.slice(0, nl));
    });
    proc.once('exit', (code) => reject(new Error(`router exited early with ${code}: ${out}`)));
  });
  const { pid, lines } = JSON.parse(report) as { pid: number; lines: string[] };
  leftovers.push(pid);
  return { routerPid: proc.pid!, pid, lines };
}

async function killRouter(): Promise<void> {
  const proc = router!;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await exited;
}

const linux = PDEATHSIG_WRAPPER ? it : it.skip;

linux('the child dies with the router (pdeathsig), even when the router is SIGKILLed', async () => {
  const { routerPid, pid } = await startRouter([]);
  expect(readProcStat(pid)?.ppid).toBe(routerPid);
  await killRouter();
  await waitFor(() => !pidAlive(pid), 3000, 'the child to die with its parent');
  // Re-parented to a PID 1 that does not reap: a zombie, which /proc shows and pidAlive counts as gone.
  expect(['Z', 'X', undefined]).toContain(readProcStat(pid)?.state);
});

linux('a grandchild in the group does NOT die with the router: pdeathsig is not inherited across fork', async () => {
  // Documents the limit: pdeathsig covers the direct child; stop() covers the group; only a router that dies
  // without running stop() leaves a grandchild behind (unless the grandchild itself watches stdin or its parent).
  const { pid, lines } = await startRouter(['--spawn-grandchild']);
  const grandchild = pidOf(lines, 'grandchild');
  await killRouter();
  await waitFor(() => !pidAlive(pid), 3000, 'the child to die with its parent');
  await new Promise((r) => setTimeout(r, 300));
  expect(pidAlive(grandchild)).toBe(true);
  // Still in the dead child's process group, so a router that remembers pgids can find and kill it on restart.
  expect(listGroupPids(pid)).toEqual([grandchild]);
  signalGroup(pid, 'SIGKILL');
  await waitFor(() => !pidAlive(grandchild), 3000, 'the grandchild to die');
});
