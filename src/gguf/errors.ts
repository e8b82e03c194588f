/** The one error of the GGUF room: a file that is not a readable GGUF (or cannot be written as one). */
export class GgufError extends Error {
  override name = 'GgufError';
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(`${path}: ${message}`, options);
    this.path = path;
  }
}
