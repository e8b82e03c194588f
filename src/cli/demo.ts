/** Demo models for `npm start` on a fresh clone: three tiny generated GGUFs, one a little bigger. */
import { join } from 'node:path';
import { makeTinyModel } from '../gguf/tiny-model.js';

export async function makeDemoModels(dir: string): Promise<string[]> {
  const made: string[] = [];
  const plan = [
    { name: 'tiny-chat', seed: 1 },
    { name: 'tiny-chat-2', seed: 2 },
    { name: 'small-chat', seed: 3, sizeMb: 20 },
  ];
  for (const m of plan) {
    const path = join(dir, `${m.name}.gguf`);
    await makeTinyModel(path, { seed: m.seed, sizeMb: m.sizeMb });
    made.push(path);
  }
  return made;
}
