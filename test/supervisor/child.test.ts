import http from 'node:http';
import net from 'node:net';
import { Child, ChildStartError, freePort, listGroupPids, pidAlive, processGroupAlive, type ExitInfo } from '../../src/supervisor/index.js';
import { fakeServer, pidOf, waitFor } from './helpers.js';

// Every Child a test makes is stopped afterwards, so a failing test leaves no processes behind.
const children: Child[] = [];
function track(child: Child): Child {
  children.push(child);
  return child;
}
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.stop()));
});

function exitEvents(child: Child): ExitInfo[] {
  const events: ExitInfo[] = [];
  child.on('exit', (info: ExitInfo) => events.push(info));
  return events;
}

async function startError(p: Promise<unknown>): Promise<ChildStartError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ChildStartError);
    return err as ChildStartError;
  }
  throw new Error('start() resolved, expected a rejection');
}

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

describe('Child', () => {
  it("keeps its own health polls out of the log ring, the log sink and a load failure's lines", async () => {
    const logged: string[] = [];
    const child = track(new Child(fakeServer(['--health-delay-ms', '400', '--log-requests'], { onLog: (line) => logged.push(line) })));
    await child.start();
    expect(await get(child.port!, '/v1/models')).toBe(404);
    expect(await get(child.port!, '/health?x=1')).toBe(200);
    await waitFor(() => logged.some((l) => l.includes('/v1/models')), 2_000, 'the request line');
    // A client's request is the child's news and stays; the polls (~8 of them while it "loaded") do not.
    expect(logged.filter((l) => l.includes('/v1/models'))).toHaveLength(1);
    expect(logged.join('\n')).not.toMatch(/GET \/health/);
    expect(child.lastLines().join('\n')).not.toMatch(/GET \/health/);
    expect(child.lastLines()).toContain(`fake-server: listening on 127.0.0.1:${child.port}`);

    // The deadline runs from spawn, and the lines checked below are printed once node has loaded the fake: 2.5 s
    // leaves a loaded CI machine room to get there (700 ms once let SIGTERM come before its handler existed).
    const never = track(new Child(fakeServer(['--never-ready', '--log-requests'], { loadTimeoutMs: 2500 })));
    const err = await startError(never.start());
    expect(err.reason).toBe('timeout');
    expect(err.lastLines.join('\n')).not.toMatch(/GET \/health/);
    expect(err.lastLines.filter((l) => /^fake-server: (listening on|got SIGTERM)/.test(l))).toHaveLength(2);
    expect(err.lastLines.length).toBeLessThan(6);
  });

  it('starts, becomes ready with a port and pid, and stops with its whole process group', async () => {
    const logged: string[] = [];
    const child = track(new Child(fakeServer(['--health-delay-ms', '300'], { onLog: (line) => logged.push(line) })));
    const events = exitEvents(child);
    expect(child.state).toBe('starting');
    const t0 = Date.now();
    await child.start();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(child.state).toBe('ready');
    expect(child.port).toEqual(expect.any(Number));
    const pid = child.pid!;
    expect(pidOf(child.lastLines(), 'server')).toBe(pid); // setpriv execs the server: same pid
    expect(listGroupPids(pid)).toEqual([pid]); // its own process group
    expect(await get(child.port!, '/health')).toBe(200);
    expect(logged).toContain(`fake-server: listening on 127.0.0.1:${child.port}`);

    const info = await child.stop();
    expect(info).toMatchObject({ code: 0, signal: null, expected: true });
    expect(info.lastLines).toContain('fake-server: got SIGTERM, shutting down');
    expect(child.state).toBe('exited');
    expect(processGroupAlive(pid)).toBe(false);
    expect(events).toEqual([info]);
  });

  it('stop() kills grandchildren: in the group by group signal, out of it (setsid) by tree-kill', async () => {
    const child = track(new Child(fakeServer(['--spawn-grandchild', '--spawn-detached-grandchild'])));
    await child.start();
    const pid = child.pid!;
    const grandchild = pidOf(child.lastLines(), 'grandchild');
    const detached = pidOf(child.lastLines(), 'detached-grandchild');
    expect(listGroupPids(pid).sort()).toEqual([pid, grandchild].sort());
    expect(pidAlive(detached)).toBe(true);
    expect(listGroupPids(pid)).not.toContain(detached);

    const t0 = Date.now();
    await child.stop();
    // The grandchild holds the stdout pipe; stop must not wait for it beyond the group's death.
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(processGroupAlive(pid)).toBe(false);
    expect(pidAlive(grandchild)).toBe(false);
    expect(pidAlive(detached)).toBe(false);
  });

  it('escalates to SIGKILL after stopTimeoutMs when the child ignores SIGTERM', async () => {
    const child = track(new Child(fakeServer(['--ignore-sigterm', '--spawn-grandchild'], { stopTimeoutMs: 600 })));
    await child.start();
    const pid = child.pid!;
    const grandchild = pidOf(child.lastLines(), 'grandchild');
    const t0 = Date.now();
    const info = await child.stop();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(600);
    expect(took).toBeLessThan(2500);
    expect(info).toMatchObject({ code: null, signal: 'SIGKILL', expected: true });
    expect(info.lastLines).toContain('fake-server: got SIGTERM, ignoring it');
    expect(processGroupAlive(pid)).toBe(false);
    expect(pidAlive(grandchild)).toBe(false);
  });

  it('ends stdin on stop: a server that exits on stdin EOF stops without SIGKILL even if it ignores SIGTERM', async () => {
    const child = track(new Child(fakeServer(['--ignore-sigterm', '--exit-on-stdin-eof'], { stopTimeoutMs: 5000 })));
    await child.start();
    // stdin is kept open while running: the server is still up a moment after ready.
    await new Promise((r) => setTimeout(r, 200));
    expect(child.state).toBe('ready');
    const t0 = Date.now();
    const info = await child.stop();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(info).toMatchObject({ code: 0, signal: null, expected: true });
    expect(info.lastLines).toContain('fake-server: stdin closed, exiting');
  });

  it("never ready: rejects 'timeout' at loadTimeoutMs, and the child is gone", async () => {
    // 2.5 s: the fake must have started its grandchild (and said so) before the deadline, from spawn, kills it.
    const child = track(new Child(fakeServer(['--never-ready', '--spawn-grandchild'], { loadTimeoutMs: 2500 })));
    const events = exitEvents(child);
    const t0 = Date.now();
    const err = await startError(child.start());
    const took = Date.now() - t0;
    expect(err.reason).toBe('timeout');
    expect(err.model).toBe('fake');
    expect(err.message).toMatch(/not ready within 2500 ms/);
    expect(took).toBeGreaterThanOrEqual(2500);
    expect(took).toBeLessThan(4000);
    const pid = child.pid!;
    expect(processGroupAlive(pid)).toBe(false);
    expect(pidAlive(pidOf(err.lastLines, 'grandchild'))).toBe(false);
    expect(child.state).toBe('exited');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ expected: false });
  });

  it("exit at start: rejects 'exited' at once with the exit code and last lines, without port retries", async () => {
    const child = track(new Child(fakeServer(['--exit-at-start', '3'])));
    const retries: unknown[] = [];
    child.on('retry', (r) => retries.push(r));
    const t0 = Date.now();
    const err = await startError(child.start());
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(err.reason).toBe('exited');
    expect(err.exitCode).toBe(3);
    expect(err.signal).toBeNull();
    expect(err.lastLines).toContain('fake-server: fatal: cannot load model (exiting with 3)');
    expect(err.message).toMatch(/exited before it was ready \(exit code 3\): fake-server: fatal/);
    expect(retries).toEqual([]);
    expect(child.state).toBe('exited');
  });

  it("a command that cannot be run rejects 'spawn'", async () => {
    const child = track(new Child({ ...fakeServer([]), command: '/nonexistent/llama-server' }));
    const err = await startError(child.start());
    expect(err.reason).toBe('spawn');
    expect(err.message).toMatch(/nonexistent/);
  });

  it("crash after ready: emits 'exit' with expected=false and the last lines", async () => {
    const child = track(new Child(fakeServer(['--spawn-grandchild'])));
    await child.start();
    const grandchild = pidOf(child.lastLines(), 'grandchild');
    const exited = new Promise<ExitInfo>((resolve) => child.once('exit', resolve));
    await get(child.port!, '/__exit?code=5').catch(() => 0);
    const info = await exited;
    expect(info).toMatchObject({ code: 5, signal: null, expected: false });
    expect(info.lastLines).toContain('fake-server: crashing with code 5');
    expect(child.state).toBe('exited');
    // The crashed server's orphaned helper is cleaned up too.
    expect(pidAlive(grandchild)).toBe(false);
    expect(await child.stop()).toBe(info);
  });

  describe('port taken between get-port and bind', () => {
    let squatter: net.Server;
    let taken: number;
    beforeEach(async () => {
      // It only holds the port. It hangs up on the health polls that reach it: a silent squatter would keep their
      // server-side sockets open (it never reads, so never sees EOF) and close() would wait for ever.
      squatter = net.createServer((socket) => socket.destroy());
      await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
      taken = (squatter.address() as net.AddressInfo).port;
    });
    afterEach(async () => {
      await new Promise((r) => squatter.close(r));
    });

    /** First attempt gets the taken port, later ones a free one. */
    const picker = () => {
      let calls = 0;
      return async () => (calls++ === 0 ? taken : freePort());
    };

    it('retries with a fresh port when the child reports the bind failure', async () => {
      const child = track(new Child(fakeServer([], { pickPort: picker() })));
      const retries: unknown[] = [];
      child.on('retry', (r) => retries.push(r));
      await child.start();
      expect(retries).toEqual([{ attempt: 1, port: taken }]);
      expect(child.port).not.toBe(taken);
      expect(child.lastLines().some((l) => l.includes('EADDRINUSE'))).toBe(true);
    });

    it('retries when the child dies silently and its port turns out to be taken', async () => {
      const child = track(new Child(fakeServer(['--quiet-bind-error'], { pickPort: picker() })));
      await child.start();
      expect(child.port).not.toBe(taken);
    });

    it("gives up after portRetries with 'exited'", async () => {
      const child = track(new Child(fakeServer([], { pickPort: async () => taken, portRetries: 2 })));
      const retries: unknown[] = [];
      child.on('retry', (r) => retries.push(r));
      const err = await startError(child.start());
      expect(err.reason).toBe('exited');
      expect(err.exitCode).toBe(1);
      expect(retries).toHaveLength(2);
    });
  });

  it('keeps the last logLines lines of output', async () => {
    const child = track(new Child(fakeServer(['--log-lines', '20'], { logLines: 5 })));
    await child.start();
    await waitFor(() => child.lastLines().at(-1)?.startsWith('fake-server: listening') ?? false);
    expect(child.lastLines()).toEqual(['log line 17', 'log line 18', 'log line 19', 'log line 20', `fake-server: listening on 127.0.0.1:${child.port}`]);
    expect(child.lastLines(2)).toEqual(['log line 20', `fake-server: listening on 127.0.0.1:${child.port}`]);
  });

  it('sends healthHeaders with each poll', async () => {
    const child = track(new Child(fakeServer(['--require-key', 'sekret'], { healthHeaders: { Authorization: 'Bearer sekret' } })));
    await child.start();
    expect(child.state).toBe('ready');
  });

  it('stop() is idempotent and emits exit once', async () => {
    const child = track(new Child(fakeServer([])));
    const events = exitEvents(child);
    await child.start();
    const a = child.stop();
    const b = child.stop();
    expect(a).toBe(b);
    const info = await a;
    expect(await child.stop()).toBe(info);
    expect(events).toHaveLength(1);
  });

  it("stop() while starting: start rejects 'stopped', stop resolves once the group is gone", async () => {
    const child = track(new Child(fakeServer(['--health-delay-ms', '5000', '--spawn-grandchild'])));
    const events = exitEvents(child);
    const starting = child.start();
    await waitFor(() => child.lastLines().some((l) => l.includes('grandchild pid')), 5000, 'the server to start');
    const pid = child.pid!;
    const grandchild = pidOf(child.lastLines(), 'grandchild');
    const t0 = Date.now();
    const info = await child.stop();
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(info.expected).toBe(true);
    const err = await startError(starting);
    expect(err.reason).toBe('stopped');
    expect(processGroupAlive(pid)).toBe(false);
    expect(pidAlive(grandchild)).toBe(false);
    expect(events).toEqual([info]);
  });

  it("stop() right after start(), before anything was spawned, and stop() before start()", async () => {
    const a = track(new Child(fakeServer([])));
    const starting = a.start();
    const info = await a.stop();
    expect(info).toMatchObject({ expected: true });
    expect((await startError(starting)).reason).toBe('stopped');

    const b = track(new Child(fakeServer([])));
    expect(await b.stop()).toMatchObject({ code: null, signal: null, expected: true });
    expect(b.state).toBe('exited');
    expect((await startError(b.start())).reason).toBe('stopped');
    expect(b.pid).toBeUndefined();
  });
});
