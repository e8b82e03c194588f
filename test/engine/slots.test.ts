import { SlotPool } from '../../src/engine/slots.js';

describe('SlotPool', () => {
  it('serves at most N at once, FIFO', async () => {
    const pool = new SlotPool(['a', 'b']);
    const s1 = await pool.acquire();
    const s2 = await pool.acquire();
    const order: string[] = [];
    const w3 = pool.acquire().then((s) => (order.push('w3'), s));
    const w4 = pool.acquire().then((s) => (order.push('w4'), s));
    expect(pool.stats()).toEqual({ in_flight: 2, max_in_flight: 2, queued: 2, served: 0 });
    pool.release(s2);
    const s3 = await w3;
    expect(s3.id).toBe(s2.id);
    pool.release(s1);
    await w4;
    expect(order).toEqual(['w3', 'w4']);
    expect(pool.stats()).toMatchObject({ in_flight: 2, max_in_flight: 2, queued: 0, served: 2 });
  });

  it('drops a waiter whose signal aborts, and the next in line gets the slot', async () => {
    const pool = new SlotPool([1]);
    const held = await pool.acquire();
    const leaving = new AbortController();
    const gone = pool.acquire(leaving.signal);
    const staying = pool.acquire();
    leaving.abort(new Error('left'));
    await expect(gone).rejects.toThrow('left');
    expect(pool.stats().queued).toBe(1);
    pool.release(held);
    expect((await staying).id).toBe(0);
  });

  it('ignores a double release and rejects waiters on close', async () => {
    const pool = new SlotPool([1]);
    const s = await pool.acquire();
    const waiting = pool.acquire();
    pool.close(new Error('closing'));
    await expect(waiting).rejects.toThrow('closing');
    pool.release(s);
    pool.release(s);
    expect(pool.stats().served).toBe(1);
    await expect(pool.acquire()).rejects.toThrow('closing');
  });
});
