/**
 * A hostile or foreign memory ledger (a home directory shared by two machines, a hand-edited cache): every
 * figure is checked (finite, positive, a device this machine has, not beyond its size). A bad one is dropped
 * with a warning naming the file and the model, and the model is probed as if new, instead of answering 507 for
 * ever. A measured figure that cannot fit an empty device is re-checked by the probe before any 507.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceMonitor } from '../../src/devices/index.js';
import { MemoryLedger } from '../../src/memory/ledger.js';
import { chat, models, startRouter, waitFor } from '../helpers/router.js';
import { modelsDir } from '../router/fixtures.js';

function ledgerFile(dir: string): string {
  return join(dir, 'memory-ledger.json');
}

function writeLedger(dir: string, entries: Record<string, unknown>): void {
  writeFileSync(ledgerFile(dir), JSON.stringify({ version: 1, entries }));
}

describe('MemoryLedger on a file it did not write', () => {
  const good = { devices: { CPU: 300e6 }, recordedAt: '2026-01-01T00:00:00.000Z', samples: 1 };
  const key = (m: string) => `/models/${m}.gguf|1000|1|node|ctx-size=4096`;

  test('malformed figures are dropped at load with a warning naming the file and the model; the rest kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ledger-hostile-'));
    const hostile: Record<string, unknown> = {
      [key('huge')]: { ...good, devices: { CPU: 1e30 } },
      [key('negative')]: { ...good, devices: { CPU: -5 } },
      [key('zero')]: { ...good, devices: { CPU: 0 } },
      [key('string')]: { ...good, devices: { CPU: '300000000' } },
      [key('null')]: { ...good, devices: { CPU: null } },
      [key('empty')]: { ...good, devices: {} },
      [key('array')]: { ...good, devices: [1, 2] },
      [key('nodevices')]: { recordedAt: 'x', samples: 1 },
      [key('notobject')]: 5,
      [key('good')]: good,
    };
    writeLedger(dir, hostile);
    const warnings: string[] = [];
    const ledger = new MemoryLedger(dir, { logger: (m) => warnings.push(m) });
    expect(ledger.keys()).toEqual([key('good')]);
    expect(ledger.get(key('good'))).toEqual({ CPU: 300e6 });
    for (const m of ['huge', 'negative', 'zero', 'string', 'null', 'empty', 'array', 'nodevices', 'notobject']) {
      expect(warnings.filter((w) => w.includes(ledgerFile(dir)) && w.includes(`/models/${m}.gguf`))).toHaveLength(1);
    }
    // The file no longer holds them.
    expect(Object.keys(JSON.parse(readFileSync(ledgerFile(dir), 'utf8')).entries)).toEqual([key('good')]);
  });

  test("figures for a device this machine lacks, or beyond that device's size, are dropped against a reading", () => {
    const dir = mkdtempSync(join(tmpdir(), 'ledger-hostile-'));
    writeLedger(dir, {
      [key('othergpu')]: { ...good, devices: { CPU: 1e8, CUDA3: 4e9 } },
      [key('toobig')]: { ...good, devices: { CPU: 64e9 + 1 } },
      [key('fits')]: { ...good, devices: { CPU: 64e9, CUDA0: 8e9 } },
    });
    const warnings: string[] = [];
    const ledger = new MemoryLedger(dir, { logger: (m) => warnings.push(m) });
    expect(ledger.keys()).toHaveLength(3);
    const dropped = ledger.dropImplausible([
      { name: 'CPU', total: 64e9 },
      { name: 'CUDA0', total: 24e9 },
    ]);
    expect(dropped.sort()).toEqual([key('othergpu'), key('toobig')]);
    expect(ledger.keys()).toEqual([key('fits')]);
    expect(warnings.join('\n')).toMatch(/no device CUDA3/);
    expect(warnings.every((w) => w.includes(ledgerFile(dir)))).toBe(true);
    expect(Object.keys(JSON.parse(readFileSync(ledgerFile(dir), 'utf8')).entries)).toEqual([key('fits')]);
  });
});

test('a router given hostile figures for its models probes them as new and serves them (no 507), then measures them again', async () => {
  // (Malformed figures are dropped at load, as the unit test above shows; here the ones that need a reading.)
  const names = ['foreign', 'nofit'];
  const dir = await modelsDir(names);
  const state = mkdtempSync(join(tmpdir(), 'ledger-hostile-state-'));
  const readings = await new DeviceMonitor().read();
  const cpuTotal = readings.find((d) => d.name === 'CPU')!.total;
  // The keys the router will look up (the bundled engine, no memory flags), with figures another machine or an
  // attacker wrote.
  const keyOf = (m: string) => {
    const path = join(dir, `${m}.gguf`);
    const st = statSync(path);
    return new MemoryLedger(mkdtempSync(join(tmpdir(), 'ledger-key-'))).key({ path, size: st.size, mtimeMs: st.mtimeMs }, [], { env: {}, backend: process.execPath });
  };
  const at = { recordedAt: new Date().toISOString(), samples: 3 };
  writeLedger(state, {
    [keyOf('foreign')]: { devices: { CPU: 1e8, CUDA7: 8e9 }, ...at },
    // Within the machine's size, but not within it less the 1 GiB margin: only the re-check saves it from a 507.
    [keyOf('nofit')]: { devices: { CPU: cpuTotal - 1 }, ...at },
  });

  const r = await startRouter(['--models-dir', dir, '--state-dir', state, '--server-bin', 'router-engine']);
  try {
    const answers = await Promise.all(names.map(async (m) => ({ m, status: (await chat(r.url, m)).status })));
    expect(answers).toEqual(names.map((m) => ({ m, status: 200 })));
    const warnings = r.logs().filter((l) => l.level === 40).map((l) => String(l.msg));
    expect(warnings.filter((w) => w.includes(ledgerFile(state)) && w.includes(join(dir, 'foreign.gguf')) && /dropping.*no device CUDA7/.test(w))).toHaveLength(1);
    expect(warnings.filter((w) => /cannot fit an empty device/.test(w) && w.includes(join(dir, 'nofit.gguf')))).toHaveLength(1);
    // Measured again, with figures this machine can hold.
    await waitFor('sane figures again', () => {
      const now = JSON.parse(readFileSync(ledgerFile(state), 'utf8')).entries as Record<string, { devices: Record<string, number> }>;
      return names.every((m) => {
        const e = now[keyOf(m)];
        return e && Object.keys(e.devices).join() === 'CPU' && e.devices.CPU! > 0 && e.devices.CPU! < cpuTotal / 2;
      });
    });
    expect((await models(r.url)).map((m) => m.status.value)).toEqual(['loaded', 'loaded']);
  } finally {
    expect(await r.stop()).toBe(0);
  }
}, 60_000);
