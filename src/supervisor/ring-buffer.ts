/**
 * A fixed-capacity FIFO that overwrites its oldest entry when full. Used for a child's last log lines: a
 * crash report wants the tail of the output, and a chatty server must not grow the router's memory.
 */
export class RingBuffer<T> {
  readonly capacity: number;
  #items: T[] = [];
  /** Index of the oldest item once the buffer has wrapped. */
  #head = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`RingBuffer capacity must be a non-negative integer, got ${capacity}`);
    this.capacity = capacity;
  }

  get length(): number {
    return this.#items.length;
  }

  push(item: T): void {
    if (this.capacity === 0) return;
    if (this.#items.length < this.capacity) {
      this.#items.push(item);
      return;
    }
    this.#items[this.#head] = item;
    this.#head = (this.#head + 1) % this.capacity;
  }

  /** All items, oldest first. */
  toArray(): T[] {
    return [...this.#items.slice(this.#head), ...this.#items.slice(0, this.#head)];
  }

  /** The newest `n` items (all if n is omitted or larger than the buffer), oldest first. */
  last(n?: number): T[] {
    const all = this.toArray();
    if (n === undefined || n >= all.length) return all;
    return n <= 0 ? [] : all.slice(all.length - n);
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}
