/** Cluster-wide event: a flag every client and task can set, clear and wait for. */
import type { EventWaitMsg } from '../protocol/messages.js';
import { PrimitiveHandle, type PrimitiveOptions, type TimeoutOption, timeoutMs } from './primitive-handle.js';

/**
 * A cluster-wide event: a flag every client and task can set, clear and wait for.
 *
 * @example
 * ```ts
 * const ready = new Event('data-ready');
 * await ready.set();                                  // elsewhere: await new Event('data-ready').wait()
 * ```
 */
export class Event extends PrimitiveHandle {
  constructor(name?: string, options: PrimitiveOptions = {}) {
    super('event', name, options);
  }

  /** Sets the flag and wakes every waiter. */
  async set(): Promise<void> {
    await this.call({ op: 'event_set', name: this.name });
  }

  async clear(): Promise<void> {
    await this.call({ op: 'event_clear', name: this.name });
  }

  async isSet(): Promise<boolean> {
    return this.call<boolean>({ op: 'event_is_set', name: this.name });
  }

  /** Resolves true when the flag is set, false if `timeout` passed first. */
  async wait(options: TimeoutOption = {}): Promise<boolean> {
    const msg: EventWaitMsg = { op: 'event_wait', name: this.name, holder: this.client.id };
    const timeout = timeoutMs(options);
    if (timeout !== undefined) msg.timeout = timeout;
    return this.call<boolean>(msg);
  }
}
