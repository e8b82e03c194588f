/** drain.ts: when a victim drains while another load holds the device, from its figures alone. */
import { drainsNow, loadLeftMs, MIN_REQUESTS, nextRequestMs } from '../../src/scheduler/drain.js';

describe('nextRequestMs leans to the long requests', () => {
  test.each([
    ['the first request sets it', undefined, 500, 500],
    ['a longer one is taken at once', 500, 30_000, 30_000],
    ['a shorter one pulls it down by a quarter of the difference', 30_000, 500, 22_625],
  ])('%s', (_name, previous, took, expected) => {
    expect(nextRequestMs(previous, took)).toBe(expected);
  });
});

describe('loadLeftMs', () => {
  test.each([
    ['a load measured before: that time less what has run', 10_000, 3_000, 7_000],
    ['past its measured time (a cold disk): due any moment', 10_000, 12_000, 0],
    ['just before its measured time', 10_000, 9_900, 100],
    ['just after its measured time', 10_000, 10_100, 0],
    ['a first load: as long again as it has run', undefined, 4_000, 4_000],
    ['just started, first load: nothing known, nothing left', undefined, 0, 0],
  ])('%s', (_name, lastLoadMs, ran, expected) => {
    expect(loadLeftMs(1_000, lastLoadMs, 1_000 + ran)).toBe(expected);
  });
});

describe('drainsNow', () => {
  const known = { requestMs: 2_000, requestsDone: MIN_REQUESTS };
  const window = 15_000;
  test.each([
    ['no load holds the device', known, undefined, window, true],
    ['the load has longer to run than its requests take', known, 5_000, window, false],
    ['the load ends within its request time', known, 2_000, window, true],
    ['no window (0: drain at once), even with its requests known', known, 5_000, 0, true],
    ['no request measured yet: the window stands in, and the load has longer to run', {}, 20_000, window, false],
    ['no request measured yet: the load ends within the window', {}, 10_000, window, true],
    ['too few requests measured: the window stands in', { requestMs: 2_000, requestsDone: MIN_REQUESTS - 1 }, 5_000, window, true],
    ['too few measured, one longer than the window: that one stands in', { requestMs: 30_000, requestsDone: 1 }, 20_000, window, true],
    ['too few measured, no window (0): at once', {}, 20_000, 0, true],
  ])('%s', (_name, victim, left, windowMs, expected) => {
    expect(drainsNow(victim, left, windowMs)).toBe(expected);
  });
});
