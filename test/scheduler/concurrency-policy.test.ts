/**
 * Requests that wait on a concurrency limit or the GPU lock wait in the scheduler's one queue: the same bound
 * (`queueMax`), the same timeout, the same FIFO order, and a client that leaves gives its place up.
 */
import { admits, Driver, rejects } from './harness.js';

const three = [{ name: 'A' }, { name: 'B' }, { name: 'C' }];

describe('waiting on a concurrency limit', () => {
  test('counts against queue-max like any waiter', () => {
    const d = new Driver({ modelsMax: 4, queueMax: 2 }, [{ name: 'A', concurrency: 1 }]);
    d.bringUp('A');
    expect(admits(d.request('A').effects)).toEqual([]);
    expect(admits(d.request('A').effects)).toEqual([]);
    const third = d.request('A');
    expect(rejects(third.effects)).toEqual([expect.objectContaining({ id: third.id, error: expect.objectContaining({ kind: 'queue_full', retryAfterS: 1 }) })]);
  });

  test('times out after queue-timeout, saying it waited on the limit', () => {
    const d = new Driver({ modelsMax: 4, queueTimeoutMs: 10_000 }, [{ name: 'A', concurrency: 1 }]);
    const first = d.bringUp('A');
    const waiting = d.request('A');
    expect(d.s.view('A')!.waitingFor).toBe('concurrency limit (1 in flight)');
    expect(rejects(d.tick(d.now + 9_000))).toEqual([]);
    const out = rejects(d.tick(d.now + 1_000));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ id: waiting.id, error: { kind: 'queue_timeout', retryAfterS: 5 } });
    expect(out[0]!.error.message).toMatch(/waiting for model 'A' \(concurrency limit \(1 in flight\)\)/);
    // The one in flight is untouched; when it is done nothing is left to admit.
    expect(admits(d.done(first))).toEqual([]);
    expect(d.s.view('A')).toMatchObject({ refs: 0, queued: 0 });
  });

  test('is served first in, first out; a client that leaves gives its place to the next', () => {
    const d = new Driver({ modelsMax: 4 }, [{ name: 'A', concurrency: 1 }]);
    const first = d.bringUp('A');
    const [w1, w2, w3] = [d.request('A'), d.request('A'), d.request('A')];
    d.done(w2.id); // left while queued
    expect(admits(d.done(first))).toEqual([w1.id]);
    expect(admits(d.done(w1.id))).toEqual([w3.id]);
    expect(d.s.view('A')).toMatchObject({ refs: 1, queued: 0 });
  });

  test('requests that queued while the model loaded are admitted up to the limit, not all at once', () => {
    const d = new Driver({ modelsMax: 4 }, [{ name: 'A', concurrency: 2 }]);
    const ids = [d.request('A'), d.request('A'), d.request('A')].map((r) => r.id);
    expect(admits(d.ready('A'))).toEqual(ids.slice(0, 2));
    expect(admits(d.done(ids[0]!))).toEqual([ids[2]]);
  });

  test('holds back only its own model: a later request for another model is admitted at once', () => {
    const d = new Driver({ modelsMax: 4 }, [{ name: 'A', concurrency: 1 }, { name: 'B' }]);
    d.bringUp('A');
    d.done(d.bringUp('B'));
    expect(admits(d.request('A').effects)).toEqual([]);
    const b = d.request('B');
    expect(admits(b.effects)).toEqual([b.id]);
  });

  test('a load request is answered at once: it takes no place under the limit', () => {
    const d = new Driver({ modelsMax: 4 }, [{ name: 'A', concurrency: 1 }]);
    d.bringUp('A');
    const l = d.load('A');
    expect(admits(l.effects)).toEqual([l.id]);
    expect(d.s.view('A')!.refs).toBe(1);
  });
});

describe('the GPU lock', () => {
  test('serial: the lock goes to the oldest waiter, whatever its model', () => {
    const d = new Driver({ modelsMax: 4, serial: true }, three);
    const a = d.bringUp('A');
    for (const m of ['B', 'C']) d.settle(d.load(m).effects);
    const [b1, a2, c1] = [d.request('B'), d.request('A'), d.request('C')];
    expect(d.s.view('B')!.waitingFor).toBe('serial lock held by another request');
    expect(admits(d.done(a))).toEqual([b1.id]);
    expect(admits(d.done(b1.id))).toEqual([a2.id]);
    expect(admits(d.done(a2.id))).toEqual([c1.id]);
  });

  test('serial also holds back a second request for the same model', () => {
    const d = new Driver({ modelsMax: 4, serial: true }, three);
    const a = d.bringUp('A');
    const a2 = d.request('A');
    expect(admits(a2.effects)).toEqual([]);
    expect(admits(d.done(a))).toEqual([a2.id]);
  });

  test('gpu-lock on two of three: the third runs alongside the holder', () => {
    const d = new Driver({ modelsMax: 4 }, [{ name: 'A', gpuLock: true }, { name: 'B', gpuLock: true }, { name: 'C' }]);
    const a = d.bringUp('A');
    d.settle(d.load('B').effects);
    d.settle(d.load('C').effects);
    const b = d.request('B');
    const c = d.request('C');
    expect(admits(b.effects)).toEqual([]);
    expect(admits(c.effects)).toEqual([c.id]);
    expect(admits(d.done(a))).toEqual([b.id]);
  });

  test('a lock waiter times out like any waiter', () => {
    const d = new Driver({ modelsMax: 4, serial: true, queueTimeoutMs: 5_000 }, three);
    d.bringUp('A');
    d.settle(d.load('B').effects);
    const b = d.request('B');
    const out = rejects(d.tick(d.now + 5_000));
    expect(out).toEqual([expect.objectContaining({ id: b.id, error: expect.objectContaining({ kind: 'queue_timeout' }) })]);
    expect(out[0]!.error.message).toMatch(/serial lock held by another request/);
  });
});
