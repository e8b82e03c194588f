/**
 * Turns a stream's chunks into lines. Chunks split lines anywhere (even inside a UTF-8 sequence, which is why
 * the caller sets the stream's encoding so that decoding happens before splitting).
 */
export class LineSplitter {
  #partial = '';

  /**
   * @param onLine called once per complete line, without its line ending
   * @param maxLineLength a line longer than this is emitted in pieces, so a child that prints without newlines
   *   (a progress bar, binary garbage) cannot grow the router's memory without bound
   */
  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineLength = 64 * 1024,
  ) {}

  push(chunk: string): void {
    let text = this.#partial + chunk;
    let newline: number;
    while ((newline = text.indexOf('\n')) !== -1) {
      const end = newline > 0 && text[newline - 1] === '\r' ? newline - 1 : newline;
      this.onLine(text.slice(0, end));
      text = text.slice(newline + 1);
    }
    while (text.length > this.maxLineLength) {
      this.onLine(text.slice(0, this.maxLineLength));
      text = text.slice(this.maxLineLength);
    }
    this.#partial = text;
  }

  /** The stream ended: a last line without a trailing newline is still a line. */
  end(): void {
    if (this.#partial.length > 0) this.onLine(this.#partial);
    this.#partial = '';
  }
}

/**
 * Matches the line a server prints for one GET of `path` (the router's own health polls): llama-server's
 * "srv  log_server_r: request: GET /health 127.0.0.1 503" and the bundled engine's "GET /health 503 3ms". A
 * load polls every 100 ms; kept, these lines would crowd the child's real output out of its log ring.
 */
export function requestLinePattern(path: string): RegExp {
  const p = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`\\bGET ${p}(?:\\?\\S*)? (?:\\S+ )?\\d{3}\\b`);
}
