/**
 * The benchmark's pieces, run small: the fast upstream through a real router (direct and routed, JSON
 * and streamed), streams held open and released, the report. No timing assertions (the machine is
 * shared): only that every request succeeded, the figures exist, and nothing is left running.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { streamsFootprint } from '../../bench/footprint.js';
import { machine } from '../../bench/machine.js';
import { BARE_RELAY, FAST_UPSTREAM, stopAll } from '../../bench/processes.js';
import { proxyOverhead } from '../../bench/proxy-overhead.js';
import { render } from '../../bench/report.js';
import { processesMentioning } from '../helpers/router.js';

const quiet = () => {};

describe('benchmark pieces', () => {
  afterAll(async () => {
    await stopAll();
  });

  it('measures the fast upstream directly, through the bare relay and through the router, and stops them all', async () => {
    const o = await proxyOverhead({ rounds: 1, durationS: 0.3, concurrencies: [2], chunks: 4, noNginx: true, warmAnswers: 300, warmMaxS: 1 }, quiet);
    expect(o.rows.map((r) => [r.upstream, r.stream, r.connections, r.chunks, r.sides.map((s) => s.name)])).toEqual([
      ['fast', false, 2, 1, ['direct', 'bare relay', 'router']],
      ['fast', true, 2, 4, ['direct', 'bare relay', 'router']],
    ]);
    for (const r of o.rows) {
      for (const s of r.sides) {
        expect(s.failures).toBe(0);
        expect(s.rps).toBeGreaterThan(0);
        expect(Number.isFinite(s.addedP99)).toBe(true);
        // CPU per request is measured for the proxies (a process's own CPU), never for direct.
        // So is the first slice of the warm-up (0.3 s here): the cold figure.
        if (s.name === 'direct') {
          expect(s.cpuMsPerReq).toBeUndefined();
          expect(s.coldCpuMsPerOk).toBeUndefined();
        } else {
          expect(s.cpuMsPerReq).toBeGreaterThanOrEqual(0);
          expect(s.coldCpuMsPerOk).toBeGreaterThan(0);
        }
      }
    }
    const md = render({
      machine: machine(),
      loadAfter: [0, 0, 0],
      command: 'test',
      date: 'today',
      quick: true,
      durationS: 1,
      overhead: o,
      overheadOpts: { rounds: 1, durationS: 0.3, chunks: 4, warmAnswers: 300, warmMaxS: 1 },
      errors: [],
      findings: '',
    });
    expect(md).toContain('## 1. Proxy overhead');
    expect(md).toContain('warmed on the row until 300 good answers or 1 s (at least 0.3 s)');
    expect(md).toContain('| cold CPU ms/answer |');
    expect(md).toMatch(/CPU per request ≤ 1.5x the bare relay's .*: \d+\.\d+x, (met|\*\*not met\*\*)/);
    expect(processesMentioning(FAST_UPSTREAM)).toEqual([]);
    expect(processesMentioning(BARE_RELAY)).toEqual([]);
  }, 90_000);

  it('holds streams open through the router and gets every reference back when the clients leave', async () => {
    const s = await streamsFootprint({ streams: 50, dripMs: 200, holdS: 0 }, quiet);
    expect(s.open).toBe(50);
    expect(s.inFlightAfter).toBe(0);
    expect(s.streamsRssMiB).toBeGreaterThan(0);
    expect(processesMentioning(FAST_UPSTREAM)).toEqual([]);
  }, 90_000);
});
