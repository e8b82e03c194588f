/**
 * Checks a GGUF file before llama.cpp sees it. llama.cpp can abort the whole process on a malformed file
 * (a native assertion, not a catchable error) or report it in words nobody connects to the file; these checks
 * turn the common cases (missing, not GGUF, cut short by an interrupted copy) into one readable line naming the
 * file, within milliseconds.
 */
import fs from 'node:fs/promises';
import { GgufInsights, readGgufFileInfo, type GgufFileInfo, type Llama } from 'node-llama-cpp';

export class ModelFileError extends Error {
  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super(`${file}: ${problem}`, options);
    this.name = 'ModelFileError';
  }
}

const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian uint32
const HEADER_BYTES = 24; // magic, version, tensor count (u64), metadata count (u64)

/** Cheap checks that need no runtime: the file exists and starts like a GGUF file. */
export async function checkModelHeader(file: string): Promise<number> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (err) {
    throw new ModelFileError(file, `cannot read model file (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  if (!stat.isFile()) throw new ModelFileError(file, 'not a regular file');
  if (stat.size < HEADER_BYTES) throw new ModelFileError(file, `not a GGUF model (only ${stat.size} bytes)`);
  const handle = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(8);
    await handle.read(head, 0, 8, 0);
    if (head.readUInt32LE(0) !== GGUF_MAGIC) throw new ModelFileError(file, 'not a GGUF model (bad magic)');
    const version = head.readUInt32LE(4);
    if (version < 2 || version > 3) throw new ModelFileError(file, `unsupported GGUF version ${version}`);
  } finally {
    await handle.close();
  }
  return stat.size;
}

/** Parse the header and tensor table (no weights read) and check the weights fit inside the file. */
export async function readModelInfo(file: string, llama: Llama): Promise<{ info: GgufFileInfo; insights: GgufInsights }> {
  const size = await checkModelHeader(file);
  let info: GgufFileInfo;
  try {
    info = await readGgufFileInfo(file, { sourceType: 'filesystem', logWarnings: false });
  } catch (err) {
    throw new ModelFileError(file, `corrupt GGUF header (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  const insights = await GgufInsights.from(info, llama);
  const tensors = info.fullTensorInfo ?? info.tensorInfo ?? [];
  if (tensors.length === 0) throw new ModelFileError(file, 'GGUF file has no tensors');
  if (info.splicedParts <= 1) {
    // Tensor data is contiguous from the first tensor's offset; alignment padding only adds to it. So a file
    // shorter than start + total tensor bytes is certainly truncated.
    const start = tensors.reduce((min, t) => Math.min(min, Number(t.fileOffset)), Number.POSITIVE_INFINITY);
    const needed = start + insights.modelSize;
    if (size < needed) {
      throw new ModelFileError(file, `truncated GGUF file (${size} bytes, its tensors need ${needed})`);
    }
  }
  return { info, insights };
}
