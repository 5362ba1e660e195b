/**
 * Keep trying to reach a peer until it answers or `timeoutMs` has passed,
 * waiting between attempts as lib/comm/reconnect-backoff.ts says. Used by
 * workers, nannies and clients when the scheduler goes away (and when it is
 * not up yet at start).
 */
import { DistributedError, TimeoutError } from '../errors.js';
import { backoffPolicy, nextAttemptDelay, type BackoffPolicy } from './reconnect-backoff.js';

export interface ReconnectOptions {
  /** Give up after this many milliseconds from the first attempt. */
  timeoutMs: number;
  backoff?: Partial<BackoffPolicy>;
  /** Called after each failed attempt, before waiting (n counts from 1). */
  onRetry?: (attempt: number, error: unknown, delayMs: number) => void;
  /** True once the caller no longer wants a connection (closing): stops at once. */
  cancelled?: () => boolean;
  /** False for failures that another attempt cannot fix (a refusal): they end the wait at once. */
  retryable?: (error: unknown) => boolean;
  /** Do not keep the process alive while waiting (default false: a program awaiting a result waits for the reconnection). */
  unref?: boolean | (() => boolean);
}

export class ReconnectCancelled extends DistributedError {
  override name = 'ReconnectCancelled';
}

/**
 * Resolves with the first successful `attempt(remainingMs)`; rejects with a
 * TimeoutError naming the last failure once the time is up, or with
 * ReconnectCancelled when `cancelled()` turns true.
 */
export async function reconnectWithin<T>(attempt: (remainingMs: number) => Promise<T>, options: ReconnectOptions): Promise<T> {
  const policy = backoffPolicy(options.backoff);
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  for (let n = 1; ; n++) {
    if (options.cancelled?.() === true) throw new ReconnectCancelled('reconnection abandoned: closing');
    let failure: unknown;
    try {
      return await attempt(Math.max(1, deadline - Date.now()));
    } catch (error) {
      failure = error;
    }
    if (options.cancelled?.() === true) throw new ReconnectCancelled('reconnection abandoned: closing');
    if (options.retryable?.(failure) === false) throw failure;
    const delay = nextAttemptDelay(n, Date.now(), deadline, policy);
    if (delay === undefined) {
      const why = failure instanceof Error ? failure.message : String(failure);
      throw new TimeoutError(`gave up after ${n} attempt(s) in ${Date.now() - started} ms: ${why}`, { cause: failure });
    }
    options.onRetry?.(n, failure, delay);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delay);
      const unref = typeof options.unref === 'function' ? options.unref() : options.unref === true;
      if (unref) timer.unref();
    });
  }
}
