/** Bounding a wait by a user timeout (milliseconds or a string with a unit). */
import { TimeoutError } from './errors.js';
import { optionalDuration } from './units.js';

/**
 * `promise`, or a TimeoutError after `timeout` (no timer at all when
 * `timeout` is undefined). `onTimeout` lets the caller stop listening;
 * `onLate` receives a value that arrives after the timeout, so whatever was
 * started too late can be closed.
 */
export function withTimeout<T>(
  promise: Promise<T>,
  timeout: number | string | undefined,
  describe: () => string,
  onTimeout?: () => void,
  onLate?: (value: T) => void,
): Promise<T> {
  const ms = optionalDuration(timeout);
  if (ms === undefined || ms === Infinity) return promise;
  return new Promise<T>((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      onTimeout?.();
      reject(new TimeoutError(`${describe()} timed out after ${formatMs(ms)}`));
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        if (late) onLate?.(value);
        else resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s` : `${ms} ms`;
}
