/**
 * The benchmark's pieces, run small: the fast upstream through a real router (direct and routed, JSON
 * and streamed), streams held open and released, the report. No timing assertions (the machine is
 * shared): only that every request succeeded, the figures exist, and nothing is left running.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { streamsFootprint } from '../../bench/footprint.js';
import { machine } from '../../bench/machine.js';
import { FAST_UPSTREAM, stopAll } from '../../bench/processes.js';
import { proxyOverhead } from '../../bench/proxy-overhead.js';
import { render } from '../../bench/report.js';
import { processesMentioning } from '../helpers/router.js';

const quiet = () => {};

describe('benchmark pieces', () => {
  afterAll(async () => {
    await stopAll();
  });

  it('measures the fast upstream directly and through the router, and stops both', async () => {
    const rows = await proxyOverhead({ rounds: 1, durationS: 0.3, concurrencies: [2], chunks: 4 }, quiet);
    expect(rows.map((r) => [r.upstream, r.stream, r.connections, r.chunks])).toEqual([
      ['fast', false, 2, 1],
      ['fast', true, 2, 4],
    ]);
    for (const r of rows) {
      expect(r.failures).toBe(0);
      expect(r.directRps).toBeGreaterThan(0);
      expect(r.routerRps).toBeGreaterThan(0);
      expect(Number.isFinite(r.addedP99)).toBe(true);
    }
    const md = render({
      machine: machine(),
      loadAfter: [0, 0, 0],
      command: 'test',
      date: 'today',
      quick: true,
      durationS: 1,
      overhead: rows,
      overheadOpts: { rounds: 1, durationS: 0.3, chunks: 4 },
      errors: [],
      findings: '',
    });
    expect(md).toContain('## 1. Proxy overhead');
    expect(md).toMatch(/p50 added ≤ 0.3 ms .*: -?\d+\.\d+ ms, (met|\*\*not met\*\*)/);
    expect(processesMentioning(FAST_UPSTREAM)).toEqual([]);
  }, 90_000);

  it('holds streams open through the router and gets every reference back when the clients leave', async () => {
    const s = await streamsFootprint({ streams: 50, dripMs: 200, holdS: 0 }, quiet);
    expect(s.open).toBe(50);
    expect(s.inFlightAfter).toBe(0);
    expect(s.streamsRssMiB).toBeGreaterThan(0);
    expect(processesMentioning(FAST_UPSTREAM)).toEqual([]);
  }, 90_000);
});
