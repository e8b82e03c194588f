import type { ChildState } from './types.js';

/**
 * Where a Child may go from each state (as llama-swap's process.go `isValidTransition`). A Child is started once and
 * ends once, so nothing leads back, and 'exited' leads nowhere.
 * - starting → ready: health answered 200.
 * - starting → stopping: stop() during the start.
 * - starting → exited: the start failed (early exit, timeout, spawn error); its process was cleaned up meanwhile.
 * - ready → stopping: stop(), or the process exited by itself (crash) and its group is being cleaned up.
 * - stopping → exited: the process and its group are gone.
 */
export const CHILD_TRANSITIONS: Readonly<Record<ChildState, readonly ChildState[]>> = {
  starting: ['ready', 'stopping', 'exited'],
  ready: ['stopping'],
  stopping: ['exited'],
  exited: [],
};

export function isValidTransition(from: ChildState, to: ChildState): boolean {
  return CHILD_TRANSITIONS[from].includes(to);
}

/** A transition the table does not allow: a bug in the supervisor, never the child's doing. */
export class IllegalTransitionError extends Error {
  constructor(
    readonly model: string,
    readonly from: ChildState,
    readonly to: ChildState,
  ) {
    super(`Child ${model}: illegal state transition ${from} -> ${to} (allowed from ${from}: ${CHILD_TRANSITIONS[from].join(', ') || 'none'})`);
    this.name = 'IllegalTransitionError';
  }
}

/**
 * A Child's state, changed only through the table. An illegal change is refused loudly: `onIllegal` hears of it
 * (the Child logs it), then it throws, and the state stays as it was.
 */
export class ChildStates {
  #state: ChildState = 'starting';

  constructor(
    readonly model: string,
    private readonly onIllegal?: (err: IllegalTransitionError) => void,
  ) {}

  get current(): ChildState {
    return this.#state;
  }

  to(next: ChildState): void {
    if (!isValidTransition(this.#state, next)) {
      const err = new IllegalTransitionError(this.model, this.#state, next);
      this.onIllegal?.(err);
      throw err;
    }
    this.#state = next;
  }
}
