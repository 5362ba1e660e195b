import { TimeoutError } from '../errors.js';

/**
 * `promise`, or a TimeoutError with `message` after `ms`. On timeout `onLate`
 * receives the value if it arrives later (to close what was started too late).
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, message: string, onLate?: (value: T) => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let late = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late = true;
      reject(new TimeoutError(message));
    }, ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
    if (late) promise.then((value) => onLate?.(value), () => undefined);
  }
}
