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
import { futuresIn, futuresInSteps } from './gather-shapes.js';
import { unsliced, whenBuilt } from './sliced-array.js';

/**
 * When `wait` resolves: once all futures are done, or once the first is.
 */
export type ReturnWhen = 'ALL_COMPLETED' | 'FIRST_COMPLETED';

export interface WaitForOptions {
  /** milliseconds or a string with a unit; default: no limit */
  timeout?: number | string;
  returnWhen?: ReturnWhen;
}

/**
 * What `wait` resolves to: the futures that are done and those that are not.
 */
export interface DoneAndNotDone<F> {
  done: Set<F>;
  notDone: Set<F>;
}

/**
 * Waits until all of the futures (or, with `returnWhen: 'FIRST_COMPLETED'`,
 * one of them) are done; rejects with TimeoutError after `timeout`.
 *
 * @example
 * ```ts
 * const { done, notDone } = await wait(futures, { returnWhen: 'FIRST_COMPLETED', timeout: '10s' });
 * ```
 */
export function wait<F extends Future<unknown>>(
  futures: F | Iterable<F>,
  options: WaitForOptions = {},
): Promise<DoneAndNotDone<F>> {
  // A long map still being submitted in slices: wait for the slices rather than force them.
  const building = whenBuilt(futures);
  if (building !== undefined) return building.then(() => wait(unsliced(futures), options));
  const returnWhen = options.returnWhen ?? 'ALL_COMPLETED';
  if (returnWhen !== 'ALL_COMPLETED' && returnWhen !== 'FIRST_COMPLETED') {
    return Promise.reject(new TypeError(`returnWhen must be 'ALL_COMPLETED' or 'FIRST_COMPLETED', got ${String(returnWhen)}`));
  }
  let timeoutMs: number | undefined;
  try {
    timeoutMs = optionalDuration(options.timeout);
  } catch (error) {
    return Promise.reject(error);
  }
  // A million futures are checked and copied a step at a time (gather-shapes.ts), not in one block.
  if (returnWhen === 'ALL_COMPLETED') return futuresInSteps(futures).then((list) => allCompleted(list as F[], timeoutMs));
  let list: F[];
  try {
    list = futuresIn(futures) as F[];
  } catch (error) {
    return Promise.reject(error);
  }
  return firstCompleted(list, timeoutMs);
}

function split<F extends Future<unknown>>(list: readonly F[]): DoneAndNotDone<F> {
  const done = new Set<F>();
  const notDone = new Set<F>();
  for (const future of list) (future.done() ? done : notDone).add(future);
  return { done, notDone };
}

/**
 * Every future done: the Set of them is made when first read, since building
 * a Set of a million futures is work a caller that only awaits should not pay.
 */
function allDone<F extends Future<unknown>>(list: readonly F[]): DoneAndNotDone<F> {
  let done: Set<F> | undefined;
  const notDone = new Set<F>();
  return {
    get done() {
      return (done ??= new Set(list));
    },
    notDone,
  };
}

/** Futures looked at between two turns of the event loop while subscribing. */
const SUBSCRIBE_CHUNK = 16_384;

/**
 * ALL_COMPLETED: one listener shared by every record and a count of those
 * left, subscribed in chunks so that waiting on a million futures never holds
 * the event loop for long.
 */
async function allCompleted<F extends Future<unknown>>(list: readonly F[], timeoutMs: number | undefined): Promise<DoneAndNotDone<F>> {
  const started = performance.now();
  let left = 0;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const listener = (state: FutureState): void => {
    if (state.done) {
      if (--left === 0) wake?.();
    } else {
      failure ??= state.closedError;
      wake?.();
    }
  };
  const unsubscribe = (): void => {
    for (const future of list) stateOf(future).unlisten(listener);
  };
  for (let i = 0; i < list.length; i++) {
    const state = stateOf(list[i]!);
    if (!state.done) {
      if (state.closedError !== undefined) failure ??= state.closedError;
      else if (state.listen(listener)) left++;
    }
    if (failure !== undefined) break;
    if (i % SUBSCRIBE_CHUNK === SUBSCRIBE_CHUNK - 1 && i + 1 < list.length) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (failure === undefined && left > 0) {
    const remaining = timeoutMs === undefined || timeoutMs === Infinity ? undefined : Math.max(0, timeoutMs - (performance.now() - started));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await new Promise<boolean>((resolve) => {
      wake = () => resolve(false);
      if (remaining !== undefined) timer = setTimeout(() => resolve(true), remaining);
    });
    if (timer !== undefined) clearTimeout(timer);
    if (timedOut && failure === undefined && left > 0) {
      unsubscribe();
      throw new TimeoutError(`wait() timed out after ${formatMs(timeoutMs!)} with ${left} of ${distinctStates(list)} futures not done`);
    }
  }
  if (failure !== undefined) {
    unsubscribe();
    throw failure;
  }
  return allDone(list);
}

function firstCompleted<F extends Future<unknown>>(list: readonly F[], timeoutMs: number | undefined): Promise<DoneAndNotDone<F>> {
  const pending = new Set<FutureState>();
  for (const future of list) {
    const state = stateOf(future);
    if (state.done) continue;
    if (state.closedError !== undefined) return Promise.reject(state.closedError);
    pending.add(state);
  }
  if (pending.size === 0 || pending.size < distinctStates(list)) return Promise.resolve(split(list));

  return new Promise<DoneAndNotDone<F>>((resolve, reject) => {
    const unsubscribe: Array<() => void> = [];
    let timer: NodeJS.Timeout | undefined;
    const finish = (error?: Error): void => {
      for (const stop of unsubscribe) stop();
      unsubscribe.length = 0;
      if (timer !== undefined) clearTimeout(timer);
      if (error !== undefined) reject(error);
      else resolve(split(list));
    };
    for (const state of pending) {
      unsubscribe.push(
        state.onSettled(() => {
          if (!state.done) {
            finish(state.closedError);
            return;
          }
          finish();
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
