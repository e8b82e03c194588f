/**
 * Device readings as the router asks for them (src/router/memory-figures.ts): coalesced, but a reading asked for
 * after a child exited is not lost when another reading is still running.
 */
import pino from 'pino';
import { MemoryFigures } from '../../src/router/memory-figures.js';
import type { ModelTable } from '../../src/router/model-table.js';
import type { MemoryHooks } from '../../src/router/types.js';
import type { DeviceReading, SchedulerEvent } from '../../src/scheduler/types.js';
import { waitFor } from '../helpers/wait.js';

test('a reading asked for while one runs, after a child exited, starts as soon as that one ends', async () => {
  const answers: ((r: DeviceReading[]) => void)[] = [];
  const hooks: MemoryHooks = {
    need: async () => undefined,
    usage: async () => undefined,
    readDevices: () => new Promise<DeviceReading[]>((res) => answers.push(res)),
  };
  const events: SchedulerEvent[] = [];
  const figures = new MemoryFigures(hooks, {} as ModelTable, (e) => events.push(e), pino({ level: 'silent' }));
  try {
    figures.requestReading();
    await waitFor('the first reading started', () => answers.length === 1, 1_000, 5);
    // A child exits while it runs (the reading may predate the exit), and the scheduler asks for a fresh one.
    figures.noteExit();
    figures.requestReading();
    answers[0]([]);
    // Nothing else asks again here (no tick): the router's own request must not have been dropped.
    await waitFor('a second reading', () => answers.length === 2, 1_000, 5);
    answers[1]([]);
    await waitFor('both readings handed to the scheduler', () => events.filter((e) => e.type === 'devices').length === 2, 1_000, 5);
  } finally {
    figures.close();
  }
});
