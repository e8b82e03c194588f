import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');

/**
 * A PATH holding only `node` and the fakes asked for, so a real nvidia-smi on the test machine can
 * never answer instead of the fake, and "missing" really is missing.
 */
export async function fakeToolDir(tools: { nvidia?: boolean; rocm?: boolean }) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fake-tools-'));
  await symlink(process.execPath, path.join(dir, 'node'));
  if (tools.nvidia) await symlink(path.join(fixtures, 'fake-nvidia-smi'), path.join(dir, 'nvidia-smi'));
  if (tools.rocm) await symlink(path.join(fixtures, 'fake-rocm-smi'), path.join(dir, 'rocm-smi'));
  const state = path.join(dir, 'state.json');
  return {
    dir,
    statePath: state,
    env: (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
      PATH: dir,
      FAKE_NVIDIA_SMI_STATE: state,
      FAKE_ROCM_SMI_STATE: state,
      ...extra,
    }),
    setState: (s: unknown) => writeFile(state, JSON.stringify(s)),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
