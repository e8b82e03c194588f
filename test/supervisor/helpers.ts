import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildOptions } from '../../src/supervisor/index.js';

export const FAKE_SERVER = fileURLToPath(new URL('../fixtures/fake-server.mjs', import.meta.url));

/** Options for a Child running the fake server with `flags`. */
export function fakeServer(flags: string[], overrides: Partial<ChildOptions> = {}): ChildOptions {
  return {
    name: 'fake',
    command: process.execPath,
    args: (port) => [FAKE_SERVER, '--port', String(port), ...flags],
    loadTimeoutMs: 10_000,
    stopTimeoutMs: 2_000,
    ...overrides,
  };
}

/** The pid the fake server printed for `role` ("server", "grandchild", "detached-grandchild"). */
export function pidOf(lines: string[], role: string): number {
  const re = new RegExp(`^fake-server: ${role} pid (\\d+)$`);
  for (const line of lines) {
    const m = re.exec(line);
    if (m) return Number(m[1]);
  }
  throw new Error(`no "${role} pid" line in:\n${lines.join('\n')}`);
}

export async function waitFor(condition: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}
