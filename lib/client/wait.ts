/**
 * `wait(futures, { timeout, returnWhen })`: resolves once every future is
 * done (ALL_COMPLETED, the default) or once any is (FIRST_COMPLETED), with
 * the futures split into `done` and `notDone`. A timeout rejects with
 * TimeoutError. Done means finished, erred or cancelled; waiting does not
 * fetch any value.
 */
import { TimeoutError } from '../errors.js';
import { optionalDuration } from '../units.js';
import { formatMs } from '../deadline.js';
import { stateOf, type Future } from './future.js';
import type { FutureState } from './future-state.js';
import { futuresIn } from './gather-shapes.js';

export type ReturnWhen = 'ALL_COMPLETED' | 'FIRST_COMPLETED';

export interface WaitForOptions {
  /** milliseconds or a string with a unit; default: no limit */
  timeout?: number | string;
  returnWhen?: ReturnWhen;
}

export interface DoneAndNotDone<F> {
  done: Set<F>;
  notDone: Set<F>;
}

export function wait<F extends Future<unknown>>(
  futures: F | Iterable<F>,
  options: WaitForOptions = {},
): Promise<DoneAndNotDone<F>> {
  const returnWhen = options.returnWhen ?? 'ALL_COMPLETED';
  if (returnWhen !== 'ALL_COMPLETED' && returnWhen !== 'FIRST_COMPLETED') {
    return Promise.reject(new TypeError(`returnWhen must be 'ALL_COMPLETED' or 'FIRST_COMPLETED', got ${String(returnWhen)}`));
  }
  let timeoutMs: number | undefined;
  let list: F[];
  try {
    timeoutMs = optionalDuration(options.timeout);
    list = futuresIn(futures) as F[];
  } catch (error) {
    return Promise.reject(error);
  }
  const split = (): DoneAndNotDone<F> => {
    const done = new Set<F>();
    const notDone = new Set<F>();
    for (const future of list) (future.done() ? done : notDone).add(future);
    return { done, notDone };
  };

  const pending = new Set<FutureState>();
  for (const future of list) {
    const state = stateOf(future);
    if (state.done) continue;
    if (state.closedError !== undefined) return Promise.reject(state.closedError);
    pending.add(state);
  }
  const enough = (): boolean => pending.size === 0 || (returnWhen === 'FIRST_COMPLETED' && pending.size < distinctStates(list));
  if (enough()) return Promise.resolve(split());

  return new Promise<DoneAndNotDone<F>>((resolve, reject) => {
    const unsubscribe: Array<() => void> = [];
    let timer: NodeJS.Timeout | undefined;
    const finish = (error?: Error): void => {
      for (const stop of unsubscribe) stop();
      unsubscribe.length = 0;
      if (timer !== undefined) clearTimeout(timer);
      if (error !== undefined) reject(error);
      else resolve(split());
    };
    for (const state of pending) {
      unsubscribe.push(
        state.onSettled(() => {
          if (!state.done) {
            finish(state.closedError);
            return;
          }
          pending.delete(state);
          if (pending.size === 0 || returnWhen === 'FIRST_COMPLETED') finish();
        }),
      );
    }
    if (timeoutMs !== undefined && timeoutMs !== Infinity) {
      timer = setTimeout(() => {
        const left = pending.size;
        finish(new TimeoutError(`wait() timed out after ${formatMs(timeoutMs!)} with ${left} of ${distinctStates(list)} futures not done`));
      }, timeoutMs);
    }
  });
}

function distinctStates(futures: readonly Future<unknown>[]): number {
  return new Set(futures.map((future) => stateOf(future))).size;
}
