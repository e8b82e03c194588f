/** A memory probe still running when the router stops is killed with it, never left behind. */
import { processesMentioning, startRouter, waitFor } from '../helpers/router.js';
import { modelsDir, presetFile } from '../router/fixtures.js';

test('SIGTERM during a slow probe: the probe process group dies with the router', async () => {
  const dir = await modelsDir(['alpha']);
  // A number nothing else on the machine runs: its processes are this probe's.
  const marker = `sleep 3017.${process.pid}`;
  const preset = presetFile(dir, `[alpha]\nmodel = ${dir}/alpha.gguf\nprobe = ${marker} && echo '{"devices":{"CPU":1}}'\n`);
  const r = await startRouter(['--models-preset', preset]);
  let stopped = false;
  try {
    // Every model's figure is resolved at start; the probe runs in the background.
    await waitFor('the probe running', () => processesMentioning(marker).length > 0, 20_000);
    expect(await r.stop()).toBe(0);
    stopped = true;
    await waitFor('no probe left', () => processesMentioning(marker).length === 0, 5_000);
  } finally {
    if (!stopped) await r.stop();
    for (const pid of processesMentioning(marker)) process.kill(pid, 'SIGKILL');
  }
});
