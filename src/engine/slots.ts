/**
 * The engine's N slots (llama-server's word): at most N requests are served at once, each on its own context
 * sequence; the rest wait in FIFO order. A waiter whose client leaves is removed from the queue at once, so it
 * neither takes a slot later nor delays the requests behind it.
 * Generic over what a slot holds, so it is tested without a model.
 */
export interface SlotStats {
  in_flight: number;
  /** Highest in_flight ever seen: a router's tests read it to prove it never sent more than N at once. */
  max_in_flight: number;
  queued: number;
  served: number;
}

interface Waiter<T> {
  resolve: (slot: Slot<T>) => void;
  reject: (err: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export interface Slot<T> {
  readonly id: number;
  readonly value: T;
}

export class SlotPool<T> {
  private readonly free: Slot<T>[];
  private readonly busy = new Set<number>();
  private readonly queue: Waiter<T>[] = [];
  private readonly all: Slot<T>[];
  private maxInFlight = 0;
  private served = 0;
  private closedError?: unknown;

  constructor(values: readonly T[]) {
    this.all = values.map((value, id) => ({ id, value }));
    this.free = [...this.all];
  }

  get size(): number {
    return this.all.length;
  }

  /** Resolves with a slot when one is free and no earlier waiter is ahead; rejects with signal.reason on abort. */
  acquire(signal?: AbortSignal): Promise<Slot<T>> {
    if (this.closedError !== undefined) return Promise.reject(this.closedError);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.queue.length === 0 && this.free.length > 0) return Promise.resolve(this.take(this.free.shift()!));
    return new Promise<Slot<T>>((resolve, reject) => {
      const waiter: Waiter<T> = { resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.queue.indexOf(waiter);
          if (i !== -1) this.queue.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.queue.push(waiter);
    });
  }

  /** Give a slot back; the longest waiter gets it immediately. Releasing twice is a no-op. */
  release(slot: Slot<T>): void {
    if (!this.busy.delete(slot.id)) return;
    this.served++;
    const next = this.queue.shift();
    if (next) {
      if (next.onAbort) next.signal?.removeEventListener('abort', next.onAbort);
      next.resolve(this.take(slot));
    } else {
      this.free.push(slot);
      this.free.sort((a, b) => a.id - b.id);
    }
  }

  /** Fail every waiter (shutdown) and refuse new acquisitions. */
  close(err: unknown): void {
    this.closedError = err;
    for (const w of this.queue.splice(0)) {
      if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(err);
    }
  }

  isBusy(id: number): boolean {
    return this.busy.has(id);
  }

  slots(): readonly Slot<T>[] {
    return this.all;
  }

  stats(): SlotStats {
    return { in_flight: this.busy.size, max_in_flight: this.maxInFlight, queued: this.queue.length, served: this.served };
  }

  private take(slot: Slot<T>): Slot<T> {
    this.busy.add(slot.id);
    this.maxInFlight = Math.max(this.maxInFlight, this.busy.size);
    return slot;
  }
}
