/**
 * One autocannon run against one URL, with every 2xx response time kept (autocannon's own histogram
 * rounds to whole milliseconds; the overhead targets are fractions of one).
 */
import autocannon from 'autocannon';

export interface LoadResult {
  /** Response times of 2xx answers, ms (time to the last byte of the body). */
  latencies: number[];
  /** 2xx responses per second. */
  rps: number;
  /** Connection errors, timeouts and non-2xx answers. */
  failures: number;
}

export function load(url: string, body: string, connections: number, durationS: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    const inst = autocannon(
      {
        url,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        connections,
        duration: durationS,
        timeout: 30,
      },
      (err, result) => {
        if (err) return reject(err);
        resolve({
          latencies,
          rps: latencies.length / result.duration,
          failures: result.errors + result.timeouts + result.non2xx,
        });
      },
    );
    inst.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
}
