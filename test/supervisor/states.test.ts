/**
 * The Child's transition table, every pair: the legal ones are taken, every other one is refused loudly (the
 * refusal is reported to the Child's log hook, thrown naming both states, and the state stays as it was).
 */
import { CHILD_TRANSITIONS, ChildStates, IllegalTransitionError, isValidTransition } from '../../src/supervisor/states.js';
import type { ChildState } from '../../src/supervisor/types.js';

const STATES: ChildState[] = ['starting', 'ready', 'stopping', 'exited'];
const LEGAL = new Set(['starting->ready', 'starting->stopping', 'starting->exited', 'ready->stopping', 'stopping->exited']);
const PAIRS = STATES.flatMap((from) => STATES.map((to) => [from, to] as const));

/** A ChildStates brought to `state` along legal steps. */
function at(state: ChildState, onIllegal?: (err: IllegalTransitionError) => void): ChildStates {
  const s = new ChildStates('m', onIllegal);
  const path: Record<ChildState, ChildState[]> = { starting: [], ready: ['ready'], stopping: ['stopping'], exited: ['exited'] };
  for (const step of path[state]) s.to(step);
  expect(s.current).toBe(state);
  return s;
}

describe('Child transition table', () => {
  it('is the table this test expects, over all four states', () => {
    expect(Object.keys(CHILD_TRANSITIONS).sort()).toEqual([...STATES].sort());
    const table = PAIRS.filter(([from, to]) => CHILD_TRANSITIONS[from].includes(to)).map(([f, t]) => `${f}->${t}`);
    expect(new Set(table)).toEqual(LEGAL);
  });

  it.each(PAIRS.filter(([f, t]) => LEGAL.has(`${f}->${t}`)))('%s -> %s is taken', (from, to) => {
    const heard: unknown[] = [];
    const s = at(from, (e) => heard.push(e));
    expect(isValidTransition(from, to)).toBe(true);
    s.to(to);
    expect(s.current).toBe(to);
    expect(heard).toEqual([]);
  });

  it.each(PAIRS.filter(([f, t]) => !LEGAL.has(`${f}->${t}`)))('%s -> %s is refused: reported, thrown, state kept', (from, to) => {
    const heard: IllegalTransitionError[] = [];
    const s = at(from, (e) => heard.push(e));
    expect(isValidTransition(from, to)).toBe(false);
    let thrown: unknown;
    try {
      s.to(to);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(IllegalTransitionError);
    expect(thrown).toMatchObject({ model: 'm', from, to });
    expect((thrown as Error).message).toContain(`illegal state transition ${from} -> ${to}`);
    expect(heard).toEqual([thrown]);
    expect(s.current).toBe(from);
  });

  it('nothing leads back to starting, and exited leads nowhere', () => {
    for (const from of STATES) expect(isValidTransition(from, 'starting')).toBe(false);
    expect(CHILD_TRANSITIONS.exited).toEqual([]);
  });
});
