/**
 * Once and oncePer (start/stop of every backend, the stop of a process group), ExitOnce (every backend's end) and
 * LineLog (every backend's log).
 */
import { EventEmitter } from 'node:events';
import { LineLog } from '../../src/supervisor/line-log.js';
import { ExitOnce, Once, oncePer } from '../../src/supervisor/once.js';
import type { ExitInfo } from '../../src/supervisor/types.js';

describe('Once', () => {
  it('runs its step on the first run() only; every call gets that promise, rejected ones too', async () => {
    let runs = 0;
    const once = new Once(async () => ++runs);
    expect(once.promise).toBeUndefined();
    const a = once.run();
    expect(once.run()).toBe(a);
    expect(once.promise).toBe(a);
    expect(await a).toBe(1);
    expect(runs).toBe(1);

    const failing = new Once(async () => {
      runs++;
      throw new Error('no');
    });
    await expect(failing.run()).rejects.toThrow('no');
    await expect(failing.run()).rejects.toThrow('no');
    expect(runs).toBe(2);
  });
});

describe('oncePer', () => {
  it('runs once per key, whatever the later arguments; other keys run on their own', async () => {
    const seen: string[] = [];
    const stop = oncePer(async (key: { id: string }, ms: number) => (seen.push(`${key.id}:${ms}`), ms));
    const k1 = { id: 'a' };
    const k2 = { id: 'b' };
    const p = stop(k1, 100);
    expect(stop(k1, 5)).toBe(p);
    expect(await stop(k1, 7)).toBe(100);
    expect(await stop(k2, 3)).toBe(3);
    expect(seen).toEqual(['a:100', 'b:3']);
  });
});

describe('ExitOnce', () => {
  const info = (expected: boolean): ExitInfo => ({ code: null, signal: null, expected, lastLines: [] });

  it("the first settle() wins: kept, 'done' resolved, 'exit' emitted once; later ones get the first", async () => {
    const backend = new EventEmitter();
    const exits: ExitInfo[] = [];
    backend.on('exit', (e: ExitInfo) => exits.push(e));
    const exit = new ExitOnce(backend);
    expect(exit.info).toBeUndefined();
    const first = info(true);
    expect(exit.settle(first)).toBe(first);
    expect(exit.settle(info(false))).toBe(first);
    expect(exit.info).toBe(first);
    expect(await exit.done).toBe(first);
    expect(exits).toEqual([first]);
  });
});

describe('LineLog', () => {
  it('keeps the last lines and passes every line (with its stream) to the sink', () => {
    const sunk: string[] = [];
    const log = new LineLog(2, (line, stream) => sunk.push(`${stream} ${line}`));
    log.add('one');
    log.add('two', 'stderr');
    log.add('three');
    expect(log.last()).toEqual(['two', 'three']);
    expect(log.last(1)).toEqual(['three']);
    expect(sunk).toEqual(['stdout one', 'stderr two', 'stdout three']);
  });

  it('a throwing sink does not stop the line from being kept', () => {
    const log = new LineLog(5, () => {
      throw new Error('sink broke');
    });
    expect(() => log.add('kept')).not.toThrow();
    expect(log.last()).toEqual(['kept']);
  });
});
