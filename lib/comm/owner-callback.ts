/**
 * Callbacks a comm's owner registers (onClose, onWriteError) run through here:
 * one that throws is logged and never breaks the transport that called it.
 */
import type { Logger } from 'pino';

export function invokeOwnerCallback<A extends unknown[]>(
  log: Logger,
  what: string,
  callback: ((...args: A) => void) | undefined,
  ...args: A
): void {
  if (callback === undefined) return;
  try {
    callback(...args);
  } catch (error) {
    log.error({ err: error }, `${what} threw`);
  }
}
