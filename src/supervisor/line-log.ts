import { RingBuffer } from './ring-buffer.js';

export type LineSink = (line: string, stream: 'stdout' | 'stderr') => void;

/**
 * A backend's log: its last `capacity` lines (for crash and load-failure reports) and a sink that sees every line
 * (the router's per-model log). A child's lines are its output; an external backend's are what was done to it.
 */
export class LineLog {
  readonly #ring: RingBuffer<string>;
  readonly #sink: LineSink | undefined;

  constructor(capacity: number, sink?: LineSink) {
    this.#ring = new RingBuffer(capacity);
    this.#sink = sink;
  }

  add(line: string, stream: 'stdout' | 'stderr' = 'stdout'): void {
    this.#ring.push(line);
    try {
      this.#sink?.(line, stream);
    } catch {
      // A failing log sink must not break supervision of the backend.
    }
  }

  /** The newest n lines (all kept lines if n is omitted), oldest first. */
  last(n?: number): string[] {
    return this.#ring.last(n);
  }
}
