import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MemoryLedger } from '../../src/memory/ledger.js';

const GiB = 1024 ** 3;
const file = { path: '/models/a.gguf', size: 52_428_800, mtimeMs: 1_700_000_000_123.4 };

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ledger-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('MemoryLedger keys', () => {
  const ledger = () => new MemoryLedger(path.join(os.tmpdir(), 'unused-ledger-dir-never-written'));

  test('same file + same memory args = same key, whatever the spelling and order', () => {
    const l = ledger();
    expect(l.key(file, ['-c', '4096', '-ngl', '99'])).toBe(l.key(file, ['--n-gpu-layers=99', '--ctx-size', '4096']));
  });

  test('irrelevant args are ignored', () => {
    const l = ledger();
    expect(l.key(file, ['-c', '4096', '--port', '5001', '-t', '2', '--alias', 'x'])).toBe(l.key(file, ['-c', '4096', '--port', '6000']));
  });

  test('a changed ctx, parallel, cache type, mtime, size or backend is a different key', () => {
    const l = ledger();
    const base = l.key(file, ['-c', '4096']);
    expect(l.key(file, ['-c', '8192'])).not.toBe(base);
    expect(l.key(file, ['-c', '4096', '-np', '2'])).not.toBe(base);
    expect(l.key(file, ['-c', '4096', '-ctk', 'q8_0'])).not.toBe(base);
    expect(l.key({ ...file, mtimeMs: file.mtimeMs + 1000 }, ['-c', '4096'])).not.toBe(base);
    expect(l.key({ ...file, size: file.size + 1 }, ['-c', '4096'])).not.toBe(base);
    expect(l.key(file, ['-c', '4096'], { backend: 'llama-server' })).not.toBe(base);
  });

  test('keys are readable', () => {
    expect(ledger().key(file, ['-np', '2', '-c', '4096'])).toBe('/models/a.gguf|52428800|1700000000123||ctx-size=4096,parallel=2');
  });
});

describe('MemoryLedger persistence', () => {
  test('a record survives a new instance; figures only grow unless replaced', async () => {
    const a = new MemoryLedger(dir);
    const key = a.key(file, ['-c', '4096']);
    expect(a.get(key)).toBeUndefined();
    a.record(key, { CPU: 1 * GiB, CUDA0: 4 * GiB });
    a.record(key, { CPU: 0.5 * GiB, CUDA0: 5 * GiB });

    const b = new MemoryLedger(dir);
    expect(b.get(key)).toEqual({ CPU: 1 * GiB, CUDA0: 5 * GiB });
    expect(b.entry(key)!.samples).toBe(2);
    b.record(key, { CPU: 0.25 * GiB }, { replace: true });
    expect(new MemoryLedger(dir).get(key)).toEqual({ CPU: 0.25 * GiB });

    // Atomic write leaves no temp files behind.
    expect((await readdir(dir)).sort()).toEqual(['memory-ledger.json']);
    const json = JSON.parse(await readFile(path.join(dir, 'memory-ledger.json'), 'utf8'));
    expect(json.version).toBe(1);
    expect(json.entries[key].devices).toEqual({ CPU: 0.25 * GiB });
  });

  test('a state dir that does not exist yet is created', async () => {
    const nested = path.join(dir, 'a', 'b');
    const l = new MemoryLedger(nested);
    l.record('k', { CPU: 1 });
    expect(new MemoryLedger(nested).get('k')).toEqual({ CPU: 1 });
  });

  test('an unwritable state dir is logged once and the ledger keeps working in memory', async () => {
    // Root ignores permission bits, so make the state "dir" a path below a regular file instead.
    const blocker = path.join(dir, 'file');
    await writeFile(blocker, 'not a dir');
    const logs: string[] = [];
    const l = new MemoryLedger(path.join(blocker, 'state'), { logger: (m) => logs.push(m) });
    l.record('k1', { CPU: 100 });
    l.record('k2', { CPU: 200 });
    l.record('k1', { CPU: 300 });
    expect(l.get('k1')).toEqual({ CPU: 300 });
    expect(l.get('k2')).toEqual({ CPU: 200 });
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/cannot write .*memory-ledger\.json.*in memory only/);
  });

  test('a state dir whose ledger can be read but not rewritten: figures already there are used, new ones kept in memory', async () => {
    // Permission bits do not stop root, and tests may run as root: block the write itself instead. The
    // ledger writes a temp file beside the ledger and renames it into place; a folder sits on that name.
    new MemoryLedger(dir).record('old', { CPU: 5 });
    await mkdir(path.join(dir, `memory-ledger.json.${process.pid}.tmp`));
    const logs: string[] = [];
    const l = new MemoryLedger(dir, { logger: (m) => logs.push(m) });
    expect(l.get('old')).toEqual({ CPU: 5 });
    l.record('k', { CPU: 1 });
    l.record('k', { CPU: 2 });
    expect(l.get('k')).toEqual({ CPU: 2 });
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/cannot write .*memory-ledger\.json.*in memory only/);
    // Nothing reached the disk; the old ledger is intact.
    const again = new MemoryLedger(dir);
    expect(again.get('k')).toBeUndefined();
    expect(again.get('old')).toEqual({ CPU: 5 });
  });

  test('a corrupt ledger file is set aside, not fatal', async () => {
    await writeFile(path.join(dir, 'memory-ledger.json'), '{ not json');
    const logs: string[] = [];
    const l = new MemoryLedger(dir, { logger: (m) => logs.push(m) });
    expect(l.keys()).toEqual([]);
    expect(logs[0]).toMatch(/not a ledger/);
    l.record('k', { CPU: 1 });
    expect((await readdir(dir)).sort()).toEqual(['memory-ledger.json', 'memory-ledger.json.bad']);
  });

  test('oldest entries are trimmed past maxEntries', async () => {
    const l = new MemoryLedger(dir, { maxEntries: 2 });
    l.record('a', { CPU: 1 });
    l.record('b', { CPU: 2 });
    l.record('c', { CPU: 3 });
    expect(new MemoryLedger(dir).keys()).toEqual(['b', 'c']);
  });

  test('non-positive and non-finite figures are not recorded', async () => {
    await mkdir(dir, { recursive: true });
    const l = new MemoryLedger(dir);
    l.record('k', { CPU: 10, CUDA0: 0, CUDA1: NaN });
    expect(l.get('k')).toEqual({ CPU: 10 });
  });
});
