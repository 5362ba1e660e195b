/**
 * One promise for many FutureStates settling: resolves when every one is done,
 * rejects at once when one errs, is cancelled, or its client closes. One
 * shared listener function and one counter, not a promise per state (a
 * `gather` of a 20,000-task map waits on 20,000 of them).
 */
import type { FutureState } from './future-state.js';

export function whenAllDone(states: readonly FutureState[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let left = states.length;
    let over = false;
    const check = (state: FutureState): void => {
      if (over) return;
      if (state.status === 'error' || state.status === 'cancelled') {
        over = true;
        reject(state.error());
      } else if (state.done) {
        if (--left === 0) {
          over = true;
          resolve();
        }
      } else if (state.closedError !== undefined) {
        over = true;
        reject(state.closedError);
      } else {
        state.onSettled(check);
      }
    };
    if (left === 0) resolve();
    for (const state of states) {
      if (over) return;
      check(state);
    }
  });
}
