/**
 * Plain-JS copies of src/gguf and scripts/make-model.ts for child processes (the CLI, the memory check), made
 * with TypeScript's transpileModule into os.tmpdir(). Tests so exercise the current sources without depending
 * on `npm run build` having run, and without building anyone else's half-finished folder.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';

export const ROOT = join(import.meta.dirname ?? join(process.cwd(), 'test', 'gguf'), '..', '..');

/** Directory with package.json ({"type":"module"}), src/gguf/*.js and scripts/make-model.js. */
export function buildGguf(): string {
  const files = [
    ...readdirSync(join(ROOT, 'src', 'gguf'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `src/gguf/${f}`),
    'scripts/make-model.ts',
  ].sort();
  const sources = files.map((f) => readFileSync(join(ROOT, f), 'utf8'));
  const hash = createHash('sha256');
  files.forEach((f, i) => hash.update(f).update(sources[i]!));
  const dir = join(tmpdir(), `router-gguf-build-${hash.digest('hex').slice(0, 12)}`);
  if (existsSync(join(dir, 'package.json'))) return dir;

  const tmp = `${dir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  files.forEach((f, i) => {
    const out = join(tmp, f.replace(/\.ts$/, '.js'));
    mkdirSync(join(out, '..'), { recursive: true });
    const js = ts.transpileModule(sources[i]!, {
      fileName: f,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    writeFileSync(out, js);
  });
  writeFileSync(join(tmp, 'package.json'), '{"type":"module"}\n');
  try {
    renameSync(tmp, dir);
  } catch {
    // Another worker renamed its identical build first.
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}
